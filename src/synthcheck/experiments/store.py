"""Resumable results store: one SQLite database (WAL) plus audio files per run directory.

Layout of ``runs/<name>/``::

    results.sqlite        meta (config, hash, versions, wall time, schema), one row per item and one per
                          finished (item, stage): stage ``clean`` or an attack kind
    audio/<item key>/     clean.wav, channel.wav, clean_resynth.wav, adversarial.wav, adversarial_resynth.wav
                          (an image run: arrays/<item key>/*.npy; see :mod:`synthcheck.experiments.domains`)
    report.html, *.png    written by :mod:`synthcheck.report`
    checkpoints/          attack checkpoints of unfinished batches (:mod:`synthcheck.attacks.checkpoint`)
    run.lock              held by the one process writing the run (:mod:`synthcheck.experiments.lock`)

Stage results are the typed dataclasses of :mod:`synthcheck.experiments.results` (an image run's: of
:mod:`synthcheck.images.results`; the meta's ``domain`` says which), stored as their ``to_dict`` JSON.
Every stage of an item is committed in its own transaction, and the files a row references are written atomically (temp file, fsync, rename) *before* that transaction, so a process killed at any point
leaves only whole files and whole rows. Attempt counters record how often a stage was started; a finished
stage is never started again. A write that fails (no space, read-only place) rolls its transaction back and
raises :class:`~synthcheck.errors.StorageError`: the store stays as it was before that write, and resumable.
"""

from __future__ import annotations

import io
import json
import logging
import re
import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from synthcheck.audio.io import SAMPLE_RATE, int16_from_float
from synthcheck.cache import atomic_write_bytes
from synthcheck.errors import BadInputError, storage_error
from synthcheck.experiments.config import ExperimentConfig, ItemSpec
from synthcheck.experiments.domains import StoreCodec, store_codec
from synthcheck.experiments.results import ItemRecord, StageResult

log = logging.getLogger(__name__)

DB_NAME = "results.sqlite"
AUDIO_DIR = "audio"
#: Where an image run keeps its arrays (``.npy``).
ARRAY_DIR = "arrays"
CHECKPOINT_DIR = "checkpoints"
#: Files the report writes into a run directory (removed by ``--new``).
REPORT_FILES = ("report.html", "scores_by_sentence.png", "roc.png", "score_histogram.png")
#: The stages a run can be asked for, in run order: ``clean``, then every configured attack kind (``attack``).
PIPELINE_STAGES = ("clean", "attack")
#: The stage a clean result is stored under (attack outcomes are stored under their attack kind's name).
CLEAN_STAGE = "clean"
#: Version of the database layout; 1 (one row per item with clean/attack columns) is migrated on open.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    sentence TEXT NOT NULL,
    voice TEXT NOT NULL,
    snr_db REAL NOT NULL,
    dataset TEXT NOT NULL DEFAULT 'tts'
);
CREATE TABLE IF NOT EXISTS stages (
    key TEXT NOT NULL REFERENCES items(key),
    stage TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    done_at REAL,
    PRIMARY KEY (key, stage)
);
"""


class ConfigMismatchError(BadInputError):
    """The run directory holds results of a different configuration."""


class ResultsStore:
    """The SQLite database and audio files of one run directory.

    Use :meth:`open` to create or resume a run; :meth:`read` to open an existing one for reporting.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.db_path = self.run_dir / DB_NAME
        self._codec: StoreCodec | None = None
        self._conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30.0)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            schema_1 = "clean_json" in self._columns()
            if not schema_1:
                self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:  # not SQLite at all, or a truncated / overwritten file
            self._conn.close()
            if type(exc) is not sqlite3.DatabaseError and "malformed" not in str(exc):
                raise  # OperationalError & co.: a real I/O or locking problem, not a damaged file
            raise BadInputError(
                f"{self.db_path}: not a readable results database ({exc}); it is truncated or overwritten: "
                "restore it, or start over with `synthcheck reproduce --new` (or another --run-dir)"
            ) from None
        if schema_1:
            self._migrate_schema_1()

    # --- opening ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        config: ExperimentConfig,
        versions: Mapping[str, str],
        *,
        new: bool = False,
        force: bool = False,
    ) -> ResultsStore:
        """Create or resume the run in ``run_dir`` for ``config``.

        Parameters
        ----------
        new
            Wipe an existing run directory and start over.
        force
            Resume even if the stored config differs: finished items are kept, the new config is stored
            (the old one is appended to ``config_history``).

        Raises
        ------
        ConfigMismatchError
            The directory holds a run of another config and neither ``new`` nor ``force`` is set.
        """
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise BadInputError(f"{run_dir}: exists and is not a directory; choose another --run-dir")
        if new:
            _wipe(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir)
        stored_hash = store.meta("config_hash")
        if stored_hash is None:
            store._start(config, versions)
        elif (store.meta("domain") or "speech") != config.domain:
            store.close()
            raise ConfigMismatchError(f"{run_dir} holds a {store.meta('domain') or 'speech'} run, not a "
                                      f"{config.domain} one; choose another --run-dir (or --new to start over)")
        elif stored_hash != config.config_hash():
            if not force:
                store.close()
                raise ConfigMismatchError(
                    f"{run_dir} holds a run with a different config (hash {stored_hash}, now "
                    f"{config.config_hash()}); use --new to start over, --force to continue, or another --run-dir"
                )
            store._replace_config(config, versions)
        store.register_items(config.items())
        return store

    @classmethod
    def read(cls, run_dir: str | Path) -> ResultsStore:
        """Open an existing run directory (for reports); refuse a directory without results."""
        run_dir = Path(run_dir)
        if not (run_dir / DB_NAME).is_file():
            raise BadInputError(f"{run_dir}: no {DB_NAME} here; run `synthcheck reproduce --run-dir {run_dir}` first")
        return cls(run_dir)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- meta ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """A raw meta value, or ``None``."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @property
    def codec(self) -> StoreCodec:
        """The domain's codec (:mod:`synthcheck.experiments.domains`): ``speech`` for runs that record none."""
        if self._codec is None:
            self._codec = store_codec(self.meta("domain") or "speech")
        return self._codec

    def config(self) -> ExperimentConfig:
        """The stored configuration (an image run's is an ``ImageExperimentConfig``)."""
        return self.codec.config_type.from_stored(json.loads(self._require_meta("config")))

    def versions(self) -> dict[str, str]:
        """Package versions recorded when the run started (or was last forced)."""
        return json.loads(self._require_meta("versions"))

    def wall_seconds(self) -> float:
        """Compute time spent on this run, summed over all sessions (up to the last commit)."""
        return float(self.meta("wall_seconds") or 0.0)

    def _require_meta(self, key: str) -> str:
        value = self.meta(key)
        if value is None:
            raise BadInputError(f"{self.run_dir}: the results database has no {key!r}; the run was never started")
        return value

    def _start(self, config: ExperimentConfig, versions: Mapping[str, str]) -> None:
        with self._transaction() as cur:
            _set_meta(cur, "domain", config.domain)
            _set_meta(cur, "config", json.dumps(config.to_dict(), sort_keys=True))
            _set_meta(cur, "config_hash", config.config_hash())
            _set_meta(cur, "versions", json.dumps(dict(versions), sort_keys=True))
            _set_meta(cur, "created_at", repr(time.time()))
            _set_meta(cur, "wall_seconds", "0.0")
            _set_meta(cur, "schema_version", str(SCHEMA_VERSION))

    def _replace_config(self, config: ExperimentConfig, versions: Mapping[str, str]) -> None:
        history = json.loads(self.meta("config_history") or "[]")
        history.append(json.loads(self._require_meta("config")))
        log.warning("%s: continuing with a changed config (--force); finished items are kept", self.run_dir)
        with self._transaction() as cur:
            _set_meta(cur, "config_history", json.dumps(history, sort_keys=True))
            _set_meta(cur, "config", json.dumps(config.to_dict(), sort_keys=True))
            _set_meta(cur, "config_hash", config.config_hash())
            _set_meta(cur, "versions", json.dumps(dict(versions), sort_keys=True))

    # --- items ---------------------------------------------------------------------------------
    def register_items(self, specs: Iterable[ItemSpec]) -> None:
        """Insert rows for items not yet known (existing rows are left alone)."""
        with self._transaction() as cur:
            cur.executemany(
                "INSERT OR IGNORE INTO items (key, idx, sentence, voice, snr_db, dataset) VALUES (?, ?, ?, ?, ?, ?)",
                [(s.key, s.index, s.sentence, s.voice, s.snr_db, s.dataset) for s in specs],
            )

    def _check_stage(self, stage: str) -> str:
        """``stage`` if it is ``clean`` or one of the domain's attack kinds, else a :class:`BadInputError`."""
        if stage != CLEAN_STAGE and not self.codec.is_attack_stage(stage):
            raise BadInputError(f"unknown stage {stage!r}; stages are {CLEAN_STAGE} and the attack kinds "
                                f"({self.codec.attack_stage_hint})")
        return stage

    def pending(self, stage: str, keys: Iterable[str]) -> list[str]:
        """The keys (in the given order) whose ``stage`` (``clean`` or an attack kind) is not finished."""
        done = {k for (k,) in self._conn.execute(
            "SELECT key FROM stages WHERE stage = ? AND done_at IS NOT NULL", (self._check_stage(stage),))}
        return [k for k in keys if k not in done]

    def mark_started(self, stage: str, keys: Iterable[str]) -> None:
        """Count one attempt of ``stage`` for each key (called just before the work starts)."""
        with self._transaction() as cur:
            cur.executemany(
                "INSERT INTO stages (key, stage, attempts) VALUES (?, ?, 1) "
                "ON CONFLICT(key, stage) DO UPDATE SET attempts = attempts + 1",
                [(k, self._check_stage(stage)) for k in keys],
            )

    def commit(self, stage: str, key: str, result: StageResult, audio: Mapping[str, np.ndarray],
               elapsed: float = 0.0) -> None:
        """Write an item's audio files atomically, then commit its ``stage`` result in one transaction.

        Parameters
        ----------
        stage
            ``clean`` or an attack kind.
        result
            The stage result; the relative paths of the written audio replace its ``audio``.
        audio
            Name -> array (speech: float audio saved as 16-bit WAV ``audio/<key>/<name>.wav``; images: ``.npy``
            under ``arrays/``); for attack kinds other than the paper's ``targeted`` the file name is prefixed
            with the kind, ``<kind>-<name>.wav``.
        elapsed
            Compute seconds to add to the run's wall time.
        """
        self._check_stage(stage)
        if self._conn.execute("SELECT 1 FROM items WHERE key = ?", (key,)).fetchone() is None:
            raise BadInputError(f"{self.run_dir}: item {key!r} is not registered in this run")
        prefix = "" if stage in (CLEAN_STAGE, "targeted") else f"{stage}-"
        paths = {name: self.write_array(key, prefix + name, samples) for name, samples in audio.items()}
        payload = json.dumps(replace(result, audio=paths).to_dict(), sort_keys=True)
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO stages (key, stage, result, done_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key, stage) DO UPDATE SET result = excluded.result, done_at = excluded.done_at",
                (key, stage, payload, time.time()),
            )
            cur.execute(
                "UPDATE meta SET value = CAST(CAST(value AS REAL) + ? AS TEXT) WHERE key = 'wall_seconds'",
                (float(elapsed),),
            )

    def records(self) -> list[ItemRecord]:
        """All items with their typed stage results, in registration order."""
        detectors, codec = self.config().detectors, self.codec
        stages: dict[str, list[tuple[str, int, str | None]]] = {}
        for key, stage, attempts, result in self._conn.execute(
                "SELECT key, stage, attempts, result FROM stages ORDER BY rowid"):
            stages.setdefault(key, []).append((stage, attempts, result))
        records = []
        for key, idx, sentence, voice, snr_db, dataset in self._conn.execute(
                "SELECT key, idx, sentence, voice, snr_db, dataset FROM items ORDER BY rowid"):
            rows = stages.get(key, [])
            done = {stage: json.loads(result) for stage, _, result in rows if result is not None}
            clean = done.pop(CLEAN_STAGE, None)
            records.append(ItemRecord(
                spec=ItemSpec(key=key, index=idx, sentence=sentence, voice=voice, snr_db=snr_db, dataset=dataset),
                clean=None if clean is None else codec.clean_type.from_dict(clean, detectors),
                attacks={stage: codec.attack_type.from_dict(data, detectors) for stage, data in done.items()},
                attempts={stage: attempts for stage, attempts, _ in rows},
            ))
        return records

    # --- files --------------------------------------------------------------------------------
    def write_array(self, key: str, name: str, array: np.ndarray) -> str:
        """Atomically write one array in the domain's format (speech: 16-bit WAV ``audio/<key>/<name>.wav``;
        images: ``arrays/<key>/<name>.npy``); return its path relative to the run dir."""
        folder = AUDIO_DIR if self.codec.domain == "speech" else ARRAY_DIR
        rel = Path(folder, *(_safe_name(part) for part in key.split("/")), f"{_safe_name(name)}{self.codec.suffix}")
        atomic_write_bytes(self.run_dir / rel, self.codec.encode(array))  # a failed write is a StorageError
        return rel.as_posix()

    def file_path(self, rel: str) -> Path:
        """Absolute path of a file referenced by a stored result."""
        return self.run_dir / rel

    def read_array(self, rel: str) -> np.ndarray:
        """A stored array (audio: float32 samples, exactly the 16-bit values that were written)."""
        return _read_stored(self.run_dir, rel, self.codec.decode)

    # --- internals ----------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn, self.db_path)

    def _columns(self) -> set[str]:
        return {row[1] for row in self._conn.execute("PRAGMA table_info(items)")}

    def _migrate_schema_1(self) -> None:
        """Move a schema-1 database (one row per item with ``clean_*``/``attack_*`` columns, synthcheck before
        2026-12) into the (item, stage) layout, in one transaction; item keys and results are kept.

        Raises
        ------
        BadInputError
            The run attacked with kinds other than ``targeted``: schema 1 keyed such items per attack kind
            (each with its own clean stage), which the new layout does not represent.
        """
        columns = self._columns()
        attack = "attack" if "attack" in columns else "'targeted'"
        dataset = "dataset" if "dataset" in columns else "'tts'"
        kinds = sorted({k for (k,) in self._conn.execute(f"SELECT DISTINCT {attack} FROM items")} - {"targeted"})
        if kinds:
            self._conn.close()
            raise BadInputError(
                f"{self.db_path}: a run stored by synthcheck's results schema 1 (before 2026-12) with attack kinds "
                f"{', '.join(kinds)}, whose items were keyed per kind; rerun it with --new"
            )
        log.info("%s: migrating the results database from schema 1 to %d", self.db_path, SCHEMA_VERSION)
        with self._transaction() as cur:
            cur.execute("ALTER TABLE items RENAME TO items_schema_1")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            cur.execute(f"INSERT INTO items (key, idx, sentence, voice, snr_db, dataset) "
                        f"SELECT key, idx, sentence, voice, snr_db, {dataset} FROM items_schema_1 ORDER BY rowid")
            for old, new in (("clean", CLEAN_STAGE), ("attack", "targeted")):
                cur.execute(f"INSERT INTO stages (key, stage, attempts, result, done_at) "
                            f"SELECT key, ?, {old}_attempts, {old}_json, {old}_done_at FROM items_schema_1 "
                            f"WHERE {old}_attempts > 0 OR {old}_json IS NOT NULL ORDER BY rowid", (new,))
            cur.execute("DROP TABLE items_schema_1")
            _set_meta(cur, "schema_version", str(SCHEMA_VERSION))

class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error, a failed ``COMMIT`` included), yielding a cursor.

    A write SQLite refuses (disk full, read-only file or directory, I/O error) becomes a
    :class:`~synthcheck.errors.StorageError` naming the database file.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def __enter__(self) -> sqlite3.Cursor:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._raise_write_failure(exc)
            raise
        return self._conn.cursor()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                self._conn.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                self._rollback()
                self._raise_write_failure(failed)
                raise
        self._rollback()
        self._raise_write_failure(exc)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
                self._conn.execute("ROLLBACK")

    def _raise_write_failure(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith(_WRITE_FAILURES):
            raise storage_error(self._path, exc) from exc


#: SQLite error names (prefixes) of a write that failed for lack of space or permission, or an I/O error.
_WRITE_FAILURES = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def read_stored_audio(run_dir: Path, rel: str) -> np.ndarray:
    """Float32 samples of the audio file ``rel`` (a path a stored result references) of a run directory."""
    return _read_stored(run_dir, rel, read_wav)


def _read_stored(run_dir: Path, rel: str, decode: Callable[[Path], np.ndarray]) -> np.ndarray:
    path = Path(run_dir) / rel
    if not path.is_file():
        raise BadInputError(f"{path}: a file referenced by the results database is missing; rerun with --new")
    return decode(path)


def read_wav(path: Path) -> np.ndarray:
    """Float32 samples of a stored WAV file."""
    samples, _ = sf.read(str(path), dtype="float32")
    return samples


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit PCM WAV file contents of float audio in [-1, 1]."""
    buf = io.BytesIO()
    sf.write(buf, int16_from_float(samples), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _wipe(run_dir: Path) -> None:
    """Delete a run's database, audio and report files (and nothing else in the directory)."""
    if not (run_dir / DB_NAME).exists():
        return
    log.info("wiping the run in %s (--new)", run_dir)
    for suffix in ("", "-wal", "-shm"):
        (run_dir / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(run_dir / AUDIO_DIR, ignore_errors=True)
    shutil.rmtree(run_dir / ARRAY_DIR, ignore_errors=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
    for name in REPORT_FILES:
        (run_dir / name).unlink(missing_ok=True)


def _set_meta(cur: sqlite3.Cursor, key: str, value: str) -> None:
    cur.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value))


def _safe_name(part: str) -> str:
    """``part`` as one path component: other characters become ``_``, and ``.``/``..`` (or any name of dots
    only) cannot climb out of the run directory."""
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", part)
    return "_" if not name.strip(".") else name


__all__ = ["ARRAY_DIR", "AUDIO_DIR", "CHECKPOINT_DIR", "CLEAN_STAGE", "DB_NAME", "PIPELINE_STAGES", "REPORT_FILES",
           "SCHEMA_VERSION", "ConfigMismatchError", "ResultsStore", "read_stored_audio", "read_wav", "wav_bytes"]
