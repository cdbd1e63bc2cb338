"""The page at ``/`` in headless Chromium (selenium) against the real service: it shows what the API answers."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import post_clip

pytestmark = pytest.mark.chromium

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The README's picture of the page; rewritten by the screenshot test when SYNTHCHECK_UPDATE_DOCS=1.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "guard_page.png"
#: Longest wait for a verdict (a check takes a few seconds on this machine).
VERDICT_WAIT_S = 60


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for the module, with a fake microphone that always grants permission."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs /usr/bin/chromium and /usr/bin/chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1100, 900)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def _by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _open(driver, url: str) -> None:
    """Load the page and wait for the detector list."""
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.getElementById('detector').options.length") > 0)


def _outcome(driver) -> str:
    """Wait for the page to show a verdict or an error; which one."""
    return _wait(driver, lambda d: ("verdict" if _by_id(d, "result").is_displayed()
                                    else "error" if _by_id(d, "error").is_displayed() else False), VERDICT_WAIT_S)


def _check(driver, path: Path, detector: str | None = None) -> str:
    """Choose ``detector``, upload ``path`` through the file input and press Check; the outcome."""
    from selenium.webdriver.support.ui import Select

    if detector:
        Select(_by_id(driver, "detector")).select_by_value(detector)
    _by_id(driver, "file").send_keys(str(path))
    _by_id(driver, "check").click()
    return _outcome(driver)


def test_the_page_lists_the_detectors_of_the_api(browser, service) -> None:
    from selenium.webdriver.support.ui import Select

    _open(browser, service)
    listing = httpx.get(f"{service}/v1/detectors").json()
    select = Select(_by_id(browser, "detector"))
    assert browser.title == "synthcheck guard"
    assert [o.get_attribute("value") for o in select.options] == [d["name"] for d in listing["detectors"]]
    assert select.first_selected_option.get_attribute("value") == listing["default"]
    default = next(d for d in listing["detectors"] if d["name"] == listing["default"])
    assert _by_id(browser, "detector-description").text == default["description"]
    assert not _by_id(browser, "error").is_displayed() and not _by_id(browser, "result").is_displayed()


def test_an_upload_shows_the_verdict_the_api_gives(browser, service, clips) -> None:
    from selenium.webdriver.common.by import By

    expected = post_clip(service, clips["human.wav"]).json()
    _open(browser, service)
    assert _check(browser, clips["human.wav"]) == "verdict"
    verdict = _by_id(browser, "verdict")
    assert verdict.get_attribute("data-consistent") == str(expected["consistent"]).lower()
    assert verdict.text == ("consistent" if expected["consistent"] else "INCONSISTENT — possibly adversarial")
    assert _by_id(browser, "transcript").text == expected["transcript"]
    assert _by_id(browser, "score").text.startswith(f"{expected['score']:.3f} (threshold {expected['threshold']:.3f}")
    shown = {row.get_attribute("data-member"): [row.find_element(By.CLASS_NAME, c).text
                                               for c in ("score", "threshold", "result")]
             for row in _by_id(browser, "members").find_elements(By.TAG_NAME, "tr")}
    assert shown == {name: [f"{m['score']:.3f}", f"{m['threshold']:.3f}", "pass" if m["consistent"] else "fail"]
                     for name, m in expected["details"]["members"].items()}
    assert _by_id(browser, "input-audio").get_attribute("src").startswith("blob:")
    assert not _by_id(browser, "resynthesis").is_displayed()  # likelihood+align renders no re-synthesis


def test_the_paper_detector_plays_its_resynthesis(browser, service, clips) -> None:
    _open(browser, service)
    assert _check(browser, clips["tts.flac"], detector="paper") == "verdict"
    player = _by_id(browser, "resynthesis-audio")
    assert _by_id(browser, "resynthesis").is_displayed() and player.get_attribute("src").startswith(("blob:", "data:"))
    # the WAV decodes: the player learns its duration (the clip is a few seconds long)
    _wait(browser, lambda d: d.execute_script("return arguments[0].readyState", player) >= 1)
    assert 1 < browser.execute_script("return arguments[0].duration", player) < 30
    assert _by_id(browser, "members").find_element("css selector", "tr").get_attribute("data-member") == "paper"


def test_a_hostile_transcript_is_shown_as_text(browser, service) -> None:
    hostile = '<img src=x onerror="window.pwned=1">'
    member = '<b onclick="window.pwned=1">m</b>'
    _open(browser, service)
    browser.execute_script("""window.synthcheckPage.renderVerdict({
        transcript: arguments[0], score: 0.2, threshold: 1.0, consistent: false, recognizer: '<i>r</i>',
        detector: '<script>window.pwned=1</script>', reason: arguments[0], timings: {total: 1.5},
        details: {decisive_member: arguments[1], members: {[arguments[1]]: {score: 0.1, threshold: 0.5,
                  consistent: false}, [arguments[0]]: {score: 0.9, threshold: 0.5, consistent: true}}}})""",
                           hostile, member)
    time.sleep(0.5)  # an injected <img> would have fired its onerror by now
    assert _by_id(browser, "transcript").text == hostile and _by_id(browser, "reason").text == hostile
    assert _by_id(browser, "verdict").text == "INCONSISTENT — possibly adversarial"
    rows = browser.execute_script("return [...document.querySelectorAll('#members tr')].map(r => r.dataset.member)")
    assert rows == [member, hostile]
    assert browser.execute_script("return document.querySelectorAll('img, b, i, #result script').length") == 0
    assert browser.execute_script("return typeof window.pwned") == "undefined"


def test_a_bad_upload_shows_the_api_error(browser, service, clips) -> None:
    expected = post_clip(service, clips["notes.txt"])
    assert expected.status_code == 415
    _open(browser, service)
    assert _check(browser, clips["notes.txt"]) == "error"
    assert _by_id(browser, "error").text == f"HTTP 415: {expected.json()['error']}"
    assert not _by_id(browser, "check").get_attribute("disabled")  # not left busy


def test_a_recording_from_the_microphone_is_checked(browser, service) -> None:
    served = httpx.get(f"{service}/health").json()["queue"]["served"]
    _open(browser, service)
    record = _by_id(browser, "record")
    record.click()
    _wait(browser, lambda d: record.text == "Stop")
    time.sleep(2)
    record.click()
    outcome = _outcome(browser)
    # the service ran a check of the upload, and the page shows its verdict or its one-line error
    assert httpx.get(f"{service}/health").json()["queue"]["served"] == served + 1
    if outcome == "verdict":
        assert _by_id(browser, "verdict").text and _by_id(browser, "input-audio").get_attribute("src")
    else:
        assert _by_id(browser, "error").text.startswith("HTTP 4")
    assert record.text == "Record"


def test_a_screenshot_of_a_verdict(browser, service, clips, tmp_path) -> None:
    _open(browser, service)
    assert _check(browser, clips["human.wav"]) == "verdict"
    screenshot = tmp_path / "guard_page.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    if os.environ.get("SYNTHCHECK_UPDATE_DOCS") == "1":
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
