"""Bad input to the attacks: one clear BadInputError, and via the CLI one line on stderr with exit status 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthcheck.asr import get_recognizer
from synthcheck.attacks import TargetedAttack, TargetedAttackConfig, UntargetedAttackConfig
from synthcheck.attacks.adaptive import AdaptiveTargetedAttack
from synthcheck.audio.io import save_wav
from synthcheck.cli import main
from synthcheck.detect import build_detector
from synthcheck.errors import BadInputError

LONG_TARGET = " ".join(["word"] * 500)


def test_library_rejects_bad_input(tiny, hello):
    attack = TargetedAttack(tiny, TargetedAttackConfig(max_steps=1))
    with pytest.raises(BadInputError, match="empty"):
        attack.run([hello], "   ")
    with pytest.raises(BadInputError, match="longer than"):
        attack.run([hello], LONG_TARGET)
    with pytest.raises(BadInputError, match="too short"):
        attack.run([hello[:800]], "open the door")
    with pytest.raises(BadInputError, match="silent"):
        attack.run([np.zeros(16000, dtype=np.float32)], "open the door")
    with pytest.raises(BadInputError, match="2 target texts"):
        attack.run([hello], ["open", "close"])
    with pytest.raises(BadInputError, match="no target"):
        attack.run([hello], None)
    with pytest.raises(BadInputError, match="TargetedAttack needs gradients .* check transfer to 'pocketsphinx'"):
        TargetedAttack(get_recognizer("pocketsphinx"), TargetedAttackConfig())
    with pytest.raises(BadInputError, match="needs a differentiable detector; align has none"):
        AdaptiveTargetedAttack(tiny, build_detector(tiny, "align"))


@pytest.mark.parametrize(
    "settings",
    [dict(shrink=1.5), dict(learning_rate=0), dict(initial_bound=0), dict(check_every=0), dict(max_steps=-1)],
)
def test_config_rejects_nonsense(settings):
    with pytest.raises(BadInputError):
        TargetedAttackConfig(**settings)
    with pytest.raises(BadInputError):
        UntargetedAttackConfig(**settings)


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
