"""In a real browser: 张三 sets an out-of-office period on 外出设置 with 王五 as substitute; a task named for 张三
arrives meanwhile, and 王五 finds it in the inbox as 王五（代 张三）."""
from datetime import timedelta

import pytest

from tests.conftest import screenshot
from tests.process.test_substitutes import named_task, submitted, team  # noqa: F401 - the fixture: 张三, 王五 ...
from tests.web.browsing import sign_in, sign_out
from workflows.clock import CHINA, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_absence_set_in_the_page_sends_the_task_to_the_substitute(api, platform, team, live_url, page):  # noqa: F811
    sign_in(page, live_url, "zhangsan")
    page.click("nav >> text=外出设置")
    page.wait_for_selector("#new-period")
    now = utcnow().astimezone(CHINA)
    page.fill("#starts_at", f"{now - timedelta(minutes=5):%Y-%m-%dT%H:%M}")
    page.fill("#ends_at", f"{now + timedelta(days=2):%Y-%m-%dT%H:%M}")
    page.select_option("#substitute", label="王五")
    page.fill("#reason", "出差")
    page.click("#new-period >> text=保存")
    page.wait_for_selector("text=外出设置已保存")
    assert "外出中" in page.locator("#periods").inner_text()
    screenshot(page, "out-of-office")
    sign_out(page)

    contract_id = submitted(api)
    task = named_task(platform, contract_id)
    sign_in(page, live_url, "wangwu")
    row = page.locator(f"tr:has(#task-{task.id})")
    assert "王五（代 张三）" in row.inner_text()
    row.locator(f"#task-{task.id}").click()
    page.wait_for_url(f"**/tasks/{task.id}")
    page.wait_for_selector("text=您的决定")
    assert "王五（代 张三）" in page.locator("dl.facts").inner_text()
    screenshot(page, "task-for-substitute")
