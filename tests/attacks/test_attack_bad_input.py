"""Bad input to the attacks: one clear BadInputError, and via the CLI one line on stderr with exit status 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthcheck.asr import get_recognizer
from synthcheck.attacks import Attack, AttackConfig, AudioDomain, TargetText, WordErrorAbove
from synthcheck.attacks.adaptive import DetectorPenalty
from synthcheck.audio.io import save_wav
from synthcheck.cli import main
from synthcheck.detect import build_detector
from synthcheck.errors import BadInputError

LONG_TARGET = " ".join(["word"] * 500)


def test_library_rejects_bad_input(tiny, hello):
    attack = Attack(tiny, AttackConfig(max_steps=1))
    with pytest.raises(BadInputError, match="targeted attack: the target/reference text is empty"):
        TargetText("   ")
    with pytest.raises(BadInputError, match="untargeted attack: the target/reference text is empty"):
        WordErrorAbove(["fine", ""])
    with pytest.raises(BadInputError, match="longer than"):
        attack.run([hello], TargetText(LONG_TARGET))
    with pytest.raises(BadInputError, match="too short"):
        attack.run([hello[:800]], TargetText("open the door"))
    with pytest.raises(BadInputError, match="silent"):
        attack.run([np.zeros(16000, dtype=np.float32)], TargetText("open the door"))
    with pytest.raises(BadInputError, match="exceed"):
        attack.run([hello * 4], TargetText("open the door"))
    with pytest.raises(BadInputError, match="2 target texts"):
        attack.run([hello], TargetText(["open", "close"]))
    with pytest.raises(BadInputError, match="no target"):
        attack.run([hello], TargetText(None))
    with pytest.raises(BadInputError, match="no utterances"):
        attack.run([], TargetText("open the door"))
    with pytest.raises(BadInputError, match="Attack needs gradients .* check transfer to 'pocketsphinx'"):
        Attack(get_recognizer("pocketsphinx"), AttackConfig())
    with pytest.raises(BadInputError, match="needs a differentiable detector; paper has none"):
        DetectorPenalty(build_detector(tiny, "paper"))
    with pytest.raises(BadInputError, match=r"initial_bound must be in \(0, 32768\]"):
        Attack(tiny, AttackConfig(initial_bound=40000.0))
    with pytest.raises(BadInputError, match="wer_threshold"):
        WordErrorAbove(threshold=-0.1)


@pytest.mark.parametrize(
    "settings",
    [dict(shrink=1.5), dict(learning_rate=0), dict(initial_bound=0), dict(check_every=0), dict(max_steps=-1),
     dict(detector_weight=-1.0), dict(time_budget_s=0), dict(init_noise=-1), dict(norm="l1")],
)
def test_config_rejects_nonsense(settings):
    with pytest.raises(BadInputError):
        AttackConfig(**settings)


def test_config_bound_is_checked_against_the_domain_scale():
    AttackConfig(initial_bound=AudioDomain.scale).check_scale(AudioDomain.scale)
    with pytest.raises(BadInputError, match="initial_bound"):
        AttackConfig(initial_bound=AudioDomain.scale + 1).check_scale(AudioDomain.scale)
    # an L2 ball's radius over a whole item may exceed one sample's full scale
    AttackConfig(norm="l2", initial_bound=AudioDomain.scale * 4).check_scale(AudioDomain.scale)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, hello) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    return {
        "short": save_wav(root / "short.wav", hello[:800]),
        "silent": save_wav(root / "silent.wav", np.zeros(16000, dtype=np.float32)),
    }


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("empty target", ["--target", " "], "empty"),
        ("target too long", ["--target", LONG_TARGET], "longer than"),
        ("audio too short", ["--target", "open the door", "--audio", "short"], "too short"),
        ("silent audio", ["--target", "open the door", "--audio", "silent"], "silent"),
        ("no gradients", ["--target", "open the door", "--asr", "pocketsphinx"], "needs gradients"),
    ],
)
def test_cli_bad_input_exit_2_one_line(case, extra, message, hello_wav, bad_files, tmp_path, capsys, tiny):
    audio = hello_wav
    if "--audio" in extra:
        at = extra.index("--audio")
        audio = bad_files[extra[at + 1]]
        extra = extra[:at] + extra[at + 2 :]
    asr = [] if "--asr" in extra else ["--asr", "whisper-tiny.en"]
    code = main(["attack", str(audio), "-o", str(tmp_path / "out.wav"), "--max-steps", "1", *asr, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, case
    assert len(err.splitlines()) == 1 and message in err and err.startswith("synthcheck: error:"), err
    assert not (tmp_path / "out.wav").exists()
