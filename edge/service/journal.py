"""Durable job journal (SQLite, WAL, fsync on commit): the one place a job's state lives.

A job is written here before its source is acknowledged (MQTT PUBACK, the file left in place), moves
queued -> running -> done/failed, and is resumed after a crash. Results wait in the outbox until the broker
acknowledges them, so a broker outage delays results but loses none. Jobs are idempotent by key.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ..errors import StorageError
from .jobs import SPEC, JobSpec

log = logging.getLogger(__name__)
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,          -- idempotency: mqtt:<request id> | folder:<relpath>:<sha256> | http:<uuid>
    source TEXT NOT NULL,              -- folder | mqtt | http
    state TEXT NOT NULL,               -- queued | running | done | failed
    created REAL NOT NULL,
    updated REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    deadline REAL,                     -- MQTT message expiry as epoch seconds
    spec TEXT NOT NULL,                -- JSON of the typed job (edge.service.jobs), validated when read back
    payload BLOB,                      -- request bytes (dropped once finished)
    result TEXT,                       -- the published response (JSON)
    settled INTEGER NOT NULL DEFAULT 0 -- folder jobs: original moved to done/failed
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, created);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT,                   -- JSON: correlation data (base64), user properties
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0 -- publishes not acknowledged; a poison message is moved to dead_letters
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT,
    created REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quota (day TEXT PRIMARY KEY, pages INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS job_pages (            -- pages of a long job done before a stop, so it goes on from there
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""


@dataclass
class Job:
    id: str
    key: str
    source: str
    state: str
    created: float
    attempts: int
    deadline: float | None
    spec: JobSpec
    payload: bytes | None


@dataclass
class OutMessage:
    topic: str
    payload: bytes
    qos: int = 1
    properties: dict | None = None
    seq: int | None = None
    job_id: str | None = None
    attempts: int = 0


class Journal:
    def __init__(self, path: Path, *, lock_timeout: float = 30):
        path = Path(path)
        self.path = path
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=lock_timeout)
        except (OSError, sqlite3.Error) as e:
            raise _storage_error(path, e) from None
        try:
            with self._lock:
                # One process owns the journal: exclusive locking keeps the WAL index in memory instead of a
                # memory-mapped -shm file (which ends in SIGBUS when the disk under it turns read-only), and a
                # second daemon on the same state_dir is refused instead of sharing it.
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # a committed job survives a power cut
                check = self._db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
                self._db.executescript(SCHEMA)
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
                if "attempts" not in columns:  # a journal written by an older version
                    self._db.execute("ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
        except sqlite3.Error as e:
            self._db.close()
            raise _storage_error(path, e) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self):
        return _Tx(self._db, self._lock)

    # -- jobs -----------------------------------------------------------------------------------------------------
    def add(self, key: str, spec: JobSpec, payload: bytes | None = None,
            deadline: float | None = None) -> tuple[str, bool]:
        """(job id, True) for a new job; (existing id, False) when the key was seen before."""
        now = time.time()
        job_id = uuid.uuid4().hex
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE key = ?", (key,)).fetchone()
            if row:
                return row[0], False
            db.execute("INSERT INTO jobs (id, key, source, state, created, updated, deadline, spec, payload) "
                       "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                       (job_id, key, spec.type, now, now, deadline, _dump(spec), payload))
            self._changed.notify_all()
        return job_id, True

    def claim(self, timeout: float = 0.5) -> Job | None:
        """The oldest queued job, now running; waits up to timeout for one."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                row = self._db.execute(
                    "SELECT id, key, source, state, created, attempts, deadline, spec, payload FROM jobs "
                    "WHERE state = 'queued' ORDER BY created LIMIT 1").fetchone()
                if row:
                    try:
                        spec = _load(row[7])
                    except (ValueError, ValidationError) as e:  # a record this version cannot read: set aside
                        self._unreadable(row[0], e)
                        continue
                    with self._tx() as db:
                        db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ? WHERE id = ?",
                                   (time.time(), row[0]))
                    return Job(row[0], row[1], row[2], "running", row[4], row[5] + 1, row[6], spec, row[8])
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def peek(self) -> Job | None:
        """The job claim() would return next, left queued: a look at it, not a run (its attempts do not change)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, key, source, state, created, attempts, deadline, spec, payload FROM jobs "
                "WHERE state = 'queued' ORDER BY created LIMIT 1").fetchone()
        if row is None:
            return None
        try:
            spec = _load(row[7])
        except (ValueError, ValidationError):  # claim() sets it aside
            return None
        return Job(row[0], row[1], row[2], row[3], row[4], row[5], row[6], spec, row[8])

    def _unreadable(self, job_id: str, e: Exception) -> None:
        log.error("job %s: its journal record is not a valid job (%s); failed and kept in the journal for inspection",
                  job_id, str(e).splitlines()[0])
        result = {"errorCode": 500, "errorMsg": f"the job's journal record could not be read: {e}"}
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'failed', result = ?, settled = 1, updated = ? WHERE id = ?",
                       (json.dumps(result), time.time(), job_id))

    def finish(self, job_id: str, state: str, result: dict, messages: list[OutMessage]) -> None:
        """Marks a job done/failed and queues its messages in the same transaction."""
        assert state in ("done", "failed")
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = ?, result = ?, payload = NULL, updated = ? WHERE id = ?",
                       (state, json.dumps(result, ensure_ascii=False), now, job_id))
            db.execute("DELETE FROM job_pages WHERE job_id = ?", (job_id,))
            _queue(db, job_id, messages, now)
            self._changed.notify_all()

    def send(self, job_id: str, messages: list[OutMessage]) -> None:
        """Queues more messages for a job (the stored answer again, for a repeated request)."""
        with self._tx() as db:
            _queue(db, job_id, messages, time.time())
            self._changed.notify_all()

    def keep_pages(self, job_id: str, first: int, answers: list[dict]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO job_pages (job_id, idx, answer) VALUES (?, ?, ?)",
                           [(job_id, first + i, json.dumps(a)) for i, a in enumerate(answers)])

    def kept_pages(self, job_id: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT answer FROM job_pages WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def requeue(self, job_id: str) -> None:
        """Puts a running job back in the queue without counting the run (the service did not die on it)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), updated = ? "
                       "WHERE id = ? AND state = 'running'", (time.time(), job_id))
            self._changed.notify_all()

    def mark_settled(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET settled = 1 WHERE id = ?", (job_id,))

    def unsettled_folder_jobs(self) -> list[tuple[str, str, JobSpec]]:
        """Finished folder jobs whose original has not been moved yet (a crash between the two steps)."""
        with self._lock:
            rows = self._db.execute("SELECT id, state, spec FROM jobs WHERE source = 'folder' AND settled = 0 "
                                    "AND state IN ('done', 'failed')").fetchall()
        return [(r[0], r[1], spec) for r in rows if (spec := _load_or_none(r[2])) is not None]

    def recover(self) -> int:
        """After a crash: jobs that were running go back to the queue. HTTP jobs fail instead: their client's
        connection died with the process, and nobody would read the answer."""
        now = time.time()
        gone = json.dumps({"errorCode": 503, "errorMsg": "interrupted by a restart of the service"})
        with self._tx() as db:
            db.execute("UPDATE jobs SET state = 'failed', result = ?, payload = NULL, updated = ? "
                       "WHERE source = 'http' AND state IN ('queued', 'running')", (gone, now))
            n = db.execute("UPDATE jobs SET state = 'queued', updated = ? WHERE state = 'running'", (now,)).rowcount
        return n

    def quota_reserve(self, day: str, pages: int, limit: int) -> bool:
        """Takes `pages` from the day's quota if they fit, in one transaction: concurrent requests cannot all pass
        a check made before any of them counted."""
        with self._tx() as db:
            row = db.execute("SELECT pages FROM quota WHERE day = ?", (day,)).fetchone()
            if (row[0] if row else 0) + pages > limit:
                return False
            db.execute("INSERT INTO quota (day, pages) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET pages = pages + ?",
                       (day, pages, pages))
        return True

    def quota_add(self, day: str, pages: int) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO quota (day, pages) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET pages = pages + ?",
                       (day, pages, pages))

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT id, key, source, state, attempts, spec, result, settled FROM jobs WHERE id = ?",
                                   (job_id,)).fetchone()
        if not row:
            return None
        return {"id": row[0], "key": row[1], "source": row[2], "state": row[3], "attempts": row[4],
                "spec": _load_or_none(row[5]), "result": json.loads(row[6]) if row[6] else None,
                "settled": bool(row[7])}

    def state_of_key(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM jobs WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            out = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            dead = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        c = {"queued": 0, "running": 0, "done": 0, "failed": 0, **dict(rows)}
        c["outbox"] = out
        c["dead_letters"] = dead
        return c

    def prune(self, older_than_seconds: float) -> int:
        """Forgets finished jobs (and their dedup keys) older than this; the journal stays small over months."""
        cutoff = time.time() - older_than_seconds
        with self._tx() as db:
            return db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated < ? AND settled = 1 "
                              "AND id NOT IN (SELECT job_id FROM outbox)", (cutoff,)).rowcount

    # -- outbox ---------------------------------------------------------------------------------------------------
    def pending(self, exclude: set[int], limit: int = 100) -> list[OutMessage]:
        with self._lock:
            rows = self._db.execute("SELECT seq, job_id, topic, payload, qos, properties, attempts FROM outbox "
                                    "ORDER BY seq LIMIT ?", (limit + len(exclude),)).fetchall()
        out = [OutMessage(r[2], bytes(r[3]), r[4], json.loads(r[5]) if r[5] else None, r[0], r[1], r[6])
               for r in rows if r[0] not in exclude]
        return out[:limit]

    def publishing(self, seq: int) -> None:
        """Counts a publish of an outbox row; a row that keeps coming back unacknowledged is a poison message."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def dead_letter(self, m: OutMessage, reason: str, replacement: OutMessage | None = None) -> None:
        """Moves an outbox row the broker will not take to dead_letters (kept for inspection), with an optional
        smaller message in its place, in one transaction."""
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO dead_letters (seq, job_id, topic, payload, qos, properties, created, reason) "
                       "SELECT seq, job_id, topic, payload, qos, properties, ?, ? FROM outbox WHERE seq = ?",
                       (now, reason, m.seq))
            db.execute("DELETE FROM outbox WHERE seq = ?", (m.seq,))
            _queue(db, m.job_id, [replacement] if replacement else [], now)
            self._changed.notify_all()

    def delivered(self, seq: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def wait_for_outbox(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)


def _queue(db: sqlite3.Connection, job_id: str, messages: list[OutMessage], now: float) -> None:
    """Adds a job's messages to the outbox, inside the caller's transaction."""
    db.executemany("INSERT INTO outbox (job_id, topic, payload, qos, properties, created) VALUES (?, ?, ?, ?, ?, ?)",
                   [(job_id, m.topic, m.payload, m.qos, json.dumps(m.properties) if m.properties else None, now)
                    for m in messages])


def _dump(spec: JobSpec) -> str:
    """JSON with non-ASCII escaped: a scan's name may hold bytes that are not UTF-8 (surrogate escapes), which this
    keeps and _load gives back exactly."""
    return json.dumps(SPEC.dump_python(spec, mode="python"), ensure_ascii=True)


def _load(text: str) -> JobSpec:
    return SPEC.validate_python(json.loads(text))


def _load_or_none(text: str) -> JobSpec | None:
    """The job, or None for a record this version cannot read (claim() sets such jobs aside)."""
    try:
        return _load(text)
    except (ValueError, ValidationError):
        return None


def _storage_error(path: Path, e: Exception) -> StorageError:
    """What went wrong opening the journal, and what the person at the device can do about it."""
    text = str(e).lower()
    if isinstance(e, OSError):
        return StorageError(f"cannot create the state folder {path.parent}: {e.strerror or e}",
                            hint="give the service's user write access to it (systemd: StateDirectory=), or set state_dir")
    if "locked" in text:
        return StorageError(f"the journal {path} is in use by another process",
                            hint="stop the other edge-ocr, or give this one its own state_dir")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(f"the journal {path} is corrupt ({e})",
                            hint=f"stop the service, move it aside (mv {path} {path}.corrupt) and start again; a "
                                 "backup of it can be read with the sqlite3 tool")
    return StorageError(f"cannot open the journal {path} for writing ({e})",
                        hint="check that the disk is mounted read-write and not full, and that the service's user "
                             "may write the state folder")


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT under the journal's lock; rollback on error."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock):
        self.db = db
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
