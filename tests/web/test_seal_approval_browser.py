"""In a real browser: the branch head approves the seal (用印审批) of a contract above his signatory's seal rights from
his inbox, then the signatory countersigns it."""
import pytest

from tests.conftest import screenshot
from tests.process.test_seal_approval import large_contract, signed_by_customer
from tests.web.browsing import sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def signed(api):
    """Signed by the customer before the browser starts (pyHanko signs outside Playwright's event loop)."""
    return signed_by_customer(api, large_contract())


def test_the_branch_head_approves_the_seal_then_the_signatory_countersigns(api, signed, live_url, page):
    contract_id = signed
    number = api.call("GET", f"/contracts/{contract_id}", "sales").json["number"]

    sign_in(page, live_url, "branch_head")
    page.goto(f"{live_url}/inbox")
    page.click(f"tr:has-text('{number}') >> text=用印审批")
    page.wait_for_selector("text=您的决定")
    assert page.locator("text=¥3,200,000.00").count() >= 1  # the contract's figures, as the approver reads them
    screenshot(page, "task-seal-approval")
    page.check("input[name=decision][value=approve]")
    page.fill("#comment", "同意用印")
    page.click("text=提交决定")
    page.wait_for_selector(".flash.success")
    screenshot(page, "seal-approved")
    assert "同意用印 · 王建国" in " ".join(page.locator(".timeline").inner_text().split())  # the history, in his name
    sign_out(page)

    sign_in(page, live_url, "signatory")
    page.goto(f"{live_url}/inbox")
    page.click(f"tr:has-text('{number}') >> text=乙方会签盖章")
    page.wait_for_selector("text=您的决定")
    page.click("button:has-text('发送确认码')")
    page.wait_for_selector(".flash.success")
    page.fill("#intent_code", api.last_code(contract_id))
    page.check("input[name=decision][value=sign]")
    page.click("text=提交决定")
    page.wait_for_selector(".flash.success")
    assert page.locator(".badge.active").inner_text() == "已生效"
