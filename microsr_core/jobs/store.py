"""The job store: one SQLite file (standard library, WAL mode) under the MicroSR home folder.

Every process that touches jobs (the Streamlit app, the ``jobs`` command line, the workers and
their heartbeat threads) opens its own connection; WAL lets readers go on while a worker
writes, and ``BEGIN IMMEDIATE`` serialises the few read-modify-write steps (claiming queued
jobs). Each connection runs in autocommit mode, so every single ``UPDATE`` is durable at once.

Tables
------
``jobs``
    One row per job: what to train (method, dataset, validated parameters as JSON), how
    (device, processes, nodes), its state (status, pid, host, heartbeat, step / total), where
    its files are (output folder, log, last checkpoint) and why it failed.
``metrics``
    The training history, one row per logged step (the rows of ``history.jsonl``), keyed by
    (job, step) so a resumed run that logs a step again replaces it instead of duplicating it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

from ..errors import ParameterError
from ..paths import home_dir

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    method           TEXT    NOT NULL,
    dataset          TEXT    NOT NULL,
    data_dir         TEXT    NOT NULL,
    mask_dir         TEXT,
    params           TEXT    NOT NULL,
    device           TEXT    NOT NULL,
    nproc            INTEGER NOT NULL DEFAULT 1,
    nnodes           INTEGER NOT NULL DEFAULT 1,
    rdzv_endpoint    TEXT,
    log_every        INTEGER NOT NULL DEFAULT 10,
    slots            TEXT,
    status           TEXT    NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    resume           INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    host             TEXT,
    pid              INTEGER,
    worker_pid       INTEGER,
    created          REAL    NOT NULL,
    started          REAL,
    finished         REAL,
    heartbeat        REAL,
    step             INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL,
    out_dir          TEXT    NOT NULL DEFAULT '',
    log_path         TEXT    NOT NULL DEFAULT '',
    checkpoint       TEXT,
    checkpoint_step  INTEGER,
    error            TEXT,
    promoted         TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS metrics (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    data   TEXT    NOT NULL,
    PRIMARY KEY (job_id, step)
);
"""


@dataclass
class Job:
    """One row of the ``jobs`` table (see the module docstring)."""

    id: int
    method: str
    dataset: str
    data_dir: str
    mask_dir: str | None
    params: dict[str, Any]
    device: str
    nproc: int
    nnodes: int
    rdzv_endpoint: str | None
    log_every: int
    slots: str | None
    status: str
    cancel_requested: int
    resume: int
    attempts: int
    host: str | None
    pid: int | None
    worker_pid: int | None
    created: float
    started: float | None
    finished: float | None
    heartbeat: float | None
    step: int
    total: int
    out_dir: str
    log_path: str
    checkpoint: str | None
    checkpoint_step: int | None
    error: str | None
    promoted: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        values = {key: row[key] for key in row.keys()}
        values["params"] = json.loads(values["params"])
        return cls(**values)

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]."""
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def slot_list(self) -> list[int]:
        """Device slots the running job holds (GPU numbers on ``cuda``)."""
        return [int(s) for s in (self.slots or "").split(",") if s.strip()]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def processes(self) -> int:
        return self.nproc * self.nnodes

    def describe(self) -> str:
        """One line: id, method, dataset, status and progress."""
        text = f"job {self.id} {self.method} on {self.dataset}: {self.status} {self.step}/{self.total}"
        if self.error and self.status == "failed":
            text += f" ({self.error})"
        return text


_COLUMNS = tuple(f.name for f in fields(Job))


def default_db_path() -> Path:
    return home_dir() / "jobs.db"


class JobStore:
    """Read and write jobs in ``path`` (default ``<home>/jobs.db``), created on first use.

    A store holds one connection; make one per thread (the heartbeat thread makes its own).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; multi-statement updates use transaction().
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Exclusive write transaction (``BEGIN IMMEDIATE``): read-modify-write without races."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- jobs -------------------------------------------------------------------------------

    def insert(self, **values: Any) -> int:
        """Add a job (``params`` a dict); returns its id."""
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown job columns: {', '.join(sorted(unknown))}")
        values = {"created": time.time(), **values, "params": json.dumps(values.get("params", {}))}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self._db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(values.values()))
        return int(cursor.lastrowid)

    def get(self, job_id: int) -> Job:
        """The job ``job_id``; an unknown id raises :class:`ParameterError`."""
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise ParameterError(f"there is no job {job_id} in {self.path}")
        return Job.from_row(row)

    def list(self, status: str | tuple[str, ...] | None = None, limit: int | None = None) -> list[Job]:
        """Jobs, newest first; ``status`` filters by one status or a tuple of them."""
        query, args = "SELECT * FROM jobs", []
        if status is not None:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            query += f" WHERE status IN ({', '.join('?' for _ in wanted)})"
            args += list(wanted)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [Job.from_row(row) for row in self._db.execute(query, args)]

    def update(self, job_id: int, **values: Any) -> None:
        """Set columns of job ``job_id``."""
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown job columns: {', '.join(sorted(unknown))}")
        if "params" in values:
            values["params"] = json.dumps(values["params"])
        assignments = ", ".join(f"{key} = ?" for key in values)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), int(job_id)))

    def cancel_requested(self, job_id: int) -> bool:
        row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return bool(row and row[0])

    # -- metrics ----------------------------------------------------------------------------

    def add_metrics(self, job_id: int, row: dict[str, Any]) -> None:
        """Store one history row (it must have a ``step``); a row for the same step is replaced."""
        self._db.execute(
            "INSERT OR REPLACE INTO metrics (job_id, step, data) VALUES (?, ?, ?)",
            (int(job_id), int(row["step"]), json.dumps(row)),
        )

    def metrics(self, job_id: int) -> list[dict[str, Any]]:
        """The job's history rows in step order."""
        rows = self._db.execute("SELECT data FROM metrics WHERE job_id = ? ORDER BY step", (int(job_id),))
        return [json.loads(data) for (data,) in rows]

    def drop_metrics_after(self, job_id: int, step: int) -> None:
        """Forget rows after ``step`` (a resumed run recomputes them from its checkpoint)."""
        self._db.execute("DELETE FROM metrics WHERE job_id = ? AND step > ?", (int(job_id), int(step)))
