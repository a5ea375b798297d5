"""The task page's 加签, 转办, 回退 forms, the contract page's 撤回, and the bulk forms of the inbox and the register:
plain HTML forms that work without JavaScript, in Chinese, naming people."""
import re

from tests.process.test_lifecycle import create, events, small_contract, status, submit
from tests.process.test_task_actions import at_finance, at_legal


def text(response):
    return response.get_data(as_text=True)


def test_the_task_page_offers_adding_a_reviewer_and_the_step_waits_for_them(api, as_user):
    contract_id, task = at_legal(api)
    legal = as_user("legal")
    page = text(legal.get(f"/tasks/{task['id']}"))
    assert "加签" in page and "赵静（财务）" in page and "回退到之前的环节" in page and "编制合同草稿" in page
    done = legal.post(f"/tasks/{task['id']}/add-reviewer", {"reviewer": "finance", "position": "before",
                                                            "reason": "请财务确认付款条件"}, page=f"/tasks/{task['id']}")
    assert done.status_code == 302
    waiting = text(legal.get(f"/tasks/{task['id']}"))
    assert "正在等待加签人 赵静 的意见" in waiting and "提交决定" not in waiting
    assert "已加签" in waiting and "→ 赵静" in waiting  # the history names both
    (added,) = api.tasks("finance", contract_id)
    finance = as_user("finance")
    assert "李娜 请您加签审核" in text(finance.get(f"/tasks/{added['id']}"))
    decided = finance.post(f"/tasks/{added['id']}/decide", {"decision": "approve", "comment": "可以"},
                           page=f"/tasks/{added['id']}")
    assert decided.status_code == 302
    assert "提交决定" in text(legal.get(f"/tasks/{task['id']}"))


def test_refusals_are_shown_on_the_task_page(api, as_user):
    contract_id, task = at_legal(api)
    legal = as_user("legal")
    refused = legal.post(f"/tasks/{task['id']}/add-reviewer", {"reviewer": "finance", "position": "before", "reason": ""},
                         page=f"/tasks/{task['id']}", follow_redirects=True)
    assert "原因：required" in text(refused)
    assert status(api, contract_id) == "legal_review"


def test_sending_back_to_legal_from_the_task_page(api, as_user):
    contract_id, task = at_finance(api)
    finance = as_user("finance")
    done = finance.post(f"/tasks/{task['id']}/send-back", {"to": "legal_review", "comment": "违约金请再看"},
                        page=f"/tasks/{task['id']}", follow_redirects=True)
    assert "合同已回退到：法务审核" in text(done)
    assert status(api, contract_id) == "legal_review"
    (legal_task,) = api.tasks("legal", contract_id)
    history = text(as_user("legal").get(f"/tasks/{legal_task['id']}"))
    assert "回退到之前的环节" in history and "→ 法务审核（李娜）" in history and "违约金请再看" in history


def test_a_contract_sent_back_to_the_draft_is_flagged_for_sales(api, as_user):
    contract_id, task = at_finance(api)
    api.call("POST", f"/tasks/{task['id']}/send-back", "finance", {"to": "prepare_draft", "comment": "请重新报价"})
    inbox = text(as_user("sales").get("/inbox"))
    assert "赵静退回" in inbox
    (draft,) = api.tasks("sales", contract_id)
    assert "请重新报价" in text(as_user("sales").get(f"/tasks/{draft['id']}"))


def test_handing_over_from_the_task_page(api, as_user, platform):
    with platform.db.write() as session:
        platform.accounts.create_user(session, "legal2", ["legal"], "another-pass", "王律", "legal2@provider.example")
    contract_id, task = at_legal(api)
    legal = as_user("legal")
    done = legal.post(f"/tasks/{task['id']}/transfer", {"to": "legal2", "reason": "出差"}, page=f"/tasks/{task['id']}",
                      follow_redirects=True)
    assert "待办已转交给 王律" in text(done) and "已转办" in text(done)
    assert [e["details"]["to"] for e in events(api, contract_id) if e["event"] == "task_transferred"] == ["legal2"]


def test_sales_withdraw_from_the_contract_page(api, as_user):
    contract_id, _task = at_legal(api)
    sales = as_user("sales")
    assert "撤回" in text(sales.get(f"/contracts/{contract_id}"))
    done = sales.post(f"/contracts/{contract_id}/withdraw", {"comment": ""}, page=f"/contracts/{contract_id}",
                      follow_redirects=True)
    assert "已撤回" in text(done)
    assert status(api, contract_id) == "draft"


def test_bulk_approval_from_the_inbox_lists_each_result(api, as_user):
    first, task1 = at_legal(api)
    second, task2 = at_legal(api)
    legal = as_user("legal")
    inbox = text(legal.get("/inbox"))
    assert inbox.count('name="task_ids"') == 2 and "批量通过所选待办" in inbox
    done = legal.post("/inbox/bulk", {"task_ids": [task1["id"], task2["id"]], "decision": "approve", "comment": ""},
                      page="/inbox", follow_redirects=True)
    page = text(done)
    assert len(re.findall(r"法务审核：同意。", page)) == 2
    assert status(api, first) == status(api, second) == "finance_review"
    none = legal.post("/inbox/bulk", {"decision": "approve"}, page="/inbox", follow_redirects=True)
    assert "待办：" in text(none)


def test_bulk_resend_from_the_register(api, as_user):
    contract_id = create(api, small_contract())["id"]
    submit(api, contract_id)
    api.decide("legal", contract_id, "approve")
    sales = as_user("sales")
    listing = text(sales.get("/contracts?status=awaiting_customer"))
    assert f'name="contract_ids" value="{contract_id}"' in listing
    done = sales.post("/contracts/invitations/resend?status=awaiting_customer", {"contract_ids": [str(contract_id)]},
                      page="/contracts?status=awaiting_customer", follow_redirects=True)
    assert "已发出新的邀请" in text(done)
    assert [e["details"]["reason"] for e in events(api, contract_id) if e["event"] == "customer_invited"] == \
        ["invitation", "resent"]
