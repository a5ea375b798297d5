"""The payment pages: the 收款计划 section of the contract page, finance's list with its record form and the bank
statement import, as people use them (forms with CSRF tokens, and a real browser with screenshots)."""
import io
import re
from datetime import datetime, timezone

import pytest

from tests.conftest import SCREENSHOTS, screenshot
from tests.letters.helpers import activate, technical_service
from tests.web.browsing import SCREENS, sign_in


@pytest.fixture
def seed_003(api):
    return activate(api, {**technical_service(), "late_fee_rate_per_day": "0.0005"})


def text_of(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_finance_records_a_payment_and_the_contract_page_shows_the_plan(as_user, seed_003):
    finance = as_user("finance")
    listed = finance.get(f"/payments?contract={seed_003}")
    assert listed.status_code == 200 and "第1期" in text_of(listed) and "登记收款" in text_of(listed)
    form = {"contract_id": str(seed_003), "instalment": "1", "version": "1", "amount": "90000.00",
            "received_on": "2025-07-01", "bank_reference": "B20250701-01"}
    done = finance.post(f"/payments/record?contract={seed_003}", form, page=f"/payments?contract={seed_003}")
    assert done.status_code == 302
    over = finance.post("/payments/record", {**form, "version": "2", "amount": "90000.01", "bank_reference": "B2"},
                        page="/payments")
    assert over.status_code == 422 and "超过该期未付金额 90,000.00 元" in text_of(over)
    lost = finance.post("/payments/record", {**form, "contract_id": ""}, page="/payments")
    assert lost.status_code == 422  # a form without its contract is a field error, not a 404
    stale = finance.post("/payments/record", {**form, "bank_reference": "B3", "amount": "1.00"}, page="/payments")
    assert stale.status_code == 409 and "刚刚登记了另一笔收款" in text_of(stale)
    page = text_of(finance.get(f"/contracts/{seed_003}"))
    assert "收款计划" in page and "应收 ¥1,080,000.00，已收 ¥90,000.00" in page
    assert "每逾期1日，按合同总费用的千分之0.5计" in page and "B20250701-01" in page and "登记收款" in page
    sales = as_user("sales")
    assert "登记收款" not in text_of(sales.get(f"/contracts/{seed_003}"))  # finance's link and form only
    assert "登记收款" not in text_of(sales.get(f"/payments?contract={seed_003}"))
    assert sales.post("/payments/record", form, page="/payments").status_code == 403


def test_finance_imports_a_statement_on_the_page(as_user, api, seed_003):
    number = api.call("GET", f"/contracts/{seed_003}", "finance").json["number"]
    finance = as_user("finance")
    statement = f"交易日期,金额,流水号,附言\n2025-07-05,180000.00,REF-A,{number}\n2025-07-06,5.00,REF-B,其他\n"

    def upload():
        return finance.post("/payments/import", {"file": (io.BytesIO(statement.encode()), "statement.csv")},
                            page="/payments", content_type="multipart/form-data")
    page = text_of(upload())
    assert "已登记（1）" in page and "未匹配到合同（1）" in page and "REF-B" in page
    assert "此前已登记，已跳过（1）" in text_of(upload())
    statement = "交易日期,金额,流水号,附言\n2025-07-05,abc,REF-C,x\n"
    refused = upload()
    assert refused.status_code == 422 and "未登记任何款项" in text_of(refused) and "第2行：金额无法识别" in text_of(refused)


@pytest.mark.browser
def test_the_payment_pages_in_a_browser(seed_003, chromium, live_url):  # signed before chromium runs its loop
    page = chromium.new_context(locale="zh-CN", **SCREENS["desk"]).new_page()
    sign_in(page, live_url, "finance")
    page.goto(f"{live_url}/payments?contract={seed_003}")
    row = f"#instalment-{seed_003}-1 + tr + tr" if page.locator(f"#instalment-{seed_003}-1 + tr.payments-of").count() \
        else f"#instalment-{seed_003}-1 + tr"
    page.fill(f"{row} input[name=amount]", "90000.00")
    page.fill(f"{row} input[name=received_on]", "2025-07-01")
    page.fill(f"{row} input[name=bank_reference]", "B20250701-01")
    page.click(f"{row} button[type=submit]")
    page.wait_for_selector(".flash.success")
    assert "已登记合同" in page.inner_text(".flash.success")
    screenshot(page, "payments-finance-list")
    page.goto(f"{live_url}/contracts/{seed_003}")
    plan = page.inner_text("#payment-plan")
    assert "收款计划" in plan and "¥90,000.00" in plan and "已逾期" in plan
    page.locator("#payment-plan").screenshot(path=str(screenshot_path("payments-contract-plan")))
    page.context.close()


def screenshot_path(name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


@pytest.fixture
def terminated_seed_003(api, seed_003):
    """Seed 003 terminated as of 2027-03-01: its instalments of 2027-06-30 and 2027-12-31 cancelled."""
    response = api.call("POST", f"/contracts/{seed_003}/termination", "sales",
                        {"effective_on": "2027-03-01", "reason": "学校撤并"})
    assert response.status_code == 200, response.json
    api.platform.timers.run_due(at=datetime(2027, 2, 28, 16, tzinfo=timezone.utc))  # 2027-03-01 00:00 in China
    return seed_003


@pytest.mark.browser
def test_what_a_terminated_contract_owes_in_a_browser(terminated_seed_003, chromium, live_url):
    page = chromium.new_context(locale="zh-CN", **SCREENS["desk"]).new_page()
    sign_in(page, live_url, "finance")
    page.goto(f"{live_url}/payments?within=90")
    row = page.locator(f"#instalment-{terminated_seed_003}-1")
    assert "已提前终止" in row.inner_text() and "已逾期" in row.inner_text()
    assert row.locator("xpath=following-sibling::tr[1]").locator("button:has-text('登记收款')").count() == 1
    screenshot(page, "payments-finance-list-terminated")
    page.goto(f"{live_url}/contracts/{terminated_seed_003}")
    plan = page.inner_text("#payment-plan")
    assert plan.count("因提前终止取消") == 2 and "应收 ¥720,000.00" in plan and "提前终止取消：¥360,000.00" in plan
    page.locator("#payment-plan").screenshot(path=str(screenshot_path("payments-contract-plan-terminated")))
    page.context.close()
