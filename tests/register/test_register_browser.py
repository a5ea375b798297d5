"""The register in a real browser at desk width: search the clauses, pick a canned filter, save the search, run it again
from the list (screenshots in test-artifacts/screenshots/register-*.png)."""
import pytest
from playwright.sync_api import expect

from tests.conftest import screenshot
from tests.register.helpers import MACHINE_ROOM, city, drafted, school
from tests.web.browsing import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_legal_finds_saves_and_reruns_a_search(api, live_url, page):
    first = drafted(api, school(special_terms=MACHINE_ROOM))
    second = drafted(api, city())
    sign_in(page, live_url, "legal")
    page.goto(f"{live_url}/contracts")
    page.fill("#text", "机房内施工")
    page.select_option("#status", "draft")
    page.click("form.filters button[type=submit]")  # the click does not wait for the next page: the assertion retries
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert first["number"] in page.inner_text("table.list") and second["number"] not in page.inner_text("table.list")
    page.fill("#filter-name", "机房施工草稿")
    page.click(".register-actions button[type=submit]")
    page.wait_for_selector("text=已保存查询“机房施工草稿”")
    screenshot(page, "register-saved")
    page.goto(f"{live_url}/contracts?canned=expiring&days=0&min_total=1.005")  # the browser checks days itself
    page.wait_for_selector("#days-error")
    assert page.is_visible("#min_total-error")
    screenshot(page, "register-refused")
    page.click("text=机房施工草稿")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert page.input_value("#text") == "机房内施工"
