"""Background jobs on both databases: transactional enqueue, exactly one winner per claim, retries and dead jobs,
expired leases, dedupe keys.

Each test uses its own ``JobService`` over the test database with a recording handler, so kinds registered on the
platform (and any jobs the seed data leaves) stay out of its counts.
"""
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from tests.conftest import AUDIT_KEY
from workflows.clock import CHINA, aware, utcnow
from workflows.errors import Conflict
from workflows.models import Job, RecurringExecution
from workflows.platform import Platform
from workflows.services import jobs as jobs_module
from workflows.services.jobs import PURGE, PURGE_AT, JobService

LEASE = timedelta(minutes=5)


class Recorder:
    """A handler that records the jobs it runs and fails while ``failing`` is set."""

    def __init__(self):
        self.runs = []
        self.failing = False

    def __call__(self, job):
        self.runs.append((job.id, job.payload))
        if self.failing:
            raise RuntimeError(f"the renderer is down (job {job.id})")


class WorkerKilled(BaseException):
    """Stands for a worker process dying mid-job: no outcome is recorded, the lease stays."""


@pytest.fixture
def recorder():
    return Recorder()


def job_service(platform, handler, max_attempts=3):
    service = JobService(platform.db)
    service.register("test.render", handler, max_attempts=max_attempts, backoff=timedelta(minutes=1), lease=LEASE)
    return service


@pytest.fixture
def jobs(platform, recorder):
    return job_service(platform, recorder)


def enqueue(jobs, n=1, **options):
    with jobs.db.write() as session:
        return jobs.enqueue(session, "test.render", {"n": n}, **options)


def load(jobs, job_id):
    with jobs.db.read() as session:
        return jobs.get(session, job_id)


def count_jobs(jobs, **where):
    with jobs.db.read() as session:
        return session.exec(select(func.count()).select_from(Job).filter_by(kind="test.render", **where)).one()


def unfinished(jobs, contract_id):
    with jobs.db.read() as session:
        return jobs.unfinished(session, contract_id)


def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(jobs, recorder):
    with pytest.raises(RuntimeError, match="the step failed"), jobs.db.write() as session:
        jobs.enqueue(session, "test.render", {"n": 1})
        raise RuntimeError("the step failed")
    assert jobs.run_pending("worker") == 0
    assert recorder.runs == [] and count_jobs(jobs) == 0


def test_a_job_enqueued_in_a_committed_transaction_runs_once(jobs, recorder):
    job_id = enqueue(jobs, 7, contract_id=42)
    assert [j.id for j in unfinished(jobs, contract_id=42)] == [job_id]
    assert jobs.run_pending("worker") == 1
    assert jobs.run_pending("worker") == 0
    assert recorder.runs == [(job_id, {"n": 7})]
    done = load(jobs, job_id)
    assert (done.status, done.attempts, done.locked_by, done.last_error) == ("done", 1, None, "")
    assert done.finished_at is not None and unfinished(jobs, contract_id=42) == []


def test_two_workers_draining_200_jobs_run_each_exactly_once(platform, database_url):
    second_machine = Platform(database_url, audit_key=AUDIT_KEY.encode())  # its own engine and connections
    runs = []

    def handler(number):
        def run(job):
            runs.append((number, job.id))
            time.sleep(0.002)  # work outside any transaction: the other worker's turn to claim
        return run

    services = [job_service(machine, handler(number)) for number, machine in enumerate((platform, second_machine))]
    with platform.db.write() as session:
        ids = [services[0].enqueue(session, "test.render", {"n": n}) for n in range(200)]
    start = threading.Barrier(2)

    def drain(number):
        start.wait()
        services[number].run_pending(f"machine-{number}")

    threads = [threading.Thread(target=drain, args=(number,)) for number in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    second_machine.db.dispose()
    assert sorted(job_id for _, job_id in runs) == ids
    assert {number for number, _ in runs} == {0, 1}  # both took part
    assert count_jobs(services[0], status="done") == 200


def test_a_failing_job_backs_off_then_dies_with_its_error_and_retry_revives_it(jobs, recorder):
    recorder.failing = True
    job_id, t0 = enqueue(jobs), utcnow()
    assert jobs.run_pending("worker", at=t0) == 1
    first = load(jobs, job_id)
    assert (first.status, first.attempts, first.run_at) == ("queued", 1, t0 + timedelta(minutes=1))
    assert "RuntimeError: the renderer is down" in first.last_error
    assert jobs.run_pending("worker", at=t0 + timedelta(seconds=59)) == 0  # still backing off
    t1 = t0 + timedelta(minutes=1)
    assert jobs.run_pending("worker", at=t1) == 1
    assert load(jobs, job_id).run_at == t1 + timedelta(minutes=2)  # the wait doubles
    t2 = t1 + timedelta(minutes=2)
    assert jobs.run_pending("worker", at=t2) == 1
    dead = load(jobs, job_id)
    assert (dead.status, dead.attempts, dead.finished_at) == ("dead", 3, t2)
    assert "the renderer is down" in dead.last_error
    assert jobs.run_pending("worker", at=t2 + timedelta(days=1)) == 0  # dead jobs are not run again
    with jobs.db.read() as session:
        assert [j.id for j in jobs.dead(session)] == [job_id]

    recorder.failing = False
    with jobs.db.write() as session:
        jobs.retry(session, job_id)
    assert jobs.run_pending("worker") == 1
    assert load(jobs, job_id).status == "done" and len(recorder.runs) == 4
    with pytest.raises(Conflict, match="done, not dead"), jobs.db.write() as session:
        jobs.retry(session, job_id)


def test_an_expired_lease_lets_another_worker_take_the_job(platform, recorder):
    def dies_the_first_time(job):
        recorder(job)
        if len(recorder.runs) == 1:
            raise WorkerKilled()

    jobs = job_service(platform, dies_the_first_time)
    job_id, t0 = enqueue(jobs), utcnow()
    with pytest.raises(WorkerKilled):
        jobs.run_one("machine-a", at=t0)
    held = load(jobs, job_id)
    assert (held.status, held.locked_by, held.locked_until) == ("running", "machine-a", t0 + LEASE)
    assert jobs.run_one("machine-b", at=t0 + LEASE - timedelta(seconds=1)) is None  # the lease still holds
    taken = jobs.run_one("machine-b", at=t0 + LEASE + timedelta(seconds=1))
    assert (taken.id, taken.status, taken.attempts) == (job_id, "done", 2)
    assert "the lease of machine-a expired" in taken.last_error
    assert [job_id for job_id, _ in recorder.runs] == [job_id, job_id]


def test_a_lease_that_expires_on_the_last_try_makes_the_job_dead(platform, recorder):
    def dies(job):
        recorder(job)
        raise WorkerKilled()

    jobs = job_service(platform, dies, max_attempts=1)
    job_id, t0 = enqueue(jobs), utcnow()
    with pytest.raises(WorkerKilled):
        jobs.run_one("machine-a", at=t0)
    assert jobs.run_one("machine-b", at=t0 + LEASE + timedelta(seconds=1)) is None
    dead = load(jobs, job_id)
    assert dead.status == "dead" and "the lease of machine-a expired on the last try" in dead.last_error
    assert len(recorder.runs) == 1


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_new_holders_outcome(platform, recorder):
    def slow_then_overtaken(job):
        recorder(job)
        if len(recorder.runs) == 1:  # while machine A is still at it, its lease runs out and B fails the job
            recorder.failing = True
            assert jobs.run_one("machine-b", at=t0 + LEASE + timedelta(seconds=1)).locked_by is None
            recorder.failing = False

    jobs = job_service(platform, slow_then_overtaken)
    job_id, t0 = enqueue(jobs), utcnow()
    assert jobs.run_one("machine-a", at=t0).locked_by == "machine-a"  # A ends well, but too late: its claim comes back
    after = load(jobs, job_id)
    assert (after.status, after.attempts) == ("queued", 2)  # B's failure stands: retried later
    assert "the renderer is down" in after.last_error


def test_a_dedupe_key_holds_while_pending_and_frees_once_done(jobs, recorder):
    first = enqueue(jobs, 1, dedupe_key="contract:7")
    assert enqueue(jobs, 2, dedupe_key="contract:7") == first
    assert enqueue(jobs, 3, dedupe_key="contract:8") != first  # another key is another job
    assert count_jobs(jobs) == 2
    assert jobs.run_pending("worker") == 2
    assert recorder.runs[0] == (first, {"n": 1})
    second = enqueue(jobs, 4, dedupe_key="contract:7")
    assert second != first
    assert jobs.run_pending("worker") == 1
    assert load(jobs, first).dedupe_key == load(jobs, second).dedupe_key == "contract:7"


def test_enqueuing_the_key_of_a_running_job_runs_it_once_more(platform, recorder):
    def changes_arrive_meanwhile(job):
        recorder(job)
        if len(recorder.runs) == 1:  # a change committed after this run read the state
            assert enqueue(jobs, 2, dedupe_key="contract:7") == job.id

    jobs = job_service(platform, changes_arrive_meanwhile)
    job_id = enqueue(jobs, 1, dedupe_key="contract:7")
    assert jobs.run_pending("worker") == 2
    assert [run_id for run_id, _ in recorder.runs] == [job_id, job_id]
    done = load(jobs, job_id)
    assert (done.status, done.pending_key, done.rerun) == ("done", None, False) and count_jobs(jobs) == 1


def test_retry_refuses_a_dead_job_whose_key_a_newer_job_holds(jobs, recorder):
    recorder.failing = True
    dead_id = enqueue(jobs, dedupe_key="contract:7")
    t0 = utcnow()
    for minutes in (0, 1, 3):
        jobs.run_pending("worker", at=t0 + timedelta(minutes=minutes))
    assert load(jobs, dead_id).status == "dead"
    newer = enqueue(jobs, dedupe_key="contract:7")
    assert newer != dead_id
    with pytest.raises(Conflict, match=f"job {newer} is already pending"), jobs.db.write() as session:
        jobs.retry(session, dead_id)


def test_only_registered_kinds_are_enqueued(jobs):
    with pytest.raises(ValueError, match="no handler"), jobs.db.write() as session:
        jobs.enqueue(session, "test.unknown", {})


def test_the_daily_purge_deletes_old_done_jobs_and_runs_and_keeps_dead_ones_and_what_a_dead_one_needs(
        platform, jobs, recorder):
    """``jobs.purge`` runs daily at 03:00 China time once across the workers (a recurring job) and deletes what finished
    more than JOB_RETENTION_DAYS (14) before it started; a dead job stays for someone to retry, and so does a done job
    that came after a dead one of the same work (else the contract's page would show that old failure again)."""
    now = utcnow()
    old, recent = now - timedelta(days=20), now - timedelta(days=1)

    def finished(at, **options):
        job_id = enqueue(jobs, run_at=at, **options)
        jobs.run_pending("worker", at=at)
        return job_id

    old_done, recent_done = finished(old, contract_id=7), finished(recent, contract_id=7)
    recorder.failing = True
    dead = enqueue(jobs, run_at=old, contract_id=8, dedupe_key="document:8")
    for minutes in (0, 1, 3):  # three failed tries: dead
        jobs.run_pending("worker", at=old + timedelta(minutes=minutes))
    recorder.failing = False
    after_dead = finished(old + timedelta(hours=2), contract_id=8, dedupe_key="document:8")
    other_work = finished(old + timedelta(hours=2), contract_id=8, dedupe_key="mail:8")
    assert [load(jobs, i).status for i in (old_done, recent_done, dead, after_dead, other_work)] == [
        "done", "done", "dead", "done", "done"]
    with platform.db.write() as session:
        for at in (old, recent):
            session.add(RecurringExecution(task_key="overdue_digest", run_at=at))

    purge_at = datetime.combine(now.astimezone(CHINA).date(), PURGE_AT, CHINA) + timedelta(minutes=1)
    platform.jobs.enqueue_recurring(at=purge_at)
    assert platform.jobs.run_pending("purger", at=purge_at, kinds=[PURGE]) == 1
    with platform.db.read() as session:
        left = set(session.exec(select(Job.id).where(Job.kind == "test.render")))
        runs = session.exec(select(RecurringExecution.task_key, RecurringExecution.run_at)).all()
        failed = jobs.failed(session, 8)
    assert left == {recent_done, dead, after_dead}
    assert failed == []  # the document's newest job is still the done one
    assert sorted((key, aware(at)) for key, at in runs) == sorted(
        [("overdue_digest", recent), ("overdue_digest", platform.jobs.recurring["overdue_digest"].latest_run(purge_at)),
         ("payment_scan", platform.jobs.recurring["payment_scan"].latest_run(purge_at)),
         ("purge_jobs", purge_at - timedelta(minutes=1))])


def test_the_purge_deletes_a_long_backlog_in_batches(platform, jobs, monkeypatch):
    monkeypatch.setattr(jobs_module, "PURGE_BATCH", 3)
    old = utcnow() - timedelta(days=30)
    ids = [enqueue(jobs, n, run_at=old) for n in range(8)]
    assert jobs.run_pending("worker", at=old) == 8
    assert jobs.purge_before(utcnow()) == (8, 0)
    with platform.db.read() as session:
        assert session.exec(select(Job).where(Job.id.in_(ids))).all() == []
