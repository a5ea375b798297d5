"""超时升级: a review overdue by its due_in (the diagram's non-interrupting timer 审核超时) is offered to the supervisor
of its role, who may decide it; history and mail say so; a review decided, sent back or withdrawn before its timer is
never escalated late, and two workers escalate once. The clock moves through the timer jobs' ``at``."""
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.conftest import AUDIT_KEY, Api, Browser, load_fixture
from tests.process.test_lifecycle import create, events, small_contract, status, submit
from tests.test_notifications import mail_app
from workflows.clock import utcnow
from workflows.demo import DEMO_PASSWORD
from workflows.models import HumanTask, OutboxMail, ProcessInstance
from workflows.platform import Platform

OVERDUE = timedelta(days=2, minutes=1)  # the reviews' due_in (P2D), and a minute


@pytest.fixture
def mailing(database_url, tmp_path, smtp):
    app = mail_app(database_url, tmp_path, smtp.port)
    yield app, Api(app.test_client(), app.extensions["qianyue"])
    app.extensions["qianyue"].db.dispose()


def organisation(platform, users):
    """法务部 (legal in it) and 财务部 (finance) under 总经办: 周总 heads the office, 钱经理 manages legal; neither holds
    the legal or finance role."""
    with platform.db.write() as session:
        platform.accounts.create_user(session, "zhou", ["sales"], DEMO_PASSWORD, "周总", "zhou@provider.example")
        platform.accounts.create_user(session, "qian", ["provider"], DEMO_PASSWORD, "钱经理", "qian@provider.example")
    admin = users["admin"]
    top = platform.org.save_department(admin, "总经办", manager="zhou")
    legal = platform.org.save_department(admin, "法务部", parent_id=top.id, manager="qian")
    finance = platform.org.save_department(admin, "财务部", parent_id=top.id)
    platform.org.set_department(admin, "legal", legal.id)
    platform.org.set_department(admin, "finance", finance.id)


def row(platform, task_id):
    with platform.db.read() as session:
        return session.get(HumanTask, task_id)


def escalations(api, contract_id):
    return [(e["task_name"], e["comment"], e["details"]["to"]) for e in events(api, contract_id)
            if e["event"] == "task_escalated"]


def complete(api, user, task_id, decision, comment=""):
    return api.call("POST", f"/tasks/{task_id}/complete", user, {"decision": decision, "comment": comment})


def test_an_overdue_review_goes_to_the_supervisor_who_may_decide_it(mailing, smtp, users):
    app, api = mailing
    platform = app.extensions["qianyue"]
    organisation(platform, users)
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    assert api.call("POST", f"/tasks/{task['id']}/claim", "legal").status_code == 200
    assert platform.timers.run_due(at=utcnow() + timedelta(days=1)) == 0  # not due yet
    assert row(platform, task["id"]).escalated_to is None
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 1
    escalated = row(platform, task["id"])
    assert (escalated.state, escalated.assignee, escalated.escalated_to) == ("open", "legal", "qian")  # still legal's
    assert escalated.escalated_at is not None
    assert escalations(api, contract["id"]) == [("legal_review", "已超时，升级至 钱经理", "qian")]
    api.run_jobs()
    to_boss = smtp.wait_for("qian@provider.example", "超时升级")
    assert "法务审核" in to_boss["subject"] and f"/tasks/{task['id']}" in to_boss["body"] and "李娜" in to_boss["body"]
    assert "已升级至 钱经理" in smtp.wait_for("legal@provider.example", "超时升级")["body"]
    mine = api.call("GET", "/tasks?escalated=1", "qian").json["items"]
    assert [(t["id"], t["escalated_to"]) for t in mine] == [(task["id"], "qian")]
    assert api.call("GET", "/tasks?escalated=1", "legal").json["items"] == []
    assert platform.timers.run_due(at=utcnow() + timedelta(days=3)) == 0  # escalated once: the timer is spent
    assert complete(api, "finance", task["id"], "approve").status_code == 403  # nobody else gains the task
    decided = complete(api, "qian", task["id"], "approve", "同意，请尽快签署")
    assert decided.status_code == 200, decided.json
    assert decided.json["contract"]["status"] == "awaiting_customer"
    (decision,) = [e for e in events(api, contract["id"]) if e["event"] == "task_completed" and e["actor"] == "qian"]
    assert decision["task_name"] == "legal_review" and decision["decision"] == "approve"


def test_the_inbox_filter_escalated_to_me_and_the_badge(api, platform, users, as_user):
    organisation(platform, users)
    contract = create(api, load_fixture("contract-network-line.json"))  # above the threshold: finance reviews
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    (task,) = api.tasks("finance", contract["id"])
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 1
    # nobody holds it: the supervisor of finance's department, which has no manager, is the office's head
    assert row(platform, task["id"]).escalated_to == "zhou"
    boss = as_user("zhou")
    inbox = boss.get("/inbox?assignment=escalated").get_data(as_text=True)
    assert f"/tasks/{task['id']}" in inbox and "已升级" in inbox and "升级给我" in inbox
    assert f"/tasks/{task['id']}" not in boss.get("/inbox").get_data(as_text=True)  # not a sales task
    page = boss.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "已升级" in page and "周总" in page
    assert "已超时，升级至 周总" in as_user("sales").get(f"/contracts/{contract['id']}").get_data(as_text=True)
    back = api.call("POST", f"/tasks/{task['id']}/send-back", "zhou", {"to": "legal_review", "comment": "请法务复核"})
    assert back.status_code == 200, back.json  # the supervisor may send it back too
    assert back.json["contract"]["status"] == "legal_review"


def test_a_review_decided_before_it_is_due_is_not_escalated(api, platform, users):
    organisation(platform, users)
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    api.decide("legal", contract["id"], "approve")
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 0  # the customer's reminder is three days away
    assert escalations(api, contract["id"]) == [] and row(platform, task["id"]).escalated_to is None
    assert status(api, contract["id"]) == "awaiting_customer"


def test_a_review_sent_back_then_the_old_timer_finds_nothing_to_escalate(api, platform, users):
    organisation(platform, users)
    contract = create(api, load_fixture("contract-network-line.json"))
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    (finance,) = api.tasks("finance", contract["id"])
    back = api.call("POST", f"/tasks/{finance['id']}/send-back", "finance", {"to": "legal_review", "comment": "再看违约金"})
    assert back.status_code == 200, back.json
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 1  # the reopened legal review's own timer, afresh
    assert escalations(api, contract["id"]) == [("legal_review", "已超时，升级至 钱经理", "qian")]
    assert row(platform, finance["id"]).escalated_to is None  # the finance review went with its timer
    with platform.db.read() as session:
        assert platform.contracts.instance(session, contract["id"]).status == "running"


def test_a_withdrawn_review_leaves_no_timer_behind(api, platform, users):
    organisation(platform, users)
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    withdrawn = api.call("POST", f"/contracts/{contract['id']}/withdraw", "sales", {"comment": "客户要改带宽"})
    assert withdrawn.status_code == 200, withdrawn.json
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 0
    assert escalations(api, contract["id"]) == [] and status(api, contract["id"]) == "draft"
    with platform.db.read() as session:
        instance = platform.contracts.instance(session, contract["id"])
        assert (instance.status, instance.next_timer_at) == ("running", None)


def test_an_organisation_without_a_supervisor_records_it_and_the_review_waits(api, platform):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 1
    assert [e["event"] for e in events(api, contract["id"])].count("escalation_unresolved") == 1
    assert row(platform, task["id"]).escalated_to is None and status(api, contract["id"]) == "legal_review"


def test_two_workers_escalate_once(api, platform, users, database_url):
    organisation(platform, users)
    contract = create(api, small_contract())
    submit(api, contract["id"])
    workers = [platform, Platform(database_url, audit_key=AUDIT_KEY.encode())]  # a second node: its own connections
    at, barrier, ran = utcnow() + OVERDUE, threading.Barrier(2), []

    def work(node, name):
        barrier.wait()
        ran.append(node.timers.run_due(at=at, worker_id=name))

    threads = [threading.Thread(target=work, args=(node, f"worker-{n}")) for n, node in enumerate(workers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    workers[1].db.dispose()
    assert sorted(ran) == [0, 1] and len(escalations(api, contract["id"])) == 1
    with platform.db.read() as session:
        assert len(session.exec(select(OutboxMail).where(OutboxMail.kind == "task_escalated")).all()) == 1
        assert session.exec(select(ProcessInstance.status)).all().count("error") == 0
