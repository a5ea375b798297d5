"""BPMN timers as jobs (Camunda's design: a timer is a job with a due date).

Whenever the runtime saves a running instance with a ``next_timer_at``, a ``process.timer`` job for that instance
(one per instance, its dedupe key) is due at that time (``RuntimeService.schedule_timer``). The job's handler fires
every timer of the instance that is due, in one transaction; the runtime, saving the instance, schedules the next one.
Workers claim jobs with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and the
instance's version column is the last guard: a timer's effects commit together with the version bump, or not at all.
"""
import threading
from datetime import timedelta

from ..clock import aware
from ..errors import Conflict
from .runtime import TIMER, ProcessFailed

MAX_RETRIES = 100  # a busy instance (someone deciding at the same moment) is loaded again, up to this many times
POLICY = {"max_attempts": 10, "backoff": timedelta(seconds=15)}


class TimerService:
    def __init__(self, db, runtime, jobs):
        self.db = db
        self.runtime = runtime
        self.jobs = jobs
        self._counts = threading.local()  # per thread: a handler runs in the thread of the worker that claimed it

    def fire(self, job):
        """Job handler: fire what is due of the instance at the claim's time (a test's or a drill's ``at``)."""
        if self._fire(job.payload["instance_id"], aware(job.started_at), job.contract_id):
            self._counts.advanced = getattr(self._counts, "advanced", 0) + 1

    def _fire(self, instance_id, at, contract_id):
        """Returns whether the instance advanced."""
        for _ in range(MAX_RETRIES):
            try:
                with self.db.write() as session:
                    due = self.runtime.next_timer(session, instance_id)
                    if due is None:
                        return False  # finished, erroring (resuming schedules it again) or without timers now
                    if aware(due) > at:  # the timer moved later since this job was scheduled: wait for it
                        self.runtime.schedule_timer(session, instance_id, contract_id, due)
                        return False
                    fired = self.runtime.fire_due_timers(session, self.runtime.load(session, instance_id, "timer"), at)
                return bool(fired)
            except Conflict:
                continue  # someone else changed the instance first: look at it again
            except ProcessFailed:
                return False  # the runtime recorded the incident; the instance waits for an administrator
        raise Conflict(f"instance {instance_id} kept changing under its timer job")

    def run_due(self, at=None, worker_id="timers"):
        """Run the timer jobs due at ``at`` (default now) through the job mechanism, as a worker would (``flask timers
        run``, drills, tests). Returns the number of instances whose timers fired."""
        self._counts.advanced = 0
        self.jobs.run_pending(worker_id, at=at, kinds=(TIMER,))
        return self._counts.advanced
