"""BPMN timers are jobs (Camunda's design: a timer is a job with a due date), on both databases: an instance waiting
on a timer has one ``process.timer`` job due then, the workers fire it (once, however many there are), a timer moved
earlier moves its job, and the migration gives instances that were waiting before the upgrade their job."""
import threading
from datetime import timedelta

from sqlmodel import select

from tests.conftest import AUDIT_KEY
from tests.process.test_lifecycle import at_customer_step, events
from workflows import migrate
from workflows.clock import aware, utcnow
from workflows.models import Job, ProcessInstance
from workflows.platform import Platform
from workflows.services.runtime import TIMER

BEFORE_TIMER_JOBS = "c3a9f2d71e08"  # the revision before timers were jobs


def waiting_for_the_customer(api):
    """A contract at the customer's step, whose other work (the document to sign) the worker has done. The timer job
    the legal review left (due with its 审核超时, gone with the review) ran early: it found nothing due and is due
    with the customer's first timer now."""
    contract_id = at_customer_step(api)
    api.run_jobs()
    api.platform.jobs.run_pending("worker", at=utcnow() + timedelta(days=2, minutes=1), kinds=(TIMER,))
    return contract_id


def instance_of(platform, contract_id):
    with platform.db.read() as session:
        return platform.contracts.instance(session, contract_id)


def timer_jobs(platform):
    with platform.db.read() as session:
        return session.exec(select(Job).where(Job.kind == TIMER).order_by(Job.id)).all()


def fired(api, contract_id):
    return [e["event"] for e in events(api, contract_id)].count("timer_fired")


def test_a_waiting_timer_is_a_job_due_then_and_the_worker_fires_it(api, platform):
    contract_id = waiting_for_the_customer(api)  # the customer's task has a reminder (3 days) and an expiry (14 days)
    instance = instance_of(platform, contract_id)
    (job,) = timer_jobs(platform)
    assert (job.payload, job.contract_id, job.status) == ({"instance_id": instance.id}, contract_id, "queued")
    assert aware(job.run_at) == aware(instance.next_timer_at)
    assert platform.jobs.run_pending("worker", at=aware(job.run_at) - timedelta(seconds=1)) == 0
    assert platform.jobs.run_pending("worker", at=aware(job.run_at)) == 1  # the worker's own loop, not a sweeper
    assert fired(api, contract_id) == 1 and "customer_reminder" in [e["event"] for e in events(api, contract_id)]
    (job,) = timer_jobs(platform)  # the same job, due at the next timer (the expiry), not again at once
    instance = instance_of(platform, contract_id)
    assert job.status == "queued" and aware(job.run_at) == aware(instance.next_timer_at) > utcnow() + timedelta(days=13)
    assert platform.jobs.run_pending("worker", at=aware(job.run_at)) == 1
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "expired"
    assert [j.status for j in timer_jobs(platform)] == ["done"]  # the process ended: no timer, no job


def test_a_timer_job_fires_once_with_two_workers(api, platform, database_url):
    contract_id = waiting_for_the_customer(api)
    workers = [platform, Platform(database_url, audit_key=AUDIT_KEY.encode())]  # a second node: its own connections
    at, barrier, ran = utcnow() + timedelta(days=4), threading.Barrier(2), []

    def work(node, name):
        barrier.wait()
        ran.append(node.jobs.run_pending(name, at=at))

    threads = [threading.Thread(target=work, args=(node, f"worker-{n}")) for n, node in enumerate(workers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    workers[1].db.dispose()
    assert sorted(ran) == [0, 1] and fired(api, contract_id) == 1
    assert [e["event"] for e in events(api, contract_id)].count("customer_reminder") == 1


def test_an_earlier_timer_moves_the_queued_job_and_a_later_one_waits_for_its_time(api, platform):
    contract_id = waiting_for_the_customer(api)
    instance = instance_of(platform, contract_id)
    reminder, soon = aware(instance.next_timer_at), utcnow() + timedelta(hours=1)
    with platform.db.write() as session:  # what the runtime does when a save leaves an earlier next timer
        platform.runtime.schedule_timer(session, instance.id, contract_id, soon)
    (job,) = timer_jobs(platform)
    assert aware(job.run_at) == soon  # moved earlier: one job per instance, due at the earliest time asked for
    with platform.db.write() as session:
        platform.runtime.schedule_timer(session, instance.id, contract_id, reminder + timedelta(days=1))
    assert aware(timer_jobs(platform)[0].run_at) == soon  # a later time never postpones it
    assert platform.jobs.run_pending("worker", at=soon) == 1  # due, but the instance's timer is not: nothing fires
    (job,) = timer_jobs(platform)
    assert fired(api, contract_id) == 0 and job.status == "queued" and aware(job.run_at) == reminder
    assert platform.timers.run_due(at=reminder) == 1 and fired(api, contract_id) == 1


def test_the_upgrade_gives_instances_waiting_on_a_timer_their_job(api, platform):
    contract_id = waiting_for_the_customer(api)
    instance = instance_of(platform, contract_id)
    migrate.downgrade(platform.db, BEFORE_TIMER_JOBS)  # as it was: a next_timer_at and a cron sweeper, no job
    with platform.db.read() as session:
        assert session.exec(select(Job).where(Job.kind == TIMER)).all() == []
    migrate.upgrade(platform.db)
    (job,) = timer_jobs(platform)
    assert (job.payload, job.contract_id, job.status, job.pending_key) == (
        {"instance_id": instance.id}, contract_id, "queued", f"{TIMER}:{instance.id}")
    assert aware(job.run_at) == aware(instance.next_timer_at)
    assert platform.timers.run_due(at=aware(job.run_at)) == 1 and fired(api, contract_id) == 1
    with platform.db.read() as session:
        assert session.get(ProcessInstance, instance.id).status == "running"
