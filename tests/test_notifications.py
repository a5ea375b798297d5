"""Mail over real SMTP (a local aiosmtpd server), delivered by jobs: task arrival, returns, the daily overdue digest
(once across two nodes), outages (back-off, dead, retried from /admin/jobs) and a worker that dies mid-job."""
import threading
from datetime import datetime, time, timedelta

import pytest
from sqlmodel import select

from tests.conftest import Api, Browser, SmtpServer, free_port, load_fixture
from webapp import create_app
from workflows.clock import CHINA, aware, utcnow
from workflows.mail import Mailer, MailSettings
from workflows.models import Job, OutboxMail, RecurringExecution
from workflows.db import StatementCount
from workflows.services.notifications import MAIL, MAIL_POLICY, Mail


def mail_app(database_url, tmp_path, port):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path),
                       "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port), "MAIL_DEFAULT_SENDER": "qianyue@provider.example"})


def mail_job(platform):
    with platform.db.read() as session:
        return session.exec(select(Job).where(Job.kind == MAIL).order_by(Job.id)).first()


@pytest.fixture
def mailing(database_url, tmp_path, smtp):
    app = mail_app(database_url, tmp_path, smtp.port)
    yield app, Api(app.test_client(), app.extensions["qianyue"])
    app.extensions["qianyue"].db.dispose()


def test_a_committed_steps_mail_is_sent_by_the_worker_not_the_request(mailing, smtp):
    app, api = mailing
    with app.extensions["qianyue"].db.write() as session:  # another account manager: a draft not theirs is not their task
        app.extensions["qianyue"].accounts.create_user(session, "sales2", ["sales"], "pw-sales-2", "赵磊",
                                                       email="sales2@provider.example")
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    assert smtp.messages == []  # the request only recorded the mail and its delivery job
    platform = app.extensions["qianyue"]
    with platform.db.read() as session:
        [mail] = session.exec(select(OutboxMail).where(OutboxMail.to_addr == "legal@provider.example")).all()
        [job] = session.exec(select(Job).where(Job.kind == MAIL)).all()
    assert (mail.sent_at, job.payload, job.contract_id) == (None, {"mail_id": mail.id}, contract["id"])
    assert api.run_jobs() == 1
    [arrived] = smtp.to("legal@provider.example")
    assert contract["number"] in arrived["subject"] and "法务审核" in arrived["subject"]
    assert "/tasks/" in arrived["body"]
    due = aware(datetime.fromisoformat(api.tasks("legal", contract["id"])[0]["due_at"])).astimezone(CHINA)
    assert f"截止时间：{due:%Y-%m-%d %H:%M}（北京时间）" in arrived["body"]  # China time, as people read it
    with platform.db.read() as session:
        assert session.get(OutboxMail, mail.id).sent_at is not None
    api.decide("legal", contract["id"], "return", "第十一条联系人与首页不一致")
    api.run_jobs()
    returned = [m for m in smtp.to("sales@provider.example") if "退回" in m["subject"]]
    assert len(returned) == 1 and "第十一条联系人与首页不一致" in returned[0]["body"]
    assert "李娜 退回了合同" in returned[0]["body"]  # the reviewer's name, not their username
    assert api.run_jobs() == 0 and len(smtp.messages) == 2  # sent once, never again
    assert smtp.to("sales2@provider.example") == []


def test_a_task_for_a_role_of_many_is_mailed_in_one_insert_and_their_jobs_in_another(mailing, smtp):
    """A step's mails cost two statements however many hold the role: twelve reviewers hear of the task, each once."""
    app, api = mailing
    platform = app.extensions["qianyue"]
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    with platform.db.write() as session:
        for n in range(11):
            platform.accounts.create_user(session, f"legal{n}", ["legal"], "pw-legal-x", f"法务{n}",
                                          email=f"legal{n}@provider.example")
    submitted = api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    assert submitted.status_code == 200
    with platform.db.read() as session:
        mails = session.exec(select(OutboxMail).where(OutboxMail.kind == "task_arrived")).all()
        jobs = session.exec(select(Job).where(Job.kind == MAIL)).all()
    assert len(mails) == 12 and sorted(job.payload["mail_id"] for job in jobs) == sorted(m.id for m in mails)
    assert {job.contract_id for job in jobs} == {contract["id"]} and len({job.dedupe_key for job in jobs}) == 12
    with platform.db.write() as session:  # the same two statements for 12 mails as for 1
        counting = StatementCount()
        platform.notifications.enqueue_many(session, [Mail("note", f"x{n}@provider.example", "s", "b") for n in range(12)])
        assert counting.stop() == 2
    assert api.run_jobs() == 24
    assert sorted(a for m in smtp.messages for a in m["to"]) == sorted(
        [m.to_addr for m in mails] + [f"x{n}@provider.example" for n in range(12)])


def test_a_rolled_back_step_records_and_enqueues_no_mail(mailing, smtp):
    app, _ = mailing
    platform = app.extensions["qianyue"]
    with pytest.raises(RuntimeError, match="the step failed"), platform.db.write() as session:
        platform.notifications.enqueue(session, "task_arrived", "legal@provider.example", "主题", "正文")
        raise RuntimeError("the step failed")
    with platform.db.read() as session:
        assert session.exec(select(OutboxMail)).all() == []
        assert session.exec(select(Job).where(Job.kind == MAIL)).all() == []
    assert platform.jobs.run_pending("tests") == 0 and smtp.messages == []


def test_without_a_mail_server_mail_is_recorded_and_enqueued_once_one_is_set(api, platform, smtp):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    with platform.db.read() as session:
        [mail] = session.exec(select(OutboxMail).where(OutboxMail.to_addr == "legal@provider.example")).all()
        assert session.exec(select(Job).where(Job.kind == MAIL)).all() == []  # nothing to send it with
    platform.notifications.mailer = Mailer(MailSettings(server="127.0.0.1", port=smtp.port))
    assert platform.notifications.enqueue_unsent() == 1  # `flask mail send`, once MAIL_SERVER is set
    assert platform.notifications.enqueue_unsent() == 0  # its job exists: not a second one
    assert api.run_jobs() == 1 and [m["subject"] for m in smtp.to("legal@provider.example")] == [mail.subject]


def test_an_smtp_outage_backs_off_ends_dead_on_the_jobs_page_and_is_sent_after_a_retry(database_url, tmp_path):
    closed = free_port()  # nothing listens here
    app = mail_app(database_url, tmp_path, closed)
    api, platform = Api(app.test_client(), app.extensions["qianyue"]), app.extensions["qianyue"]
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 200  # never blocked
    job, tries = mail_job(platform), MAIL_POLICY["max_attempts"]
    for attempt in range(1, tries + 1):  # each try when its back-off has passed, not before
        assert platform.jobs.run_pending("tests", at=job.run_at - timedelta(seconds=1)) == 0
        started = job.run_at
        assert platform.jobs.run_pending("tests", at=started) == 1
        job = mail_job(platform)
        assert job.attempts == attempt and "ConnectionRefusedError" in job.last_error
        if attempt < tries:
            assert job.run_at - started == MAIL_POLICY["backoff"] * 2 ** (attempt - 1)  # 2, 4, 8 ... minutes
    assert job.status == "dead"
    admin = Browser(app)
    admin.sign_in("admin")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    row = page[page.index(f'id="dead-job-{job.id}"'):]
    row = row[:row.index("</tr>")]
    assert "发送邮件" in row and contract["number"] in row and f"{tries}/{tries}" in row
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in row and "Traceback" not in row
    contract_page = admin.get(f"/contracts/{contract['id']}").get_data(as_text=True)
    assert f'id="failed-job-{job.id}"' in contract_page and "发送邮件" in contract_page  # the contract page says so too
    inbox = SmtpServer(port=closed)
    try:
        assert admin.post(f"/admin/jobs/{job.id}/retry", page="/admin/jobs").status_code == 302
        assert mail_job(platform).status == "queued"
        assert platform.jobs.run_pending("tests") == 1
        assert [m["to"] for m in inbox.messages] == [["legal@provider.example"]]
        with platform.db.read() as session:
            assert session.get(OutboxMail, job.payload["mail_id"]).sent_at is not None
        assert f'id="dead-job-{job.id}"' not in admin.get("/admin/jobs").get_data(as_text=True)
    finally:
        inbox.close()
        platform.db.dispose()


def test_a_mail_job_whose_worker_died_is_sent_by_another_once_the_lease_expires(mailing, smtp):
    app, api = mailing
    platform = app.extensions["qianyue"]
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    t0, lease = utcnow(), platform.jobs.policies[MAIL].lease
    assert platform.jobs._claim("machine-a", t0).kind == MAIL  # machine A takes the job, then dies before sending
    assert platform.jobs.run_pending("machine-b", at=t0 + lease - timedelta(seconds=1)) == 0  # its lease holds
    assert platform.jobs.run_pending("machine-b", at=t0 + lease + timedelta(seconds=1)) == 1
    assert len(smtp.to("legal@provider.example")) == 1
    job = mail_job(platform)
    assert (job.status, job.attempts) == ("done", 2) and "the lease of machine-a expired" in job.last_error


def overdue_users(inbox):
    return sorted(to for m in inbox.messages if "逾期" in m["subject"] for to in m["to"])


def test_the_daily_digest_is_mailed_once_a_day_by_two_workers_on_two_nodes(mailing, smtp, database_url, tmp_path):
    app, api = mailing
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.index_clauses()
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    api.run_jobs()
    nodes = [app.extensions["qianyue"], mail_app(database_url, tmp_path, smtp.port).extensions["qianyue"]]
    # 08:00 China time at least three days ahead: the legal task (due in two days) is overdue from the day before
    day3 = datetime.combine((utcnow() + timedelta(days=4)).astimezone(CHINA).date(), time(8, 0), CHINA)
    barrier = threading.Barrier(2)

    def worker(platform, at):
        barrier.wait()
        platform.jobs.enqueue_recurring(at=at)
        platform.jobs.run_pending(f"worker-{id(platform)}", at=at)

    try:
        # before 08:00 China time the newest run due is yesterday's (made up late, once); then today's
        moments = ((day3 - timedelta(minutes=1), 1), (day3 + timedelta(seconds=1), 2), (day3 + timedelta(hours=9), 2))
        for at, digests in moments:
            threads = [threading.Thread(target=worker, args=(node, at)) for node in nodes]
            [t.start() for t in threads]
            [t.join() for t in threads]
            assert overdue_users(smtp) == ["legal@provider.example"] * digests
        digest = [m for m in smtp.to("legal@provider.example") if "逾期" in m["subject"]]
        assert contract["number"] in digest[0]["body"]
        with nodes[0].db.read() as session:
            runs = session.exec(select(RecurringExecution).where(RecurringExecution.task_key == "overdue_digest")
                                .order_by(RecurringExecution.run_at)).all()
        assert [aware(r.run_at) for r in runs] == [day3 - timedelta(days=1), day3]  # one row per run, whoever won
        nodes[1].jobs._scheduled.clear()  # a restarted node that never saw today's run: it is not made twice
        for node in nodes:
            node.jobs.enqueue_recurring(at=day3 + timedelta(hours=10))
            node.jobs.run_pending("again", at=day3 + timedelta(hours=10))
        assert len(overdue_users(smtp)) == 2
        nodes[0].jobs.enqueue_recurring(at=day3 + timedelta(days=1))  # the next day: the next digest
        nodes[1].jobs.run_pending("next-day", at=day3 + timedelta(days=1))
        assert len(overdue_users(smtp)) == 3
    finally:
        nodes[1].db.dispose()
