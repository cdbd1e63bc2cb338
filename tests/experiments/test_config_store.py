"""Config serialisation/hashing and the SQLite results store (real database, real files)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from experiments.records import clean_result

from synthcheck.errors import BadInputError
from synthcheck.experiments.config import ExperimentConfig, read_sentences_file
from synthcheck.experiments.store import DB_NAME, ConfigMismatchError, ResultsStore

SENTENCES = ("it was the best of times", "it was the worst of times")


def small_config(**overrides) -> ExperimentConfig:
    return ExperimentConfig(sentences=SENTENCES, **overrides)


def test_config_round_trips_through_dict_json_and_toml(tmp_path):
    config = small_config(snr_dbs=(20.0, 28.0), voices=("en-US", "en-GB"), seed=7)
    assert ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    toml = tmp_path / "exp.toml"
    toml.write_text('sentences = ["it was the best of times", "it was the worst of times"]\n'
                    'snr_dbs = [20, 28]\nvoices = ["en-US", "en-GB"]\nseed = 7\n')
    assert ExperimentConfig.from_file(toml) == config
    assert ExperimentConfig.from_file(toml).config_hash() == config.config_hash()


def test_config_hash_changes_with_any_setting_and_items_cover_the_grid():
    config = small_config(snr_dbs=(20.0, 28.0), voices=("en-US", "en-GB"))
    assert config.config_hash() != config.with_overrides(threshold=0.5).config_hash()
    assert config.config_hash() == config.with_overrides(threshold=None).config_hash()
    items = config.items()
    assert len(items) == 8 and len({i.key for i in items}) == 8
    assert {i.key.split("/")[0] for i in items} == {"en-US@20dB", "en-US@28dB", "en-GB@20dB", "en-GB@28dB"}
    attacked = config.with_overrides(attack_sentences=(1,), attacks=("targeted", "small-edit"))
    assert [i.index for i in attacked.attacked_items()] == [1, 1, 1, 1]
    assert len(attacked.items()) == 8, "every attack kind attacks the same items"


def test_item_seeds_depend_on_key_and_seed_not_on_order():
    config = small_config()
    a, b = (item.key for item in config.items())
    assert config.item_seed(a) != config.item_seed(b)
    assert config.item_seed(a) != config.with_overrides(seed=1).item_seed(a)
    draw = config.item_rng(a).standard_normal(4)
    np.testing.assert_array_equal(draw, config.item_rng(a).standard_normal(4))


@pytest.mark.parametrize(
    "content, message",
    [('threshold = 1.5\n', "threshold"), ('colour = "red"\n', "unknown key"), ('sentences = [""]\n', "empty sentence"),
     ("snr_dbs = [\n", "not a valid")],
)
def test_bad_config_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(BadInputError, match=message) as info:
        ExperimentConfig.from_file(path)
    assert "\n" not in str(info.value)


def test_sentences_file_skips_blank_and_comment_lines(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("# clauses\nit was the age of wisdom\n\n  it was the age of foolishness  \n")
    assert read_sentences_file(path) == ("it was the age of wisdom", "it was the age of foolishness")
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    with pytest.raises(BadInputError, match="no sentences"):
        read_sentences_file(tmp_path / "empty.txt")


def test_store_commits_rows_and_audio_and_resumes(tmp_path):
    config = small_config()
    run = tmp_path / "run"
    key0, key1 = (i.key for i in config.items())
    tone = (0.3 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    with ResultsStore.open(run, config, {"python": "3"}) as store:
        assert store.pending("clean", [key0, key1]) == [key0, key1]
        store.mark_started("clean", [key0, key1])
        store.commit("clean", key0, clean_result(0.9), {"channel": tone}, elapsed=1.5)
    with sqlite3.connect(run / DB_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with ResultsStore.open(run, config, {"python": "3"}) as store:
        assert store.pending("clean", [key0, key1]) == [key1]
        records = store.records()
        assert [r.spec.key for r in records] == [key0, key1]
        assert records[0].clean.score == 0.9 and records[1].clean is None
        assert records[0].attempts == {"clean": 1} and records[1].attempts == {"clean": 1}
        stored = store.read_array(records[0].clean.audio["channel"])
        np.testing.assert_allclose(stored, tone, atol=1 / 32768)
        assert store.wall_seconds() == pytest.approx(1.5)
        assert store.config() == config and store.versions() == {"python": "3"}
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


def test_store_refuses_other_config_unless_new_or_force(tmp_path):
    run = tmp_path / "run"
    config = small_config()
    with ResultsStore.open(run, config, {}) as store:
        store.commit("clean", config.items()[0].key, clean_result(0.5), {})
    other = config.with_overrides(snr_dbs=(20.0,))
    with pytest.raises(ConfigMismatchError, match="--new") as info:
        ResultsStore.open(run, other, {})
    assert "\n" not in str(info.value)
    with ResultsStore.open(run, other, {}, force=True) as store:
        assert store.config() == other
        assert any(r.clean is not None for r in store.records()), "--force keeps finished items"
        assert json.loads(store.meta("config_history"))[0]["snr_dbs"] == [28.0]
    with ResultsStore.open(run, other, {}, new=True) as store:
        assert all(r.clean is None for r in store.records()), "--new starts over"


def test_reading_a_directory_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="no results.sqlite"):
        ResultsStore.read(tmp_path)


def test_new_removes_only_the_runs_own_files(tmp_path):
    config = small_config()
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    with ResultsStore.open(tmp_path, config, {}) as store:
        rel = store.write_array(config.items()[0].key, "clean", np.full(160, 0.1, np.float32))
    (tmp_path / "report.html").write_text("old")
    ResultsStore.open(tmp_path, config, {}, new=True).close()
    assert keep.read_text() == "mine"
    assert not (tmp_path / rel).exists() and not (tmp_path / "report.html").exists()
