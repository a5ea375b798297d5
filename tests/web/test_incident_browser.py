"""In a real browser: an admin sees why a contract's process stopped and resumes it from the contract page."""
import pytest

from tests.conftest import screenshot
from tests.process.test_incidents import stopped  # noqa: F401  (the fixture: a contract whose legal step failed)
from tests.web.browsing import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_resumes_a_stopped_process_from_the_contract_page(api, live_url, page, stopped):  # noqa: F811
    contract, task_id, _ = stopped
    sign_in(page, live_url, "admin")
    page.goto(f"{live_url}/contracts/{contract['id']}")
    banner = page.locator("#incident")
    assert "审批流程出错已停止" in banner.inner_text() and "approved_word" in banner.inner_text()
    screenshot(page, "contract-process-stopped")
    banner.locator("button", has_text="恢复运行").click()
    page.wait_for_load_state()
    assert page.locator("#incident").count() == 0
    screenshot(page, "contract-process-resumed")
    assert [t["id"] for t in api.tasks("legal", contract["id"])] == [task_id]
