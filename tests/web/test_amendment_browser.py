"""In a real browser, after activation: sales start a renewal draft from the contract page, then propose a change of
the fee on the same page; the customer's signer, signed in through the identity provider on a phone, reads it on the
signing page and agrees, then signs the 补充协议 from the portal with a one-time code; once the provider signed and
sealed it, both pages show the terms in force with the new total and where it came from."""
import threading
from datetime import timedelta

import pytest

from tests.conftest import Api, screenshot
from tests.lifecycle.helpers import sign_amendment, sign_both, today
from tests.web.browsing import SCREENS, sign_in
from tests.web.customer_flow import LiveApp, contract_at_customer, invitation_links
from tests.web.test_customer_browser import sign_in_and_accept

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path)
    yield server
    server.close()


def in_a_thread(call):
    """Signing (pyHanko runs asyncio) outside the thread where Playwright keeps its event loop."""
    worker = threading.Thread(target=call)
    worker.start()
    worker.join()


def test_sales_renew_and_propose_a_change_the_customer_agrees_on_a_phone(live, chromium):
    api = Api(live.app.test_client(), live.platform)
    contract = contract_at_customer(api)
    contract_id = contract["id"]
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract_id)
    phone = chromium.new_context(**SCREENS["phone"], locale="zh-CN").new_page()
    desk = chromium.new_context(**SCREENS["desk"], locale="zh-CN").new_page()
    errors = []
    for page in (phone, desk):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the customer's signer accepts the invitation (signing in at the identity provider); the integration signs
    sign_in_and_accept(phone, live, link, contract_id)
    in_a_thread(lambda: sign_both(api, contract_id))

    # sales: a renewal draft from the active contract, then a change of the fee
    sign_in(desk, live.base, "sales")
    desk.goto(f"{live.base}/contracts/{contract_id}")
    desk.click("#start-renewal button[type=submit]")
    desk.wait_for_selector("text=已按原合同创建续签合同草稿")
    renewal_url = desk.url
    assert renewal_url != f"{live.base}/contracts/{contract_id}" and "续签自" in desk.content()
    screenshot(desk, "amendment-1-renewal-draft")
    desk.goto(f"{live.base}/contracts/{contract_id}")
    desk.click("#propose-amendment summary")
    for index in range(4):  # seed 003's four services, 270,000 each: the last one costs 30,000 more
        assert desk.input_value(f"input[name='items-{index}-amount']") == "270000.00"
    desk.fill("input[name='items-3-amount']", "300000.00")
    desk.fill("input[name='total']", "1110000.00")
    desk.fill("input[name='plan-amount']", "185000.00")
    desk.fill("#propose-amendment textarea[name='reason']", "定制化服务增加教师画像分析，费用相应调整")
    screenshot(desk, "amendment-2-propose")
    desk.click("#propose-amendment button[type=submit]")
    desk.wait_for_selector("text=已提出补充协议1")
    assert "待答复" in desk.inner_text("#amendment-1") and "合同总金额：由 ¥1,080,000.00 改为 ¥1,110,000.00" in \
        desk.inner_text("#amendment-1")

    # the customer, on the phone: from the portal to the change, its deadline, agree
    phone.goto(f"{live.base}/portal")
    phone.click("text=答复变更")
    phone.wait_for_url(f"{live.base}/sign/{contract_id}#amendments")
    card = phone.inner_text("#amendment-1")
    assert "合同总金额：由 ¥1,080,000.00 改为 ¥1,110,000.00" in card and "答复期限" in card
    screenshot(phone, "amendment-3-customer-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.click("#amendment-1 button[value=agree]")
    phone.wait_for_selector("text=您的答复已记录")
    assert "待签署" in phone.inner_text("#amendment-1")
    in_a_thread(api.run_jobs)  # the worker renders and certifies the 补充协议

    # from the portal to the 补充协议: read its PDF, a code, sign with the typed name
    phone.goto(f"{live.base}/portal")
    phone.click("text=签署补充协议")
    phone.wait_for_url(f"{live.base}/sign/{contract_id}/amendments/1")
    assert phone.get_attribute("#supplement-pdf", "href").endswith(f"/sign/{contract_id}/amendments/1/document.pdf")
    phone.check("input[name=method][value=typed]")
    phone.check("#consent")
    phone.click("#intent-button")
    phone.wait_for_selector("#code-entry:not([hidden])")
    phone.fill("#intent_code", api.last_code(contract_id))
    screenshot(phone, "amendment-4-customer-signs-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.click("#sign-button")
    phone.wait_for_selector("text=补充协议1已签署")
    assert "乙方签署" in phone.inner_text("main")
    in_a_thread(lambda: sign_amendment(api, contract_id, 1, "signatory"))  # the provider signs and seals it

    phone.goto(f"{live.base}/sign/{contract_id}#amendments")
    terms = phone.inner_text("#effective-terms")
    assert "1,110,000.00" in terms and "定制化服务" in terms
    screenshot(phone, "amendment-5-in-effect")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    desk.goto(f"{live.base}/contracts/{contract_id}")
    assert "1,110,000.00" in desk.inner_text("#effective-terms")
    assert "已同意" in desk.inner_text("#amendment-1")
    screenshot(desk, "amendment-6-contract-page")
    instalments = api.call("GET", f"/contracts/{contract_id}/payments?as_of={today() + timedelta(days=1)}",
                           "finance").json["instalments"]
    assert {row["amount"] for row in instalments if row["paid"] == "0.00"} == {"185000.00"}
    assert errors == []
