"""Results carry the versions that made them: packages and the real TTS engines."""

from synthcheck.experiments.config import ExperimentConfig
from synthcheck.experiments.pipeline import collect_versions, software_versions


def test_versions_name_packages_and_each_engine_asked_for() -> None:
    versions = software_versions(["pico2wave:en-US", "flite:slt"])
    assert versions["torch"].startswith("2.13.0") and versions["pocketsphinx"] == "5.1.1"
    assert {"python", "platform", "synthcheck", "numpy", "openai-whisper"} <= set(versions)
    assert len(versions["pico2wave"]) == 64 and "flite" in versions["flite"]  # pico: binary hash; flite: its banner
    assert "espeak-ng" not in versions


def test_a_run_stores_the_versions_of_its_own_engine() -> None:
    versions = collect_versions(ExperimentConfig(tts_engine="espeak-ng", voices=("en-us",)))
    assert "espeak-ng" in versions["espeak-ng"].lower() and "pico2wave" not in versions
