"""Timer sweeper: fires BPMN timers that are due, one instance per transaction.

Each instance row carries ``next_timer_at``. A sweeper takes one due row at a time:
on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` (two sweepers never pick the same row),
on SQLite under ``BEGIN IMMEDIATE`` (writers are serialized, and the next one sees the
updated ``next_timer_at``). The instance's version column is the last guard: a timer's
effects commit together with the version bump, or not at all.
"""
import os
import socket

from sqlmodel import select

from ..errors import Conflict
from ..models import ProcessInstance
from ..clock import utcnow
from .runtime import ProcessFailed

MAX_RETRIES = 100


class TimerService:
    def __init__(self, db, runtime):
        self.db = db
        self.runtime = runtime
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def run_due(self, at=None, limit=1000):
        """Fire what is due at ``at`` (default: now), each instance at most once per sweep.

        Returns the number of instances advanced.
        """
        at = at or utcnow()
        advanced, retries, seen, instance_id = 0, 0, set(), None
        while len(seen) < limit:
            try:
                with self.db.write() as session:
                    instance_id = self._next_due(session, at, seen)
                    if instance_id is None:
                        break
                    seen.add(instance_id)
                    self.runtime.fire_due_timers(session, self.runtime.load(session, instance_id, "timer"), at)
                advanced += 1
            except Conflict:
                retries += 1
                if retries > MAX_RETRIES:
                    raise
                seen.discard(instance_id)  # another writer advanced it first: look at it again
            except ProcessFailed:
                pass  # the runtime recorded the incident; the sweep goes on with the next instance
        return advanced

    def _next_due(self, session, at, skip):
        query = (select(ProcessInstance.id)
                 .where(ProcessInstance.status == "running", ProcessInstance.next_timer_at.is_not(None),
                        ProcessInstance.next_timer_at <= at)
                 .order_by(ProcessInstance.next_timer_at).limit(1))
        if skip:
            query = query.where(ProcessInstance.id.not_in(skip))
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        return session.exec(query).first()
