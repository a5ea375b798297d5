"""In a real browser: 添加一行 and 删除 change the contract form's lists in the page, without a round trip, and what
the page added is saved as typed."""
import pytest

from tests.conftest import load_fixture, screenshot
from tests.web.browsing import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def row_names(page, list_name):
    return page.eval_on_selector_all(f'table[data-rows="{list_name}"] tbody input[name$="-name"]',
                                     "inputs => inputs.map(input => [input.name, input.value])")


def test_rows_are_added_and_removed_in_the_page_and_saved_as_typed(api, live_url, page):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    sign_in(page, live_url, "sales")
    page.goto(f"{live_url}/contracts/{contract['id']}/edit")
    page.evaluate("window.stillThisPage = true")
    address = page.url

    page.click('[data-add-row="items"]')
    assert page.evaluate("window.stillThisPage") is True and page.url == address  # no request, no reload
    assert [name for name, _value in row_names(page, "items")] == [f"items-{index}-name" for index in range(5)]
    assert page.evaluate("document.activeElement.name") == "items-4-name"
    page.fill('[name="items-4-name"]', "阅卷服务（二期）")
    page.fill('[name="items-4-content"]', "扫描答题卡并评阅")
    page.fill('[name="items-4-amount"]', "270000.00")
    page.click('[value="remove:items-1"]')  # 阅卷服务 goes; the rows after it move up one number
    assert page.evaluate("window.stillThisPage") is True
    assert row_names(page, "items") == [["items-0-name", "考试服务"], ["items-1-name", "异常问题处理"],
                                        ["items-2-name", "定制化服务"], ["items-3-name", "阅卷服务（二期）"]]
    assert page.get_attribute('[name="items-3-amount"]', "id") == "items-3-amount"
    page.select_option("#plan_kind", "installments")
    page.click('[data-add-row="installments"]')
    page.click('[value="remove:installments-0"]')
    assert page.locator('table[data-rows="installments"] tbody tr').count() == 1
    screenshot(page, "contract-form-rows-added")

    page.select_option("#plan_kind", "periodic")
    page.click("button[value=save]")
    page.wait_for_url(f"{live_url}/contracts/{contract['id']}")
    saved = api.call("GET", f"/contracts/{contract['id']}", "sales").json
    assert saved["version"] == 2
    assert [(item["name"], item["content"], item["amount"]) for item in saved["data"]["items"]] == [
        ("考试服务", "辅助安排考场及考试时间", "270000.00"), ("异常问题处理", "处理考试出现的问题及异常卷", "270000.00"),
        ("定制化服务", "老师个性化数据的提取", "270000.00"), ("阅卷服务（二期）", "扫描答题卡并评阅", "270000.00")]


def test_the_form_at_phone_width_keeps_its_lists_inside_the_page(api, live_url, chromium):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live_url, "sales")
    page.goto(f"{live_url}/contracts/new")
    page.click('[data-add-row="items"]')
    assert page.locator('table[data-rows="items"] tbody tr').count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the lists scroll inside their card
    screenshot(page, "contract-form-390")
    context.close()
