"""In a real browser: legal returns a contract with a comment from the inbox; sales sees it and resubmits."""
import pytest

from tests.conftest import load_fixture, screenshot
from tests.web.browsing import sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_legal_returns_and_sales_resubmits(api, live_url, page):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")

    sign_in(page, live_url, "legal")
    assert page.locator("h1").inner_text() == "待办"
    screenshot(page, "inbox-legal")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核")
    page.wait_for_selector("text=您的决定")
    screenshot(page, "task-legal-review")
    page.check("input[value=return]")
    page.click("text=提交决定")
    refusal = page.locator("#comment ~ .error-text[role=alert]")  # the comment's own error, beside the field
    assert refusal.count() == 1 and refusal.inner_text().strip() and page.locator("#comment").is_visible()
    page.check("input[value=return]")
    page.fill("#comment", "第十一条联系人与首页不一致")
    page.click("text=提交决定")
    page.wait_for_selector("text=草稿（客户经理）")
    sign_out(page)

    sign_in(page, live_url, "sales")
    assert page.locator(f"tr:has-text('{contract['number']}') .badge.returned").inner_text() == "李娜退回"
    screenshot(page, "inbox-sales-returned")
    page.click(f"tr:has-text('{contract['number']}') >> text=编制合同草稿")
    page.wait_for_selector(".card.returned >> text=第十一条联系人与首页不一致")
    assert page.locator(".card.returned >> text=编辑草稿").is_visible()
    screenshot(page, "task-sales-returned")
    page.check("input[value=submit]")
    page.click("text=提交决定")
    page.wait_for_selector("text=法务审核中")
    screenshot(page, "contract-resubmitted")
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "legal_review"


def test_the_form_shows_the_payment_plan_chosen(live_url, page):
    sign_in(page, live_url, "sales")
    page.goto(f"{live_url}/contracts/new")
    instalments, periodic = page.locator("[data-plan=installments]"), page.locator("[data-plan=periodic]")
    assert instalments.is_visible() and not periodic.is_visible()
    page.select_option("#plan_kind", "periodic")
    assert periodic.is_visible() and not instalments.is_visible()
