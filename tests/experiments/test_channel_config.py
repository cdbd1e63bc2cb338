"""The experiment's channel choice: config validation and hash, the stage-1 wiring, ``reproduce --channel``."""

from __future__ import annotations

import numpy as np
import pytest

from synthcheck.audio.channel import RoomChannel
from synthcheck.audio.io import quantize_16bit
from synthcheck.cli import main
from synthcheck.errors import BadInputError
from synthcheck.experiments.config import LATER_FIELDS, ExperimentConfig

#: The default and ``--quick`` hashes measured before the ``channel`` field existed.
DEFAULT_HASH = "01403917aa7819ad"
QUICK_HASH = "2552503df83a738f"


def test_channel_is_validated_and_hashed_only_when_not_the_default() -> None:
    assert "channel" in LATER_FIELDS
    assert ExperimentConfig().channel == "awgn"
    assert ExperimentConfig(precision="fp32").config_hash() == DEFAULT_HASH
    assert ExperimentConfig.quick(precision="fp32").config_hash() == QUICK_HASH
    room = ExperimentConfig.from_dict({"channel": "room"})
    assert room.channel == "room" and room.to_dict()["channel"] == "room"
    assert room.config_hash() != DEFAULT_HASH
    assert ExperimentConfig.from_dict(room.to_dict()) == room
    with pytest.raises(BadInputError, match="unknown channel 'nope'; choose one of: awgn, room, none"):
        ExperimentConfig(channel="nope")


def test_stage_one_passes_the_item_through_the_configured_channel() -> None:
    from synthcheck.experiments.pipeline import CleanTask, run_clean_item

    config = ExperimentConfig(sentences=("it was the best of times",), channel="room", snr_dbs=(20.0,),
                              recognizer="whisper-tiny.en", detectors=("paper",))
    (spec,) = config.items()
    output = run_clean_item(CleanTask(config, spec))
    x = output.audio["clean"]
    room = RoomChannel(snr_db=20.0, attenuation=config.attenuation)
    np.testing.assert_array_equal(output.audio["channel"], quantize_16bit(room.apply(x, config.item_rng(spec.key))))
    assert output.result.transcript and output.result.channel["channels"][0]["type"] == "room"


def test_unknown_channel_is_a_one_line_error(tmp_path, capsys) -> None:
    assert main(["reproduce", "--channel", "nope", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown channel 'nope'" in err and "awgn, room, none" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
