"""加签, 转办, 回退, 撤回 and bulk decisions through the REST API: who may, what the process does, what history keeps."""
import threading

import pytest
from sqlmodel import select

from tests.conftest import PG_URL, load_fixture
from tests.process.test_concurrency import post
from tests.process.test_lifecycle import create, events, small_contract, status, submit
from workflows.models import HumanTask, OutboxMail


@pytest.fixture
def colleagues(platform):
    """A second legal reviewer and a second finance reviewer."""
    with platform.db.write() as session:
        platform.accounts.create_user(session, "legal2", ["legal"], "another-pass", "王律", "legal2@provider.example")
        platform.accounts.create_user(session, "finance2", ["finance"], "another-pass", "孙会", "finance2@provider.example")


def at_legal(api, draft=None):
    contract = create(api, draft or load_fixture("contract-network-line.json"))
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    return contract["id"], task


def at_finance(api):
    contract_id, _legal = at_legal(api)
    api.decide("legal", contract_id, "approve", "条款无误")
    (task,) = api.tasks("finance", contract_id)
    return contract_id, task


def add(api, user, task_id, reviewer, position, reason="请财务确认付款条件"):
    return api.call("POST", f"/tasks/{task_id}/add-reviewer", user,
                    {"reviewer": reviewer, "position": position, "reason": reason})


def complete(api, user, task_id, decision, comment=""):
    return api.call("POST", f"/tasks/{task_id}/complete", user, {"decision": decision, "comment": comment})


def mails_to(platform, address):
    with platform.db.read() as session:
        return session.exec(select(OutboxMail.kind).where(OutboxMail.to_addr == address)).all()


# --- 加签 ---------------------------------------------------------------------------------------------------------------
def test_a_reviewer_added_before_decides_first_then_the_step_is_its_reviewers(api, platform):
    contract_id, task = at_legal(api)
    refused = add(api, "legal", task["id"], "finance", "before", "")
    assert refused.status_code == 422 and "reason" in refused.json["fields"]
    assert add(api, "sales", task["id"], "finance", "before").status_code == 403
    assert add(api, "legal", task["id"], "legal", "before").status_code == 422  # not oneself
    added = add(api, "legal", task["id"], "finance", "before")
    assert added.status_code == 201, added.json
    assert added.json["assignee"] == "finance" and added.json["role"] == "finance"
    assert added.json["title"] == "法务审核（加签）"
    assert "reviewer_added" in mails_to(platform, "finance@provider.example")
    waiting = complete(api, "legal", task["id"], "approve")
    assert waiting.status_code == 409 and "finance" in waiting.json["message"]
    assert add(api, "legal", task["id"], "finance", "after").status_code == 409  # one at a time
    assert complete(api, "finance", added.json["id"], "approve", "付款条件可以").status_code == 200
    assert status(api, contract_id) == "legal_review"  # the step is the legal reviewer's again
    assert complete(api, "legal", task["id"], "approve").status_code == 200
    assert status(api, contract_id) == "finance_review"
    history = events(api, contract_id)
    added_event = next(e for e in history if e["event"] == "reviewer_added")
    assert (added_event["actor"], added_event["details"]["to"], added_event["details"]["position"],
            added_event["comment"]) == ("legal", "finance", "before", "请财务确认付款条件")
    decisions = [(e["task_name"], e["actor"], e["decision"], e["details"].get("added_by"))
                 for e in history if e["event"] == "task_completed"]
    assert decisions[1:] == [("legal_review", "finance", "approve", "legal"), ("legal_review", "legal", "approve", None)]


def test_a_reviewer_added_after_an_approval_holds_the_process_until_they_approve(api, platform, colleagues):
    contract_id, task = at_legal(api)
    added = add(api, "legal", task["id"], "legal2", "after", "金额较大，请复核")
    assert added.status_code == 201, added.json
    assert status(api, contract_id) == "legal_review"  # approved, but not moved on
    assert complete(api, "legal2", task["id"], "approve").status_code == 403  # the step is held by legal
    assert complete(api, "legal", added.json["id"], "approve").status_code == 403  # the added task is legal2's
    assert complete(api, "legal2", added.json["id"], "approve", "同意").status_code == 200
    assert status(api, contract_id) == "finance_review"
    decisions = [(e["task_name"], e["actor"], e["decision"]) for e in events(api, contract_id)
                 if e["event"] in ("task_completed", "reviewer_added")]
    assert decisions[1:] == [("legal_review", "legal", "approve"), ("legal_review", "legal2", "approve"),
                             ("legal_review", "legal", "approve")]


def test_an_added_reviewer_may_return_the_contract_to_sales(api, platform):
    contract_id, task = at_legal(api)
    added = add(api, "legal", task["id"], "finance", "after").json
    refused = complete(api, "finance", added["id"], "return")
    assert refused.status_code == 422 and "comment" in refused.json["fields"]
    assert complete(api, "finance", added["id"], "return", "付款节点晚于服务期").status_code == 200
    assert status(api, contract_id) == "draft"
    returned = [e for e in events(api, contract_id) if e["decision"] == "return"]
    assert [(e["task_name"], e["actor"]) for e in returned] == [("legal_review", "finance"), ("legal_review", "finance")]
    with platform.db.read() as session:
        rows = session.exec(select(HumanTask.title, HumanTask.state).where(HumanTask.contract_id == contract_id)
                            .order_by(HumanTask.created_at)).all()
    assert [state for title, state in rows if title.startswith("法务审核")] == ["completed", "completed"]


# --- 转办 ---------------------------------------------------------------------------------------------------------------
def test_transfer_hands_the_task_to_a_named_holder_of_its_role(api, platform, colleagues):
    contract_id, task = at_finance(api)
    url = f"/tasks/{task['id']}/transfer"
    assert api.call("POST", url, "finance", {"to": "legal2", "reason": "出差"}).status_code == 422  # not finance
    assert api.call("POST", url, "finance", {"to": "finance2"}).status_code == 422  # a reason is required
    assert api.call("POST", url, "legal", {"to": "finance2", "reason": "出差"}).status_code == 403
    moved = api.call("POST", url, "finance", {"to": "finance2", "reason": "出差一周"})
    assert moved.status_code == 200 and moved.json["assignee"] == "finance2" and moved.json["delegated_by"] is None
    assert "task_transferred" in mails_to(platform, "finance2@provider.example")
    assert api.call("POST", url, "finance", {"to": "finance", "reason": "回来了"}).status_code == 403  # no longer theirs
    assert complete(api, "finance", task["id"], "approve").status_code == 403
    assert complete(api, "finance2", task["id"], "approve").status_code == 200
    history = events(api, contract_id)
    (handed,) = [e for e in history if e["event"] == "task_transferred"]
    assert (handed["actor"], handed["details"]["from"], handed["details"]["to"], handed["comment"]) == \
        ("finance", "finance", "finance2", "出差一周")
    decided = [e for e in history if e["task_name"] == "finance_review" and e["event"] == "task_completed"]
    assert [(e["actor"], e["on_behalf_of"]) for e in decided] == [("finance2", None)]  # in their own name


# --- 回退 ---------------------------------------------------------------------------------------------------------------
def test_finance_sends_the_contract_back_to_legal_review(api, platform):
    contract_id, task = at_finance(api)
    steps = api.call("GET", f"/tasks/{task['id']}/send-back", "finance").json["items"]
    assert steps == [{"name": "prepare_draft", "title": "编制合同草稿"}, {"name": "legal_review", "title": "法务审核"}]
    url = f"/tasks/{task['id']}/send-back"
    assert api.call("POST", url, "finance", {"to": "legal_review"}).status_code == 422  # a comment is required
    assert api.call("POST", url, "finance", {"to": "finance_review", "comment": "x"}).status_code == 422
    assert api.call("POST", url, "finance", {"to": ["legal_review"], "comment": "x"}).status_code == 422
    assert api.call("POST", url, "legal", {"to": "legal_review", "comment": "x"}).status_code == 403
    back = api.call("POST", url, "finance", {"to": "legal_review", "comment": "违约金条款请法务再看"})
    assert back.status_code == 200, back.json
    assert back.json["contract"]["status"] == "legal_review" and back.json["task"]["state"] == "open"
    assert api.call("POST", url, "finance", {"to": "legal_review", "comment": "again"}).status_code == 409
    (legal,) = api.tasks("legal", contract_id)
    assert legal["name"] == "legal_review" and api.tasks("finance", contract_id) == []
    with platform.db.read() as session:
        assert session.get(HumanTask, task["id"]).state == "cancelled"
        assert platform.contracts.get(session, contract_id).approved_sha256 == ""
    (sent,) = [e for e in events(api, contract_id) if e["event"] == "task_sent_back"]
    assert (sent["actor"], sent["details"]["to"], sent["details"]["to_user"], sent["comment"]) == \
        ("finance", "legal_review", "legal", "违约金条款请法务再看")
    assert "task_arrived" in mails_to(platform, "legal@provider.example")
    assert complete(api, "legal", legal["id"], "approve").status_code == 200
    assert status(api, contract_id) == "finance_review"  # the process runs on from there as before


def test_sending_back_to_the_draft_lets_sales_edit_and_submit_again(api):
    contract_id, task = at_finance(api)
    back = api.call("POST", f"/tasks/{task['id']}/send-back", "finance", {"to": "prepare_draft", "comment": "重报价"})
    assert back.status_code == 200 and back.json["contract"]["status"] == "draft"
    patched = api.call("PATCH", f"/contracts/{contract_id}", "sales", {"title": "重新报价的专线合同"})
    assert patched.status_code == 200, patched.json
    assert submit(api, contract_id)["status"] == "legal_review"


def test_only_the_steps_of_this_round_are_offered(api):
    """After a return, the steps before it were reviewed on another version: going back there would skip legal."""
    contract_id, task = at_finance(api)
    assert complete(api, "finance", task["id"], "return", "重新报价").status_code == 200
    submit(api, contract_id)
    (legal,) = api.tasks("legal", contract_id)
    steps = api.call("GET", f"/tasks/{legal['id']}/send-back", "legal").json["items"]
    assert [s["name"] for s in steps] == ["prepare_draft"]
    refused = api.call("POST", f"/tasks/{legal['id']}/send-back", "legal", {"to": "finance_review", "comment": "x"})
    assert refused.status_code == 422
    api.decide("legal", contract_id, "approve")
    (finance,) = api.tasks("finance", contract_id)
    steps = api.call("GET", f"/tasks/{finance['id']}/send-back", "finance").json["items"]
    assert [s["name"] for s in steps] == ["prepare_draft", "legal_review"]


def test_a_step_waiting_for_an_added_reviewer_cannot_be_sent_back(api):
    contract_id, task = at_finance(api)
    add(api, "finance", task["id"], "legal", "before")
    refused = api.call("POST", f"/tasks/{task['id']}/send-back", "finance", {"to": "legal_review", "comment": "x"})
    assert refused.status_code == 409


# --- 撤回 ---------------------------------------------------------------------------------------------------------------
def test_sales_withdraw_a_submitted_contract_nobody_took_up(api, platform):
    contract_id, task = at_legal(api)
    assert api.call("POST", f"/contracts/{contract_id}/withdraw", "legal", {}).status_code == 403
    withdrawn = api.call("POST", f"/contracts/{contract_id}/withdraw", "sales", {"comment": "客户要改带宽"})
    assert withdrawn.status_code == 200, withdrawn.json
    assert withdrawn.json["contract"]["status"] == "draft" and withdrawn.json["task"]["name"] == "prepare_draft"
    assert api.tasks("legal", contract_id) == []
    again = api.call("POST", f"/contracts/{contract_id}/withdraw", "sales", {})
    assert again.status_code == 409
    (event,) = [e for e in events(api, contract_id) if e["event"] == "contract_withdrawn"]
    assert event["actor"] == "sales" and event["details"]["from"] == ["法务审核"] and event["comment"] == "客户要改带宽"
    assert submit(api, contract_id)["status"] == "legal_review"


def test_no_withdrawal_once_a_reviewer_claimed_or_decided(api):
    contract_id, task = at_legal(api)
    assert api.call("POST", f"/tasks/{task['id']}/claim", "legal").status_code == 200
    claimed = api.call("POST", f"/contracts/{contract_id}/withdraw", "sales", {})
    assert claimed.status_code == 409 and "李娜" in claimed.json["message"]
    api.call("POST", f"/tasks/{task['id']}/unclaim", "legal")
    api.decide("legal", contract_id, "approve")
    assert api.call("POST", f"/contracts/{contract_id}/withdraw", "sales", {}).status_code == 409
    assert status(api, contract_id) == "finance_review"


# --- bulk ----------------------------------------------------------------------------------------------------------------
def test_bulk_approval_decides_each_task_on_its_own(api, platform):
    first, task1 = at_legal(api)
    second, task2 = at_legal(api)
    third, task3 = at_legal(api)
    add(api, "legal", task3["id"], "finance", "before")  # this one waits for an added reviewer: refused alone
    bulk = api.call("POST", "/tasks/bulk-complete", "legal",
                    {"task_ids": [task1["id"], task3["id"], task2["id"]], "decision": "approve", "comment": "批量通过"})
    assert bulk.status_code == 200, bulk.json
    assert [(r["id"], r["ok"]) for r in bulk.json["items"]] == [(task1["id"], True), (task3["id"], False), (task2["id"], True)]
    assert bulk.json["items"][1]["error"] == "conflict"
    assert [status(api, c) for c in (first, second, third)] == ["finance_review", "finance_review", "legal_review"]
    approvals = [e for c in (first, second) for e in events(api, c) if e["decision"] == "approve"]
    assert [(e["actor"], e["comment"]) for e in approvals] == [("legal", "批量通过")] * 2


def test_bulk_approval_takes_tasks_of_one_step_only(api):
    contract_id, legal = at_legal(api)
    other, finance = at_finance(api)
    mixed = api.call("POST", "/tasks/bulk-complete", "admin",
                     {"task_ids": [legal["id"], finance["id"]], "decision": "approve"})
    assert mixed.status_code == 422 and "task_ids" in mixed.json["fields"]
    for body in ({"task_ids": [], "decision": "approve"}, {"task_ids": "x", "decision": "approve"},
                 {"task_ids": [legal["id"], legal["id"]], "decision": "approve"},
                 {"task_ids": [legal["id"]], "decision": "sign"}):
        assert api.call("POST", "/tasks/bulk-complete", "legal", body).status_code == 422, body
    refused = api.call("POST", "/tasks/bulk-complete", "sales", {"task_ids": [legal["id"]], "decision": "approve"})
    assert refused.status_code == 200 and refused.json["items"][0]["error"] == "forbidden"
    assert status(api, contract_id) == "legal_review"


def test_bulk_resend_invitations(api, platform):
    first = create(api, small_contract())["id"]
    submit(api, first)
    api.decide("legal", first, "approve")
    draft = create(api, small_contract())["id"]
    resent = api.call("POST", "/contracts/invitations/resend", "sales", {"contract_ids": [first, draft]})
    assert resent.status_code == 200, resent.json
    assert [(r["id"], r["ok"]) for r in resent.json["items"]] == [(first, True), (draft, False)]
    invited = [e["details"]["reason"] for e in events(api, first) if e["event"] == "customer_invited"]
    assert invited == ["invitation", "resent"]
    assert api.call("POST", "/contracts/invitations/resend", "legal", {"contract_ids": [first]}).status_code == 403
    assert api.call("POST", "/contracts/invitations/resend", "sales", {"contract_ids": [True]}).status_code == 422


# --- races (PostgreSQL) -----------------------------------------------------------------------------------------------
def at_once(*calls):
    """Run each (url, token, body) in its own thread, released together: their (status, body) in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, url, token, body):
        barrier.wait()
        results[index] = post(url, token, body)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return results


@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time")
def test_adding_a_reviewer_and_approving_at_once_one_wins(api, live_url, platform):
    for _ in range(4):
        contract_id, task = at_legal(api)
        api.call("POST", f"/tasks/{task['id']}/claim", "legal")
        base = f"{live_url}/api/v1/tasks/{task['id']}"  # the reviewer, in two windows
        results = at_once((f"{base}/add-reviewer", api.token("legal"),
                           {"reviewer": "finance", "position": "before", "reason": "请复核"}),
                          (f"{base}/complete", api.token("legal"), {"decision": "approve"}))
        assert sorted(code for code, _ in results) in ([200, 409], [201, 409]), results
        with platform.db.read() as session:
            step = session.get(HumanTask, task["id"])
            added = session.exec(select(HumanTask).where(HumanTask.contract_id == contract_id,
                                                         HumanTask.title == "法务审核（加签）")).all()
        assert (step.state, len(added)) in (("completed", 0), ("open", 1)), (step.state, added)


@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time")
def test_withdrawing_and_claiming_at_once_one_wins(api, live_url, platform):
    for _ in range(4):
        contract_id, task = at_legal(api)
        results = at_once((f"{live_url}/api/v1/contracts/{contract_id}/withdraw", api.token("sales"), {}),
                          (f"{live_url}/api/v1/tasks/{task['id']}/claim", api.token("legal"), {}))
        assert sorted(code for code, _ in results) == [200, 409], results
        with platform.db.read() as session:
            row = session.get(HumanTask, task["id"])
        withdrew = results[0][0] == 200
        assert (row.state, row.assignee) == (("cancelled", None) if withdrew else ("open", "legal"))


@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time")
def test_two_transfers_of_one_task_at_once_one_wins(api, live_url, platform, colleagues):
    for _ in range(4):
        contract_id, task = at_legal(api)
        url = f"{live_url}/api/v1/tasks/{task['id']}/transfer"
        results = at_once((url, api.token("legal"), {"to": "legal2", "reason": "出差"}),
                          (url, api.token("legal"), {"to": "legal2", "reason": "调岗"}))  # two windows
        # overlapping, the loser's compare-and-set fails (409); after the winner's commit, legal no longer holds it
        assert sorted(code for code, _ in results) in ([200, 409], [200, 403]), results
        with platform.db.read() as session:
            count = len([e for e in platform.history.for_contract(session, contract_id) if e.event == "task_transferred"])
        assert count == 1


@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time")
def test_sending_back_and_approving_at_once_one_wins(api, live_url, platform):
    for _ in range(4):
        contract_id, task = at_finance(api)
        base = f"{live_url}/api/v1/tasks/{task['id']}"
        results = at_once((f"{base}/send-back", api.token("finance"), {"to": "legal_review", "comment": "再看"}),
                          (f"{base}/complete", api.token("finance"), {"decision": "approve"}))
        assert sorted(code for code, _ in results) == [200, 409], results
        expected = "legal_review" if results[0][0] == 200 else "awaiting_customer"
        assert status(api, contract_id) == expected
