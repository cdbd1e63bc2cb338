"""Sentences and transcripts are attacker-controlled: every TTS engine speaks them literally.

No shell ever sees them (argument lists, never ``shell=True``), a leading '-' never becomes an engine option,
and neither text nor file names made from them become paths; the CLI prints hostile names and text verbatim.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synthcheck.cli import main
from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.store import ResultsStore
from synthcheck.tts import get_synthesizer

TEXTS = (
    "$(touch PWNED) hello",
    "`touch PWNED` hello",
    "hello; touch PWNED; rm -rf PWNED_DIR",
    "hello | tee PWNED && echo > PWNED",
    "--help",
    "-w PWNED.wav hello",
    "-l en-GB hello",
    "../../PWNED/etc/passwd",
)
ENGINES = ("pico2wave", "espeak-ng", "flite")


@pytest.fixture
def spy_subprocess(monkeypatch, tmp_path):
    """Record every ``subprocess.run`` call (the real one still runs) in a fresh cache and working directory."""
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[list[str], dict]] = []
    real = subprocess.run

    def run(args, *rest, **kwargs):
        calls.append((list(args), kwargs))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


@pytest.mark.parametrize("engine", ENGINES)
def test_hostile_text_is_spoken_literally_by_every_engine(engine, spy_subprocess, tmp_path):
    synthesizer = get_synthesizer(engine)
    for text in TEXTS:
        audio = synthesizer.synthesize(text)
        words = synthesizer.synthesize(re.sub(r"[^A-Za-z0-9]+", " ", text))  # the same words, no metacharacters
        assert audio.dtype == np.float32 and np.abs(audio).max() > 0.01, text
        assert audio.size > 0.6 * words.size, f"{engine} did not speak all of {text!r}: part became an option"
    renders = [(args, kw) for args, kw in spy_subprocess if Path(args[0]).name == synthesizer.executable
               and "out.wav" in " ".join(args)]
    assert len(renders) >= len(TEXTS) + 1  # every hostile text rendered (some word-only texts repeat: cached)
    for args, kwargs in renders:
        assert not kwargs.get("shell") and isinstance(args, list)
        if engine == "pico2wave":  # the text is one argument after the end of options
            assert args.index("--") == len(args) - 2
        else:  # espeak-ng and flite read the text from a file
            assert not any(text in args for text in TEXTS)
    assert not list(tmp_path.rglob("PWNED*")), "a shell or an option ran"


def test_hostile_names_and_text_at_the_command_line(tmp_path, monkeypatch, capfd):
    """A hostile text and output name: the WAV is written under exactly that name, printed verbatim."""
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    name = "out [bold]$(touch PWNED);`touch PWNED` && rm -rf x.wav"
    assert main(["synthesize", "$(touch PWNED) [/] hello", "-o", name]) == 0
    err = capfd.readouterr().err
    assert (tmp_path / name).is_file() and f"wrote {name} (" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cache", name])


def test_sentences_never_become_paths(tmp_path):
    config = ExperimentConfig(sentences=("../../../PWNED", "/tmp/PWNED", "a/b\\c", "$(touch PWNED)"))
    run = tmp_path / "run"
    with ResultsStore.open(run, config, {}) as store:
        for spec in config.items():
            assert spec.sentence not in spec.key
            written = (run / store.write_array(spec.key, "clean", np.zeros(160, np.float32))).resolve()
            assert written.is_relative_to((run / "audio").resolve())
    assert not list(tmp_path.parent.rglob("PWNED"))
