"""In a real browser: the invited customer signs in through the embedded provider's pages, draws a signature with
the mouse, ticks consent, signs, and sees the contract move on to countersigning."""
from pathlib import Path

import pytest

from tests.conftest import Api, screenshot
from tests.web.customer_flow import LiveApp, contract_at_customer, invitation_links
from webapp.signing_flow import last_code
from workflows.demo import DEMO_PASSWORD
from workflows.models import Signature

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAD = Path(__file__).resolve().parents[2] / "webapp" / "static" / "vendor" / "signature_pad.umd.min.js"


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path)
    yield server
    server.close()


def test_customer_draws_and_signs(live, chromium):
    if not PAD.exists():
        pytest.fail("webapp/static/vendor/signature_pad.umd.min.js is missing: run `make vendor`")
    api = Api(live.app.test_client(), live.platform)
    contract = contract_at_customer(api)
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract["id"])
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(link)
        screenshot(page, "customer-1-invitation")
        page.click("a[href*='/auth/oidc/login']")
        page.wait_for_selector("#idp-username")
        screenshot(page, "customer-2-idp-login")
        page.fill("#idp-username", "xu.yongli")
        page.fill("#idp-password", DEMO_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_selector("#allow")
        screenshot(page, "customer-3-idp-consent")
        page.click("#allow")
        page.wait_for_url(link)
        screenshot(page, "customer-4-accept")
        page.click("#accept")
        page.wait_for_url(f"{live.base}/sign/{contract['id']}")
        page.click("#intent-button")  # the intent check: a one-time code to the verified email
        page.wait_for_selector("#signature-pad", state="visible")
        with live.platform.db.read() as session:
            code = last_code(session, contract["id"])
        page.fill("#intent_code", code)
        pad = page.locator("#signature-pad")
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        x, y = box["x"], box["y"]
        page.mouse.move(x + 40, y + 120)
        page.mouse.down()
        for i in range(1, 30):  # a wavy stroke, like a hand would draw
            page.mouse.move(x + 40 + i * 12, y + 120 - (40 if i % 4 < 2 else -10) + i, steps=3)
        page.mouse.up()
        page.mouse.move(x + 120, y + 60)
        page.mouse.down()
        page.mouse.move(x + 160, y + 170, steps=8)
        page.mouse.up()
        assert page.is_checked("input[name=method][value=drawn]")
        page.check("#consent")
        screenshot(page, "customer-5-signing-page")
        page.click("#sign-button")
        page.wait_for_url(f"{live.base}/portal")
        page.wait_for_selector(f"tr:has-text('{contract['number']}') .badge.countersigning")
        screenshot(page, "customer-6-portal-signed")
        assert errors == []
    finally:
        context.close()
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "countersigning"
    with live.platform.db.read() as session:
        (row,) = session.exec(Signature.__table__.select()).all()
    assert row.method == "drawn" and row.image_png.startswith(b"\x89PNG") and len(row.image_png) > 1000
