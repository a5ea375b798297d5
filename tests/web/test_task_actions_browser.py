"""In a real browser: legal adds finance as a reviewer (加签) before deciding; finance sends a contract back to legal
review (回退); and the inbox's bulk approval."""
import pytest

from tests.conftest import load_fixture, screenshot
from tests.web.browsing import sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def submitted(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    return contract


def status(api, contract_id):
    return api.call("GET", f"/contracts/{contract_id}", "sales").json["status"]


def test_legal_adds_finance_before_deciding(api, live_url, page):
    contract = submitted(api)
    sign_in(page, live_url, "legal")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核")
    page.wait_for_selector("#add-reviewer")
    page.select_option("#reviewer", "finance")
    page.check("#add-reviewer input[value=before]")
    page.fill("#add-reason", "付款节点请财务先确认")
    screenshot(page, "task-add-reviewer")
    page.click("text=确认加签")
    page.wait_for_selector("#waiting-for-added >> text=正在等待加签人 赵静 的意见")
    assert page.locator("text=提交决定").count() == 0
    screenshot(page, "task-waiting-for-added-reviewer")
    sign_out(page)

    sign_in(page, live_url, "finance")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核（加签）")
    page.wait_for_selector("text=李娜 请您加签审核")
    screenshot(page, "task-added-reviewer")
    page.check("input[value=approve]")
    page.fill("#comment", "付款节点无误")
    page.click("text=提交决定")
    page.wait_for_selector("text=法务审核中")
    sign_out(page)

    sign_in(page, live_url, "legal")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核")
    page.check("input[value=approve]")
    page.click("text=提交决定")
    page.wait_for_selector("text=财务审核中")
    timeline = page.locator(".timeline").inner_text()
    assert "已加签" in timeline and "赵静" in timeline and "（李娜 加签）" in timeline
    assert status(api, contract["id"]) == "finance_review"


def test_finance_sends_the_contract_back_to_legal(api, live_url, page):
    contract = submitted(api)
    (legal,) = api.call("GET", f"/tasks?contract_id={contract['id']}", "legal").json["items"]
    api.call("POST", f"/tasks/{legal['id']}/complete", "legal", {"decision": "approve"})
    sign_in(page, live_url, "finance")
    page.click(f"tr:has-text('{contract['number']}') >> text=财务审核")
    page.wait_for_selector("#send-back")
    assert page.locator("#send-back-to option").all_inner_texts() == ["编制合同草稿", "法务审核"]
    page.select_option("#send-back-to", "legal_review")
    page.fill("#send-back-comment", "违约金比例请法务再看")
    screenshot(page, "task-send-back")
    page.click("#send-back button[type=submit]")
    page.wait_for_selector("text=合同已回退到：法务审核")
    page.wait_for_selector("text=法务审核中")
    sign_out(page)

    sign_in(page, live_url, "legal")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核")
    page.wait_for_selector("text=您的决定")
    assert "违约金比例请法务再看" in page.locator(".timeline").inner_text()
    screenshot(page, "task-sent-back-to-legal")
    assert status(api, contract["id"]) == "legal_review"


def test_bulk_approval_in_the_inbox(api, live_url, page):
    contracts = [submitted(api) for _ in range(2)]
    sign_in(page, live_url, "legal")
    for contract in contracts:
        page.check(f"tr:has-text('{contract['number']}') input[name=task_ids]")
    screenshot(page, "inbox-bulk")
    page.click("text=批量通过所选待办")
    page.wait_for_selector(".flash.success >> nth=1")
    assert page.locator(".flash.success").count() == 2
    screenshot(page, "inbox-bulk-done")
    assert [status(api, c["id"]) for c in contracts] == ["finance_review", "finance_review"]


def test_bulk_resend_in_the_register(api, live_url, page):
    contract = submitted(api)
    for role in ("legal", "finance"):
        (task,) = api.call("GET", f"/tasks?contract_id={contract['id']}", role).json["items"]
        api.call("POST", f"/tasks/{task['id']}/complete", role, {"decision": "approve"})
    sign_in(page, live_url, "sales")
    page.goto(f"{live_url}/contracts?status=awaiting_customer")
    page.check(f"tr:has-text('{contract['number']}') input[name=contract_ids]")
    screenshot(page, "register-bulk-resend")
    page.click("text=为所选合同重发签署邀请")
    page.wait_for_selector(f".flash.success >> text={contract['number']}：已发出新的邀请。")
    assert page.url.endswith("/contracts?status=awaiting_customer")
