"""Background jobs: slow or external work that follows a committed change (workflows.services.jobs)."""
import json
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"


class Job(SQLModel, table=True):
    """One unit of follow-up work, written in the transaction of the change that needs it.

    ``pending_key`` is ``dedupe_key`` while the job is unfinished and NULL once it is done or dead: a plain unique
    constraint on it (NULLs never collide, on SQLite and PostgreSQL alike) makes the key unique among unfinished jobs
    only. ``rerun`` is set when the same key is enqueued while the job runs: the run may have read the state before that
    change, so the job runs once more instead of finishing.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "status", "run_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=80)
    payload_json: str = Field(sa_column=Column(Text, nullable=False))
    contract_id: Optional[int] = Field(default=None, index=True)
    dedupe_key: Optional[str] = Field(default=None, max_length=200)
    pending_key: Optional[str] = Field(default=None, max_length=200, unique=True)
    status: str = Field(default=QUEUED, max_length=10)  # queued | running | done | dead
    attempts: int = Field(default=0)
    max_attempts: int
    run_at: datetime = Field(default_factory=utcnow)  # due from then on: scheduled, or backing off after a failure
    rerun: bool = Field(default=False)
    locked_by: Optional[str] = Field(default=None, max_length=100)  # the worker holding the lease
    locked_until: Optional[datetime] = None  # after this the lease is void and another worker takes the job
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: Optional[datetime] = None  # of the latest attempt
    finished_at: Optional[datetime] = None
    request_id: Optional[str] = Field(default=None, max_length=128)  # the request that enqueued it (workflows/logs.py)

    @property
    def payload(self):
        return json.loads(self.payload_json)


class RecurringExecution(SQLModel, table=True):
    """One run of a recurring task (the daily digest), claimed by inserting it: the unique (task, run time) lets any
    number of workers on any number of nodes race to schedule a run, and exactly one inserts it and enqueues its job
    (Solid Queue's ``solid_queue_recurring_executions``)."""

    __tablename__ = "recurring_execution"
    __table_args__ = (UniqueConstraint("task_key", "run_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    task_key: str = Field(max_length=80)
    run_at: datetime  # the scheduled time of this run (UTC), not when it was noticed
    job_id: Optional[int] = None
    created_at: datetime = Field(default_factory=utcnow)
