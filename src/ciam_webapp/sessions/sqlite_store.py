"""The embedded session store: one SQLite file in the instance folder, no server to run.

Shared by the workers of one machine (WAL mode lets readers and one writer work at once). Each
session is a row with its deadlines, and each field a row of its own with a version, so a write
touches only the fields that changed. Every operation is a primary-key or index lookup, so a write
costs the same with 100 or 100,000 sessions stored; expired sessions are removed a bounded batch
at a time while new ones are created, never by scanning everything.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .store import FieldChanges, SessionStoreError, StoredSession, WriteResult, WriteStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,  -- idle deadline, never after ends_at
    ends_at REAL NOT NULL      -- end of the absolute lifetime
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS session_fields (
    sid TEXT NOT NULL,
    name TEXT NOT NULL,
    value BLOB,                -- NULL: deleted (the version stays, so a delete is a change too)
    version INTEGER NOT NULL,
    PRIMARY KEY (sid, name)
) WITHOUT ROWID;
"""
# Expired sessions removed per sweep; sweeps run at most every SWEEP_INTERVAL seconds per process.
SWEEP_BATCH = 200
SWEEP_INTERVAL = 30.0
BUSY_TIMEOUT_MS = 2000


class SqliteSessionStore:
    name = "embedded"

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._local = threading.local()
        self._next_sweep = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection().executescript(_SCHEMA)  # executescript manages its own transaction
            os.chmod(self.path, 0o600)  # it holds sealed token caches and user claims
        except (OSError, sqlite3.Error) as exc:
            raise SessionStoreError(f"embedded store at {self.path}: {type(exc).__name__}: {exc}") from exc

    # -- connections ------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL makes commits cheap
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SessionStoreError(f"embedded store: {type(exc).__name__}: {exc}") from exc

    # -- the store ----------------------------------------------------------------------------------

    def create(self, sid: str, values: Mapping[str, bytes], *, idle_timeout: float, lifetime: float) -> None:
        now = self._clock()
        ends_at = now + lifetime
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (sid, expires_at, ends_at) VALUES (?, ?, ?)",
                (sid, min(now + idle_timeout, ends_at), ends_at),
            )
            conn.executemany(
                "INSERT INTO session_fields (sid, name, value, version) VALUES (?, ?, ?, 1)",
                [(sid, name, value) for name, value in values.items()],
            )
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_INTERVAL
                self._sweep(conn, now)

    def load(self, sid: str) -> StoredSession | None:
        now = self._clock()
        with self._transaction(write=False) as conn:
            head = conn.execute(
                "SELECT expires_at, ends_at FROM sessions WHERE sid = ? AND expires_at > ?", (sid, now)
            ).fetchone()
            if head is None:
                return None
            rows = conn.execute("SELECT name, value, version FROM session_fields WHERE sid = ?", (sid,)).fetchall()
        values = {name: bytes(value) for name, value, _ in rows if value is not None}
        versions = {name: version for name, _, version in rows}
        return StoredSession(values, versions, head[0] - now, head[1] - now)

    def write(self, sid: str, changes: FieldChanges, expected_versions: Mapping[str, int]) -> WriteResult:
        now = self._clock()
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM sessions WHERE sid = ? AND expires_at > ?", (sid, now)).fetchone() is None:
                return WriteResult(WriteStatus.GONE)
            current = {
                name: version
                for name, version in conn.execute(
                    "SELECT name, version FROM session_fields WHERE sid = ?", (sid,)
                ).fetchall()
            }
            conflicts = frozenset(name for name in changes if current.get(name, 0) != expected_versions.get(name, 0))
            if conflicts:
                return WriteResult(WriteStatus.CONFLICT, conflicts)
            conn.executemany(
                "INSERT INTO session_fields (sid, name, value, version) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (sid, name) DO UPDATE SET value = excluded.value, version = version + 1",
                [(sid, name, value) for name, value in changes.items()],
            )
        return WriteResult(WriteStatus.SAVED)

    def touch(self, sid: str, idle_timeout: float) -> None:
        now = self._clock()
        with self._transaction() as conn:
            # Only a live session is extended; min() keeps the idle deadline within the lifetime.
            conn.execute(
                "UPDATE sessions SET expires_at = min(?, ends_at) WHERE sid = ? AND expires_at > ?",
                (now + idle_timeout, sid, now),
            )

    def delete(self, sid: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE sid = ?", (sid,))
            conn.execute("DELETE FROM session_fields WHERE sid = ?", (sid,))

    def probe(self) -> None:
        # A real write (of a row that is born expired, so it is never loaded and the sweep removes it).
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (sid, expires_at, ends_at) VALUES ('~readyz-probe', 0, 0) "
                "ON CONFLICT (sid) DO UPDATE SET expires_at = 0"
            )

    def count(self) -> int:
        """How many sessions are stored, live or awaiting their sweep (for tests and operators)."""
        with self._transaction(write=False) as conn:
            return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])

    @staticmethod
    def _sweep(conn: sqlite3.Connection, now: float) -> None:
        expired = [
            (sid,)
            for (sid,) in conn.execute(
                "SELECT sid FROM sessions WHERE expires_at <= ? LIMIT ?", (now, SWEEP_BATCH)
            ).fetchall()
        ]
        conn.executemany("DELETE FROM sessions WHERE sid = ?", expired)
        conn.executemany("DELETE FROM session_fields WHERE sid = ?", expired)
