"""The dashboard page (统计) in Chinese with its figures as tables, its charts in a real browser, and the JSON API,
on the world of tests/dashboards/world.py with the dashboard's clock fixed at its NOW."""
import json
import re

import pytest

from tests.conftest import screenshot
from tests.dashboards.world import NOW, build
from tests.web.browsing import SCREENS, sign_in
from workflows.services import dashboards

pytestmark = pytest.mark.db


@pytest.fixture
def world(platform, monkeypatch):
    monkeypatch.setattr(dashboards, "utcnow", lambda: NOW)
    return build(platform)


def text_of(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_page_shows_every_figure_in_chinese(as_user, world):
    html = as_user("finance").get("/dashboard").get_data(as_text=True)
    text = text_of(html.split('<script type="application/json"')[0] + html.split("</script>", 3)[-1])
    for heading in ("各状态合同数", "每月合同数", "每月签约金额", "各环节办理时长", "合同当前停留环节", "逾期分期款",
                    "即将到期的合同"):
        assert heading in text, heading
    assert "已生效 4" in text and "法务审核中 1" in text  # the statuses' Chinese names, not their codes
    assert "active" not in text and "legal_review" not in text
    assert "2026-02 1 2 ¥3,000.35" in text and "2026-03 2 1 ¥300.33" in text
    assert "法务审核 5 3.0 小时 7.6 小时" in text and "财务审核 1 0.5 小时 0.5 小时" in text
    assert "法务审核 2 1 1 0 1 0 0" in text and "客户签署 1 1 0 0 0 0 1" in text
    assert "2 份合同的 3 期款项逾期，未付 ¥1,060.43" in text
    assert "超过 90 天 1 ¥1,000.10" in text
    assert "30 天内 1" in text and "60 天内 2" in text and "90 天内 3" in text
    assert "客户c2" in text  # waiting longest: the customer's name and the contract's number
    charts = json.loads(re.search(r'id="dashboard-charts">(.*?)</script>', html, re.S).group(1))
    assert charts["cycle"]["categories"] == ["法务审核", "财务审核"]
    assert charts["cycle"]["series"][1]["data"] == [7.6, 0.5]
    assert charts["value"]["series"][0]["data"][-2:] == ["3000.35", "300.33"]


def test_the_menu_links_the_page_for_those_who_may_see_it(as_user, world):
    assert 'href="/dashboard"' in as_user("legal").get("/inbox").get_data(as_text=True)
    assert 'href="/dashboard"' not in as_user("signatory").get("/inbox").get_data(as_text=True)


def test_the_api_gives_the_same_figures(api, world):
    response = api.call("GET", "/dashboard", "sales")
    assert response.status_code == 200, response.json
    figures = response.json
    assert figures["by_status"][0] == {"status": "active", "count": 4} and figures["total"] == 7
    assert figures["months"][-2] == {"month": "2026-02", "created": 1, "activated": 2, "value_signed": "3000.35"}
    assert figures["cycle_times"][0] == {"step": "legal_review", "title": "法务审核", "completed": 5,
                                         "p50_seconds": 10800.0, "p90_seconds": 27360.0}
    assert figures["overdue_instalments"]["outstanding"] == "1060.43"
    assert figures["expiring"] == [{"within_days": 30, "contracts": 1}, {"within_days": 60, "contracts": 2},
                                   {"within_days": 90, "contracts": 3}]
    assert api.call("GET", "/dashboard", "signatory").status_code == 403


@pytest.mark.browser
def test_the_charts_are_drawn_at_desk_width(world, chromium, live_url):
    page = chromium.new_context(locale="zh-CN", **SCREENS["desk"]).new_page()
    sign_in(page, live_url, "admin")
    page.goto(f"{live_url}/dashboard")
    page.wait_for_function("document.querySelectorAll('.chart svg').length === 7")
    for chart in ("status", "months", "value", "cycle", "waiting", "overdue", "expiring"):
        drawn = page.locator(f'[data-chart="{chart}"] svg path').count()
        assert drawn > 5, (chart, drawn)
    assert "法务审核" in page.inner_text('[data-chart="cycle"]') or page.locator(
        '[data-chart="cycle"] svg text', has_text="法务审核").count()
    # the figures read without JavaScript: cells spaced apart, a step's name on one line beside seven figures
    padding = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.dashboard td')).paddingLeft)")
    assert padding >= 8, padding
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.dashboard td')).lineHeight)")
    rows = page.evaluate("[...document.querySelectorAll('.dashboard tbody tr')].map(row => row.offsetHeight)")
    assert rows and max(rows) < 2 * line, (line, rows)
    screenshot(page, "dashboard-desk")
    page.context.close()
