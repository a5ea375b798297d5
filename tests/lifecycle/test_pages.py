"""The contract page after activation, in Chinese: the term card, the renewal button (linking both pages), the
notice of non-renewal and the termination form with its field errors."""
import re
import threading
from datetime import timedelta

import pytest

from tests.conftest import Api, IsolatedClient, screenshot
from tests.lifecycle.helpers import active_contract, detail, today
from tests.web.browsing import sign_in


def test_sales_renew_give_notice_and_terminate_from_the_contract_page(api, as_user):
    contract_id = active_contract(api, days_left=200, auto_renew_months=12, notice_days=30)
    number = detail(api, contract_id)["number"]
    sales = as_user("sales")
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    for text in ("服务期、续签与终止", "当前服务期", "除非任何一方在届满前 30 日书面通知不再续展，否则自动续展 12 个月",
                 "不续展通知截止日", "发起续签", "发出不续展通知", "提前终止", "确认提前终止"):
        assert text in page, text
    legal_page = as_user("legal").get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "服务期、续签与终止" in legal_page and "发起续签" not in legal_page and "确认提前终止" not in legal_page

    renewed = sales.post(f"/contracts/{contract_id}/renewal", page=f"/contracts/{contract_id}", follow_redirects=True)
    text = renewed.get_data(as_text=True)
    assert "已按原合同创建续签合同草稿" in text and "续签自" in text and number in text
    renewal_id = detail(api, contract_id)["lifecycle"]["renewed_by"]["id"]
    assert f"/contracts/{contract_id}\"" in text and renewed.request.path == f"/contracts/{renewal_id}"
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "续签合同" in page and f"/contracts/{renewal_id}\"" in page and "发起续签</button>" not in page

    noticed = sales.post(f"/contracts/{contract_id}/non-renewal", {"comment": "客户拟招标"},
                         page=f"/contracts/{contract_id}", follow_redirects=True).get_data(as_text=True)
    assert "已发出不续展通知：合同将于服务期届满时终止" in noticed and "乙方已于" in noticed

    too_early = (today() + timedelta(days=29)).isoformat()
    refused = sales.post(f"/contracts/{contract_id}/termination", {"effective_on": too_early, "reason": "业务调整"},
                         page=f"/contracts/{contract_id}", follow_redirects=True).get_data(as_text=True)
    assert "终止生效日期：按合同约定须提前 30 日通知" in refused
    day = (today() + timedelta(days=30)).isoformat()
    done = sales.post(f"/contracts/{contract_id}/termination", {"effective_on": day, "reason": "业务调整"},
                      page=f"/contracts/{contract_id}", follow_redirects=True).get_data(as_text=True)
    assert "已记录提前终止" in done and "终止生效日" in done and "业务调整" in done
    assert "确认提前终止" not in done and re.search(r"已提前终止|已生效", done)


@pytest.mark.browser
def test_screenshots_of_the_term_card(app, platform, live_url, page):
    made = []  # signing (pyHanko) runs outside the thread where Playwright keeps its event loop

    def active_and_renewed():
        api = Api(IsolatedClient(app, app.response_class), platform)
        contract_id = active_contract(api, 200, auto_renew_months=12, notice_days=30)
        renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json
        made.append((contract_id, renewal["id"]))
    worker = threading.Thread(target=active_and_renewed)
    worker.start()
    worker.join()
    ((contract_id, renewal_id),) = made
    sign_in(page, live_url, "sales")
    page.goto(f"{live_url}/contracts/{contract_id}")
    page.click("#terminate summary")
    assert page.locator("#lifecycle").is_visible()
    screenshot(page, "lifecycle-contract-page")
    page.goto(f"{live_url}/contracts/{renewal_id}")
    screenshot(page, "lifecycle-renewal-draft")
