"""The worker: woken by a commit that enqueued jobs, stoppable; one in-process worker under RUN_WORKER."""
import threading
import time

import pytest

from webapp import config, create_app
from workflows.services.jobs import JobService
from workflows.worker import Worker, start_in_process

POLL_NEVER = 60.0  # longer than any test waits: only a wake-up can make the worker look again


def test_a_commit_that_enqueues_wakes_the_waiting_worker(platform):
    ran = threading.Event()
    jobs = JobService(platform.db)
    jobs.register("test.ping", lambda job: ran.set())
    worker = Worker(jobs, poll=POLL_NEVER).start()
    try:
        time.sleep(0.3)  # the worker has drained the empty table and waits
        with platform.db.write() as session:
            jobs.enqueue(session, "test.ping", {})
        assert ran.wait(5), "the worker slept through the commit"
    finally:
        worker.stop()
    assert not worker.alive


def test_run_worker_starts_one_worker_per_process(database_url, tmp_path):
    settings = {"DATABASE_URL": database_url, "SECRET_KEY": "x", "APP_ENV": "development", "TESTING": True,
                "INSTANCE_PATH": str(tmp_path), "RUN_WORKER": True}
    first, second = create_app(settings), create_app(settings)
    platform = first.extensions["qianyue"]
    worker = start_in_process(second.extensions["qianyue"].jobs)  # the one the first app started
    try:
        assert worker.alive and worker.jobs is platform.jobs
        assert len([t for t in threading.enumerate() if t.name.startswith("job-worker")]) == 1
        ran = threading.Event()
        platform.jobs.register("test.ping", lambda job: ran.set())
        with platform.db.write() as session:
            platform.jobs.enqueue(session, "test.ping", {})
        assert ran.wait(5)
    finally:
        worker.stop()
        for app in (first, second):
            app.extensions["qianyue"].db.dispose()


def test_run_worker_is_off_unless_set(tmp_path, monkeypatch):
    monkeypatch.delenv("RUN_WORKER", raising=False)
    assert config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})["RUN_WORKER"] is False
    monkeypatch.setenv("RUN_WORKER", "1")
    assert config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})["RUN_WORKER"] is True


def test_job_lease_seconds_sets_the_lease_of_every_kind(tmp_path, monkeypatch):
    """The cluster's fault test kills a worker mid-job: another takes the job once this lease runs out, not after the
    kinds' own minutes; a value that is not a whole number stops the app."""
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "x", "APP_ENV": "development",
                "INSTANCE_PATH": str(tmp_path)}
    default = create_app(settings).extensions["qianyue"].jobs.policies
    assert all(policy.lease.total_seconds() >= 60 for policy in default.values())
    monkeypatch.setenv("JOB_LEASE_SECONDS", "7")
    policies = create_app(settings).extensions["qianyue"].jobs.policies
    assert policies.keys() == default.keys() and {p.lease.total_seconds() for p in policies.values()} == {7}
    assert [(p.handler.__func__, p.max_attempts, p.backoff) for p in policies.values()] == \
        [(p.handler.__func__, p.max_attempts, p.backoff) for p in default.values()]
    monkeypatch.setenv("JOB_LEASE_SECONDS", "soon")
    with pytest.raises(RuntimeError, match="JOB_LEASE_SECONDS"):
        config.load(settings)
