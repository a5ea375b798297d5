"""Background jobs: follow-up work written in the transaction of the change that needs it, run by workers afterwards.

A job row commits or rolls back with its state change, so committed work is never lost and rolled-back work never
runs. Workers (``workflows.worker``, ``flask --app wsgi jobs run``) claim one due job at a time with a lease: the
oldest due row is selected (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second worker passes on to the next row),
then taken by ``UPDATE ... WHERE id = :id AND <still claimable>`` (on SQLite, ``BEGIN IMMEDIATE`` serializes the
workers and the condition is the guard). The handler runs after the claim has committed, outside any transaction;
its outcome is written in a third one. A worker that dies mid-job leaves its lease to expire, and the job is claimed
again (the recovery sweep is part of every claim). Designs followed: Camunda's job executor (jobs in the engine's
tables, acquired with a lease; a BPMN timer is a job with a due date) and Rails' Solid Queue (one table, ``FOR UPDATE
SKIP LOCKED``; recurring tasks claimed by a unique row per run, so one of many workers enqueues each run).

Every slow or external effect goes through here: documents, packages, audit anchors, mail, webhooks, process timers
and the daily digest. There is no second delivery path.
"""
import json
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, literal, or_, select, update
from sqlmodel import col

from ..clock import utcnow
from ..db import ManyRows, Statement, after_commit
from ..errors import Conflict, NotFound
from ..logs import current_request_id, request_id
from ..models import Job, RecurringExecution
from ..models.jobs import DEAD, DONE, QUEUED, RUNNING

log = logging.getLogger(__name__)
ERROR_TAIL = 4000  # characters of the traceback kept in last_error (its end names the exception)

# One statement for both cases: without a key (NULL never conflicts) it inserts; with the key of an unfinished job it
# returns that job instead. A queued job becomes due at the earlier of both times (a process timer moved earlier moves
# its job); a running one is flagged to run again (its run may predate the caller's change), due at the time asked
# for (the earliest, if asked several times while it runs). Same syntax on SQLite and PostgreSQL; on PostgreSQL the
# conflicting row stays locked until the caller commits, so the worker's finishing UPDATE sees the flag.
ENQUEUE = ManyRows(
    "INSERT INTO job (kind, payload_json, contract_id, dedupe_key, pending_key, status, attempts, max_attempts, run_at,"
    " rerun, last_error, created_at, request_id) VALUES {rows}"
    " ON CONFLICT (pending_key) DO UPDATE SET rerun = job.rerun OR job.status = 'running',"
    " run_at = CASE WHEN job.status = 'running' AND NOT job.rerun THEN excluded.run_at"
    " WHEN excluded.run_at < job.run_at THEN excluded.run_at ELSE job.run_at END RETURNING id",
    "(:kind, :payload_json, :contract_id, :dedupe_key, :dedupe_key, 'queued', 0, :max_attempts, :run_at, FALSE, '',"
    " :created_at, :request_id)", run_at=Job.__table__.c.run_at, created_at=Job.__table__.c.created_at)
# A recurring task's run is claimed by inserting it; the unique (task, run time) lets one of N racing workers win.
CLAIM_RECURRING = Statement(
    "INSERT INTO recurring_execution (task_key, run_at, created_at) VALUES (:task_key, :run_at, :created_at)"
    " ON CONFLICT (task_key, run_at) DO NOTHING RETURNING id",
    run_at=RecurringExecution.__table__.c.run_at, created_at=RecurringExecution.__table__.c.created_at)
RECURRING_JOB = Statement("UPDATE recurring_execution SET job_id = :job_id WHERE id = :id")
PURGE = "jobs.purge"
PURGE_AT = time(3, 0)  # China time: the daily purge runs when nobody works
PURGE_BATCH = 5000  # rows a transaction: a purge of a long backlog never holds a long lock
# Done jobs finished before the cutoff, except one preceded by a dead job of the same piece of work (its dedupe key,
# else its kind) on the same contract: ``failed`` names a piece of work's newest job, and without the done one the old
# dead one would show as the contract's failure again. Dead jobs stay until someone retries them.
PURGE_JOBS = Statement(
    "DELETE FROM job WHERE id IN (SELECT id FROM job AS done WHERE done.status = 'done' AND done.finished_at < :cutoff"
    " AND NOT EXISTS (SELECT 1 FROM job AS dead WHERE dead.status = 'dead' AND dead.id < done.id"
    " AND dead.contract_id = done.contract_id"
    " AND coalesce(dead.dedupe_key, dead.kind) = coalesce(done.dedupe_key, done.kind)) LIMIT :batch)",
    cutoff=Job.__table__.c.finished_at)
PURGE_RUNS = Statement("DELETE FROM recurring_execution WHERE id IN "
                       "(SELECT id FROM recurring_execution WHERE run_at < :cutoff LIMIT :batch)",
                       cutoff=RecurringExecution.__table__.c.run_at)


@dataclass(frozen=True)
class Policy:
    """How a kind of job runs: its handler, how often it is tried, how long a try may hold the job."""

    handler: Callable
    max_attempts: int
    backoff: timedelta  # the wait after the first failure; it doubles with each further one
    lease: timedelta  # a try still running after this is taken for dead, and another worker takes the job

    def delay_after(self, attempt):
        return self.backoff * 2 ** (attempt - 1)


@dataclass(frozen=True)
class Recurring:
    """A job enqueued once a day at a local time, once across every worker of the deployment."""

    key: str
    kind: str
    at: time
    zone: ZoneInfo

    def latest_run(self, now):
        """The newest scheduled time not after ``now`` (today's, or yesterday's before today's time), in UTC."""
        local = now.astimezone(self.zone)
        run = datetime.combine(local.date(), self.at, tzinfo=self.zone)
        if run > local:
            run -= timedelta(days=1)
        return run.astimezone(now.tzinfo)


class JobService:
    def __init__(self, db, retention=timedelta(days=14)):
        self.db = db
        self.retention = retention  # how long done jobs and recurring runs are kept (JOB_RETENTION_DAYS)
        self.policies = {}
        self.recurring = {}
        self._scheduled = {}  # recurring key -> the latest run this process has seen scheduled (by it or another)
        self._wakeup = threading.Event()

    # --- wiring -------------------------------------------------------------------
    def register(self, kind, handler, *, max_attempts=5, backoff=timedelta(seconds=30), lease=timedelta(minutes=5)):
        """Say how jobs of ``kind`` run; whoever wires the platform registers every kind, once.

        ``handler(job)`` gets the ``Job`` (``job.payload``, ``job.contract_id``, ``job.attempts``) and runs outside any
        transaction. It MUST be idempotent: a job runs at least once, not exactly once (a worker may die after the work
        and before recording it, and a try that outlives its lease is run again elsewhere). It should read the current
        state when it runs rather than trust the payload's snapshot. Raising any exception is a failed try: retried
        after ``backoff``, doubling each time, and dead after ``max_attempts`` tries; an exception whose ``retryable``
        is False (a refusal that another try cannot change) makes the job dead at once.
        """
        if kind in self.policies:
            raise ValueError(f"job kind {kind!r} is already registered")
        self.policies[kind] = Policy(handler, max_attempts, backoff, lease)

    def register_recurring(self, key, kind, at, zone="Asia/Shanghai"):
        """Enqueue a job of ``kind`` every day at local time ``at`` in ``zone``; its payload is ``{"run_at": ISO}``.

        The workers schedule it (``enqueue_recurring``): a run missed while no worker ran is made up once, when one
        starts the same day; earlier days are not.
        """
        if kind not in self.policies:
            raise ValueError(f"no handler registered for job kind {kind!r}")
        self.recurring[key] = Recurring(key, kind, at, ZoneInfo(zone))

    # --- enqueue (inside the caller's transaction) ---------------------------------------
    def enqueue(self, session, kind, payload, *, contract_id=None, dedupe_key=None, run_at=None):
        """Write a job in the caller's transaction, due at ``run_at`` (default now); returns its id.

        With a ``dedupe_key`` that an unfinished job already holds, no second job is made and that one's id is returned:
        a queued one becomes due at the earlier of its time and ``run_at``; a running one runs once more when it
        finishes, due at ``run_at``.
        """
        (job_id,) = self.enqueue_many(session, kind, [(payload, contract_id, dedupe_key)], run_at=run_at)
        return job_id

    def enqueue_many(self, session, kind, jobs, *, run_at=None):
        """``enqueue`` for many jobs of one kind in one statement: ``jobs`` are (payload, contract_id, dedupe_key), the
        keys distinct (or None). Returns their ids, in no particular order."""
        policy = self.policies.get(kind)
        if policy is None:
            raise ValueError(f"no handler registered for job kind {kind!r}")
        keys = [key for _, _, key in jobs if key is not None]
        if len(set(keys)) != len(keys):
            raise ValueError("one statement cannot enqueue two jobs with the same dedupe key")
        if not jobs:
            return []
        now, request = utcnow(), current_request_id()
        ids = ENQUEUE.rows(session, [{
            "kind": kind, "payload_json": json.dumps(payload, ensure_ascii=False, sort_keys=True),
            "contract_id": contract_id, "dedupe_key": dedupe_key, "max_attempts": policy.max_attempts,
            "run_at": run_at or now, "created_at": now, "request_id": request} for payload, contract_id, dedupe_key in jobs])
        after_commit(session, self.wake)
        return [row.id for row in ids]

    def enqueue_recurring(self, at=None):
        """Enqueue the due run of each recurring task unless some worker already did; returns the jobs enqueued.

        Each run is a ``recurring_execution`` row inserted with the job in one transaction: of several workers (on
        several nodes) racing for one run, the one whose insert wins enqueues, the others insert nothing. A process
        remembers the runs it has seen, so a worker writes once per run, not at every poll.
        """
        now, enqueued = at or utcnow(), []
        for task in self.recurring.values():
            run_at = task.latest_run(now)
            if self._scheduled.get(task.key) == run_at:
                continue
            with self.db.write() as session:
                execution_id = CLAIM_RECURRING.scalar(session, {"task_key": task.key, "run_at": run_at,
                                                                "created_at": now})
                if execution_id is not None:
                    job_id = self.enqueue(session, task.kind, {"run_at": run_at.isoformat()}, run_at=run_at)
                    RECURRING_JOB.execute(session, {"id": execution_id, "job_id": job_id})
                    enqueued.append(job_id)
            self._scheduled[task.key] = run_at
        return enqueued

    # --- housekeeping ------------------------------------------------------------------
    def purge(self, job):
        """``jobs.purge`` (daily, ``register_recurring``): delete the done jobs that finished, and the recurring runs
        scheduled, more than ``retention`` before the run started; dead jobs stay. Returns (jobs, runs) deleted.
        Idempotent: a second try deletes what is older still."""
        return self.purge_before((job.started_at or utcnow()) - self.retention)

    def purge_before(self, cutoff):
        deleted = []
        for statement in (PURGE_RUNS, PURGE_JOBS):
            total = 0
            while True:
                with self.db.write() as session:
                    count = statement.execute(session, {"cutoff": cutoff, "batch": PURGE_BATCH})
                total += count
                if count < PURGE_BATCH:
                    break
            deleted.append(total)
        log.info("purged %s done jobs and %s recurring runs from before %s", deleted[1], deleted[0], cutoff.isoformat())
        return tuple(reversed(deleted))

    # --- admin ---------------------------------------------------------------------
    def get(self, session, job_id):
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def unfinished(self, session, contract_id=None, limit=100):
        """Queued and running jobs, next due first (a contract's pending work when ``contract_id`` is given)."""
        query = select(Job).where(col(Job.status).in_((QUEUED, RUNNING))).order_by(Job.run_at, Job.id).limit(limit)
        if contract_id is not None:
            query = query.where(Job.contract_id == contract_id)
        return list(session.scalars(query))

    def dead(self, session, contract_id=None, limit=100):
        """Jobs that used up their tries, newest first, each with its last error."""
        query = select(Job).where(Job.status == DEAD).order_by(col(Job.finished_at).desc(), col(Job.id).desc()).limit(limit)
        if contract_id is not None:
            query = query.where(Job.contract_id == contract_id)
        return list(session.scalars(query))

    def dedupe_keys(self, session, kind):
        """Every dedupe key a job of ``kind`` was ever enqueued with (finished ones too): what already had its job."""
        return set(session.scalars(select(Job.dedupe_key).where(Job.kind == kind, col(Job.dedupe_key).is_not(None))))

    def latest(self, session, kind, contract_id):
        """The newest job of ``kind`` for a contract, whatever its status (None if there never was one)."""
        return session.scalars(select(Job).where(Job.kind == kind, Job.contract_id == contract_id)
                               .order_by(col(Job.id).desc()).limit(1)).first()

    def failed(self, session, contract_id):
        """A contract's work that gave up: of each piece of work (its dedupe key: the contract's document, one mail;
        else its kind), the newest job, when it is dead."""
        newest = {}
        for job in session.scalars(select(Job).where(Job.contract_id == contract_id).order_by(col(Job.id).desc())):
            newest.setdefault(job.dedupe_key or job.kind, job)
        return [job for job in newest.values() if job.status == DEAD]

    def retry(self, session, job_id, contract_id=None):
        """Give a dead job a fresh set of tries, due now (``contract_id``: only a job of that contract)."""
        job = self.get(session, job_id)
        if contract_id is not None and job.contract_id != contract_id:
            raise NotFound(f"no job {job_id} for contract {contract_id}")
        if job.status != DEAD:
            raise Conflict(f"job {job_id} is {job.status}, not dead")
        if job.dedupe_key is not None:
            holder = session.scalar(select(Job.id).where(Job.pending_key == job.dedupe_key))
            if holder is not None:
                raise Conflict(f"job {holder} is already pending with the same key {job.dedupe_key!r}")
        job.status, job.attempts, job.run_at, job.pending_key = QUEUED, 0, utcnow(), job.dedupe_key
        job.finished_at = job.locked_by = job.locked_until = None
        session.add(job)
        session.flush()
        after_commit(session, self.wake)
        return job

    # --- running ---------------------------------------------------------------------
    def run_pending(self, worker_id, limit=None, at=None, kinds=None):
        """Run what is due (at ``at``, default now) until nothing is, or ``limit`` tries; returns the tries made."""
        tried = 0
        while (limit is None or tried < limit) and self.run_one(worker_id, at=at, kinds=kinds) is not None:
            tried += 1
        return tried

    def run_one(self, worker_id, at=None, kinds=None):
        """Claim the oldest due job, run its handler, record the outcome; returns the job as recorded, or None when
        nothing is due. Only registered kinds are claimed (a node running older code leaves newer kinds alone), and
        of those only ``kinds`` when given (``flask timers run``)."""
        job = self._claim(worker_id, at or utcnow(), kinds)
        if job is None:
            return None
        policy = self.policies[job.kind]
        try:
            with request_id(job.request_id):  # the handler logs under the id of the request that enqueued the job
                policy.handler(job)
        except Exception as exc:  # any failure of the handler is a failed try; the worker goes on
            log.warning("job %s (%s) failed on try %s of %s", job.id, job.kind, job.attempts, job.max_attempts,
                        exc_info=True)
            outcome = self._failed(job, policy, "".join(traceback.format_exception(exc))[-ERROR_TAIL:], at,
                                   final=not getattr(exc, "retryable", True))
        else:
            outcome = self._succeeded(job, at)
        if outcome is None:
            log.warning("job %s: the lease of %s ran out before the try ended; another worker has taken it",
                        job.id, worker_id)
            return job
        return outcome

    def wake(self):
        """Wake this process's waiting worker (after a commit that enqueued jobs)."""
        self._wakeup.set()

    def wait_for_work(self, timeout):
        """Block until ``wake`` is called or ``timeout`` seconds pass."""
        self._wakeup.wait(timeout)
        self._wakeup.clear()  # after the wait: a commit always precedes its wake, so the next drain sees its jobs

    def _claimable(self, now, kinds):
        """Due and queued, or running on a lease that expired with tries left (the worker died: run it again)."""
        return and_(col(Job.kind).in_(list(kinds)), or_(
            and_(Job.status == QUEUED, Job.run_at <= now),
            and_(Job.status == RUNNING, Job.locked_until < now, Job.attempts < Job.max_attempts)))

    def _claim(self, worker_id, now, kinds=None):
        kinds = [kind for kind in kinds or self.policies if kind in self.policies]
        if not kinds:
            return None
        with self.db.write() as session:
            self._bury_lost(session, now)
            candidate = session.execute(  # SQLite ignores FOR UPDATE
                select(Job.id, Job.kind).where(self._claimable(now, kinds)).order_by(Job.run_at, Job.id).limit(1)
                .with_for_update(skip_locked=True)).first()
            if candidate is None:
                return None
            return session.scalars(
                update(Job).where(Job.id == candidate.id, self._claimable(now, kinds)).values(
                    status=RUNNING, attempts=Job.attempts + 1, locked_by=worker_id, started_at=now, rerun=False,
                    locked_until=now + self.policies[candidate.kind].lease, last_error=case(
                        (Job.status == RUNNING, literal("the lease of ") + Job.locked_by + " expired"),
                        else_=Job.last_error))
                .returning(Job).execution_options(synchronize_session=False)).first()

    def _bury_lost(self, session, now):
        """Jobs whose last try's worker vanished (lease expired) with no tries left are dead, not run again."""
        session.execute(update(Job).where(
            Job.status == RUNNING, Job.locked_until < now, Job.attempts >= Job.max_attempts).values(
            status=DEAD, pending_key=None, finished_at=now, rerun=False, locked_by=None, locked_until=None,
            last_error=literal("the lease of ") + Job.locked_by + " expired on the last try")
            .execution_options(synchronize_session=False))

    def _ours(self, job):
        """Still our try: a worker whose lease ran out must not overwrite the outcome of the one that took over."""
        return and_(Job.id == job.id, Job.status == RUNNING, Job.locked_by == job.locked_by,
                    Job.attempts == job.attempts)

    def _succeeded(self, job, at):
        now = at or utcnow()
        again = Job.rerun  # read by the UPDATE itself: an enqueue committed until the very end still counts
        with self.db.write() as session:
            return session.scalars(update(Job).where(self._ours(job)).values(
                status=case((again, QUEUED), else_=DONE), attempts=case((again, 0), else_=Job.attempts),
                pending_key=case((again, Job.pending_key), else_=None),
                finished_at=case((again, None), else_=now), rerun=False, locked_by=None, locked_until=None)
                .returning(Job).execution_options(synchronize_session=False)).first()

    def _failed(self, job, policy, error, at, final=False):
        now = at or utcnow()
        values = {"status": QUEUED, "run_at": now + policy.delay_after(job.attempts)}
        if final or job.attempts >= job.max_attempts:
            values = {"status": DEAD, "pending_key": None, "finished_at": now}
            log.error("job %s (%s) is dead after %s tries; `flask --app wsgi jobs retry %s` runs it again",
                      job.id, job.kind, job.attempts, job.id)
        with self.db.write() as session:
            return session.scalars(update(Job).where(self._ours(job)).values(
                last_error=error, rerun=False, locked_by=None, locked_until=None, **values)
                .returning(Job).execution_options(synchronize_session=False)).first()
