"""The batch manifest: one SQLite file under DST that is the single source of truth of a batch run.

``filmrt batch SRC DST`` keeps its job state in ``DST/.filmrt-batch.sqlite`` so that a run that
dies (killed, machine lost, Ctrl-C) resumes where it stopped, files that are done are never
converted twice, and changed sources or settings are redone. Only the *driver* (the process that
runs ``filmrt batch``) writes it; workers, local or on a Ray cluster, return results and never
touch the database. A lock file (``DST/.filmrt-batch.lock``, ``flock``) keeps a second driver off
the same DST (:class:`Lock`).

Tables:

``jobs``: one row per source file, keyed by its path relative to SRC (POSIX separators)
    ``src``/``dst`` absolute paths; ``size``, ``mtime_ns`` and ``content_hash`` identify the
    source (see :func:`fingerprint`); ``settings_hash`` identifies the conversion settings (see
    :func:`settings_hash`); ``status`` is ``pending`` | ``running`` | ``done`` | ``failed``;
    ``attempts`` counts attempts started for the current (source, settings), ``failures`` the
    failed ones (checked against ``--retries``; an attempt cut short by a killed driver is not
    a failure); ``error`` the last failure; timings (epoch seconds) and output facts
    (``frames_in``, ``frames_out``, ``out_size``, ``out_mtime_ns``, ``out_head``: see
    :func:`head_hash`) of the last success.
``attempts``: the history, one row per attempt (``running`` -> ``done`` | ``failed`` |
    ``interrupted``), so "was this file ever converted twice?" has a factual answer.
``meta``: key/value (schema version, last settings).

A job's source is "the same" when its size and content hash match the row; the hash is only
recomputed when size or mtime changed, so a resumed run over thousands of files reads ~2 MiB
per *changed* file and nothing for unchanged ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.options import changes_output
from filmrt.pipeline.batch.options import JobOptions
from filmrt.rates import canonical_spelling

SCHEMA_VERSION = 1
MANIFEST_NAME = ".filmrt-batch.sqlite"
LOCK_NAME = ".filmrt-batch.lock"

#: bytes read from each end of a file for its fingerprint
FINGERPRINT_CHUNK = 1 << 20
FINGERPRINT_KIND = "sha256(size, first 1 MiB, last 1 MiB)"

#: names of older, flat option objects (before the options dataclasses) that changed how, not what,
#: a file was converted. Fields of the dataclasses say it themselves (``opt(output=False)``).
LEGACY_EXECUTION_NAMES = frozenset({"batch", "quiet"})

STATUSES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS jobs (
    rel TEXT PRIMARY KEY,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    content_hash TEXT,
    settings_hash TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker TEXT,
    run_id TEXT,
    queued_at REAL,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    frames_in INTEGER,
    frames_out INTEGER,
    out_size INTEGER,
    out_mtime_ns INTEGER,
    out_head TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rel TEXT NOT NULL,
    run_id TEXT,
    content_hash TEXT,
    settings_hash TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'done', 'failed', 'interrupted')),
    queued_at REAL,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    frames_out INTEGER,
    worker TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS attempts_rel ON attempts (rel);
"""


def fingerprint(path: str | os.PathLike, size: int | None = None) -> str:
    """Fast content hash of a file: sha256 of its size, first MiB and last MiB (hex).

    Reads at most 2 MiB whatever the file size, so scanning a library of large videos stays
    cheap. It catches re-encodes, replacements, truncation and appended data; an edit confined
    to the middle of a file that keeps its size is not seen (touching the file does not matter
    either way: mtime only decides whether the hash is recomputed). Not
    :func:`filmrt.fileio.sha256_file`, which reads the whole file: this is a cheaper identity.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h.update(f"filmrt-fp1:{size}:".encode())
        h.update(f.read(FINGERPRINT_CHUNK))
        if size > FINGERPRINT_CHUNK:
            f.seek(max(FINGERPRINT_CHUNK, size - FINGERPRINT_CHUNK))
            h.update(f.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


#: bytes of an output's start recorded by :func:`head_hash`
HEAD_BYTES = 16 << 10


def head_hash(path: str | os.PathLike, size: int | None = None) -> str:
    """``N:sha256`` of the first N = min(size, 16 KiB) bytes of an output, recorded when it is
    written: a file that still starts with those bytes (cut short by ``head -c``, appended to) is
    provably the one batch wrote, even where the cut lost the container's tags (MP4 keeps them at
    its end)."""
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        n = min(size, HEAD_BYTES)
        return f"{n}:{hashlib.sha256(f.read(n)).hexdigest()}"


def starts_like(path: str | os.PathLike, recorded: str | None) -> bool:
    """True when ``path`` starts with the bytes :func:`head_hash` recorded."""
    if not recorded or ":" not in recorded:
        return False
    n, digest = recorded.split(":", 1)
    try:
        with open(path, "rb") as f:
            data = f.read(int(n))
    except (OSError, ValueError):
        return False
    return len(data) == int(n) and hashlib.sha256(data).hexdigest() == digest


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _leaves(options) -> tuple[dict, dict]:
    """(values, defaults) of a dataclass's settings by field name, nested option objects flattened.

    ``ConvertOptions(runtime=RuntimeOptions(model="blend"))`` gives ``{"model": "blend", ...}``: a
    nested object's fields count as the parent's own (their names are unique in ConvertOptions),
    with the defaults of the parent's default object for that field.
    """
    values: dict = {}
    defaults: dict = {}
    for f in dataclasses.fields(options):
        if not changes_output(f):  # how, not what: another device or thread count redoes nothing
            continue
        value, default = getattr(options, f.name), _field_default(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            sub_values, sub_defaults = _leaves(value)
            if dataclasses.is_dataclass(default) and not isinstance(default, type):
                sub_defaults = _leaves(default)[0]
            values.update(sub_values)
            defaults.update(sub_defaults)
            continue
        values[f.name] = value
        if default is not dataclasses.MISSING:
            defaults[f.name] = default
    return values, defaults


def settings_dict(options: JobOptions | dict) -> dict:
    """The output-relevant settings of a ConvertOptions (or any dataclass / mapping) as a flat dict.

    Only values that differ from the dataclass defaults count, so a filmrt upgrade that adds an
    option (with a default) does not invalidate finished libraries; execution-only fields
    (fields whose :func:`~filmrt.options.opt` metadata says ``output=False``; for a plain mapping the
    :data:`LEGACY_EXECUTION_NAMES`) and None are left out. Nested option objects (runtime, encode)
    are flattened into their fields. A rate factor has one spelling (``x2``). A ``weights`` file
    is identified by path, size and mtime.
    """
    if dataclasses.is_dataclass(options):
        d, defaults = _leaves(options)
    else:
        d, defaults = dict(options), {}
    for values in (d, defaults):
        if "fps" in values:
            values["fps"] = canonical_spelling(values["fps"])
    out = {
        k: v
        for k, v in sorted(d.items())
        if k not in LEGACY_EXECUTION_NAMES and v is not None and not (k in defaults and v == defaults[k])
    }
    w = out.get("weights")
    if w:
        try:
            st = os.stat(w)
            out["weights"] = {"path": str(Path(w).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        except OSError:
            out["weights"] = {"path": str(w)}
    return out


def settings_hash(options: JobOptions | dict) -> str:
    """Short, stable hash of :func:`settings_dict` (canonical JSON)."""
    blob = json.dumps(settings_dict(options), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: prefix of a text value stored as the hex of its bytes: a file name that is not UTF-8
#: (``bad\xff.mp4``: Python holds it with surrogates, which SQLite's UTF-8 text cannot take)
FS_BYTES = "fsbytes:"


def to_db(value):
    """A value as SQLite stores it: text with undecodable file-name bytes as ``fsbytes:<hex>``."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return FS_BYTES + value.encode("utf-8", "surrogateescape").hex()
    return value


def from_db(value):
    """The inverse of :func:`to_db`."""
    if isinstance(value, str) and value.startswith(FS_BYTES):
        try:
            return bytes.fromhex(value[len(FS_BYTES):]).decode("utf-8", "surrogateescape")
        except ValueError:
            return value
    return value


def _decoded(row) -> dict:
    return {k: from_db(row[k]) for k in row.keys()}


class _Connection:
    """sqlite3's connection with every parameter passed through :func:`to_db`."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def execute(self, sql: str, params=()):
        return self.con.execute(sql, tuple(to_db(p) for p in params))

    def __getattr__(self, name):
        return getattr(self.con, name)

    def __enter__(self):
        return self.con.__enter__()

    def __exit__(self, *exc):
        return self.con.__exit__(*exc)


class Manifest:
    """The SQLite job table of one DST. Open with :meth:`open`; only the driver writes.

    File names that are not UTF-8 are kept as the hex of their bytes (:func:`to_db`); every
    method takes and returns them as Python holds them (with surrogates)."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db = _Connection(self.db)
        try:
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                columns = {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}
                if "out_head" not in columns:  # a manifest of an earlier filmrt: the column is added
                    self.db.execute("ALTER TABLE jobs ADD COLUMN out_head TEXT")
                if self.get_meta("schema") is None:
                    self.set_meta("schema", str(SCHEMA_VERSION))
            version = self.get_meta("schema")
        except sqlite3.DatabaseError as e:
            self.db.close()
            if isinstance(e, sqlite3.OperationalError) and not readonly:  # disk full, I/O error, no permission
                raise FilmrtError(f"cannot write the batch manifest {self.path}: {e}") from None
            raise FilmrtError(
                f"{self.path} is not a filmrt batch manifest ({e}); move it away to start over"
            ) from e
        if version is not None and int(version) > SCHEMA_VERSION:
            raise FilmrtError(
                f"{self.path} was written by a newer filmrt (manifest schema {version}); upgrade filmrt"
            )

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get_meta(self, key: str) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:  # read-only open of an empty/older file
            return None
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get(self, rel: str) -> dict | None:
        row = self.db.execute("SELECT * FROM jobs WHERE rel = ?", (rel,)).fetchone()
        return _decoded(row) if row else None

    def rows(self) -> dict[str, dict]:
        return {from_db(r["rel"]): _decoded(r) for r in self.db.execute("SELECT * FROM jobs ORDER BY rel")}

    def history(self, rel: str | None = None) -> list[dict]:
        if rel is None:
            cur = self.db.execute("SELECT * FROM attempts ORDER BY id")
        else:
            cur = self.db.execute("SELECT * FROM attempts WHERE rel = ? ORDER BY id", (rel,))
        return [_decoded(r) for r in cur]

    # ------------------------------------------------------------------ run start
    def reset_interrupted(self) -> list[str]:
        """Jobs left ``running`` by a driver that died go back to ``pending``; returns them.

        Their open attempt rows become ``interrupted``; this is not counted as a failure.
        """
        now = time.time()
        with self.db:
            rels = [from_db(r[0]) for r in self.db.execute("SELECT rel FROM jobs WHERE status = 'running'")]
            self.db.execute("UPDATE jobs SET status = 'pending' WHERE status = 'running'")
            self.db.execute(
                "UPDATE attempts SET outcome = 'interrupted', finished_at = ?, "
                "error = 'driver stopped before the attempt finished' WHERE outcome = 'running'",
                (now,),
            )
        return rels

    def upsert_source(
        self,
        rel: str,
        *,
        src: str,
        dst: str,
        size: int,
        mtime_ns: int,
        content_hash: str,
        settings_hash: str,
        reset: bool,
    ) -> None:
        """Record the current facts of a source; ``reset`` makes it a fresh pending job."""
        with self.db:
            if reset:
                self.db.execute(
                    """INSERT INTO jobs (rel, src, dst, size, mtime_ns, content_hash, settings_hash, status)
                       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')
                       ON CONFLICT(rel) DO UPDATE SET src = excluded.src, dst = excluded.dst,
                         size = excluded.size, mtime_ns = excluded.mtime_ns,
                         content_hash = excluded.content_hash, settings_hash = excluded.settings_hash,
                         status = 'pending', attempts = 0, failures = 0, error = NULL""",
                    (rel, src, dst, size, mtime_ns, content_hash, settings_hash),
                )
            else:
                self.db.execute(
                    "UPDATE jobs SET src = ?, dst = ?, size = ?, mtime_ns = ? WHERE rel = ?",
                    (src, dst, size, mtime_ns, rel),
                )

    def set_pending(self, rel: str, *, clear_failures: bool = False) -> None:
        if clear_failures:
            self.db.execute(
                "UPDATE jobs SET status = 'pending', failures = 0, attempts = 0, error = NULL WHERE rel = ?",
                (rel,),
            )
        else:
            self.db.execute("UPDATE jobs SET status = 'pending' WHERE rel = ?", (rel,))

    # ------------------------------------------------------------------ job life cycle
    def start_attempt(self, rel: str, run_id: str) -> int:
        """Mark ``rel`` running (dispatched to a worker); returns the attempt id."""
        now = time.time()
        with self.db:
            self.db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, run_id = ?, queued_at = ? "
                "WHERE rel = ?",
                (run_id, now, rel),
            )
            row = self.db.execute(
                "SELECT content_hash, settings_hash FROM jobs WHERE rel = ?", (rel,)
            ).fetchone()
            cur = self.db.execute(
                "INSERT INTO attempts (rel, run_id, content_hash, settings_hash, outcome, queued_at) "
                "VALUES (?, ?, ?, ?, 'running', ?)",
                (rel, run_id, row[0], row[1], now),
            )
        return int(cur.lastrowid)

    def finish_done(self, rel: str, attempt_id: int, result: dict) -> None:
        """The attempt succeeded and the output is in place."""
        with self.db:
            self.db.execute(
                """UPDATE jobs SET status = 'done', error = NULL, worker = ?, started_at = ?,
                   finished_at = ?, seconds = ?, frames_in = ?, frames_out = ?, out_size = ?,
                   out_mtime_ns = ?, out_head = ? WHERE rel = ?""",
                (
                    result.get("worker"),
                    result.get("started_at"),
                    result.get("finished_at"),
                    result.get("seconds"),
                    result.get("frames_in"),
                    result.get("frames_out"),
                    result.get("out_size"),
                    result.get("out_mtime_ns"),
                    result.get("out_head"),
                    rel,
                ),
            )
            self._close_attempt(attempt_id, "done", result)

    def finish_failed(self, rel: str, attempt_id: int, result: dict, *, give_up: bool) -> int:
        """The attempt failed; the job goes back to ``pending`` or, with ``give_up``, ``failed``.

        Returns the job's failure count.
        """
        with self.db:
            self.db.execute(
                "UPDATE jobs SET status = ?, failures = failures + 1, error = ?, worker = ? WHERE rel = ?",
                ("failed" if give_up else "pending", result.get("error"), result.get("worker"), rel),
            )
            self._close_attempt(attempt_id, "failed", result)
            return int(self.db.execute("SELECT failures FROM jobs WHERE rel = ?", (rel,)).fetchone()[0])

    def finish_interrupted(self, rel: str, attempt_id: int, why: str | None = None) -> None:
        """The attempt ended through no fault of its file (the driver stopping, a worker crash
        caused by another file): back to ``pending``, no failure counted."""
        with self.db:
            self.db.execute("UPDATE jobs SET status = 'pending' WHERE rel = ? AND status = 'running'", (rel,))
            self._close_attempt(
                attempt_id, "interrupted", {"error": why or "interrupted", "finished_at": time.time()}
            )

    def _close_attempt(self, attempt_id: int, outcome: str, result: dict) -> None:
        self.db.execute(
            """UPDATE attempts SET outcome = ?, started_at = ?, finished_at = ?, seconds = ?,
               frames_out = ?, worker = ?, error = ? WHERE id = ?""",
            (
                outcome,
                result.get("started_at"),
                result.get("finished_at", time.time()),
                result.get("seconds"),
                result.get("frames_out"),
                result.get("worker"),
                result.get("error"),
                attempt_id,
            ),
        )

    # ------------------------------------------------------------------ queries
    def done_counts(
        self, rels: Iterable[str] | None = None, *, settings_hash: str | None = None
    ) -> dict[str, int]:
        """Number of successful attempts per file over all runs (for one settings hash if given)."""
        if settings_hash is None:
            cur = self.db.execute("SELECT rel, COUNT(*) FROM attempts WHERE outcome = 'done' GROUP BY rel")
        else:
            cur = self.db.execute(
                "SELECT rel, COUNT(*) FROM attempts WHERE outcome = 'done' AND settings_hash = ? GROUP BY rel",
                (settings_hash,),
            )
        counts = {from_db(r[0]): r[1] for r in cur}
        if rels is not None:
            return {r: counts.get(r, 0) for r in rels}
        return counts


class Lock:
    """An exclusive ``flock`` on ``DST/.filmrt-batch.lock`` for the life of a run: one driver per DST."""

    def __init__(self, dst: str | os.PathLike):
        self.path = Path(dst) / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        try:
            import fcntl  # POSIX only: imported here so that the module loads elsewhere
        except ImportError:  # not POSIX: no lock
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise FilmrtError(
                f"another `filmrt batch` is running on {self.path.parent} (it holds {self.path})"
            ) from None
        try:  # who holds it, for a person reading the file; a full disk does not matter here
            os.ftruncate(self.fd, 0)
            os.write(self.fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        except OSError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
