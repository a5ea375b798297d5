"""In a real browser: the invited customer signs in through the embedded provider's pages, fills in the letter, draws
a signature (the mouse on a desk, a finger on a phone), ticks consent, mistypes the code (what was drawn and ticked
stays), signs the contract and its letter with one code, and sees the contract move on to countersigning."""
import threading
from pathlib import Path

import pytest

from tests.conftest import Api, screenshot
from tests.web.browsing import INKED, SCREENS, draw_signature
from tests.web.customer_flow import LiveApp, contract_at_customer, invitation_links
from workflows.demo import DEMO_PASSWORD
from workflows.models import Signature

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAD = Path(__file__).resolve().parents[2] / "webapp" / "static" / "vendor" / "signature_pad.umd.min.js"


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path)
    yield server
    server.close()


@pytest.mark.parametrize("screen", SCREENS)
def test_customer_draws_and_signs(live, chromium, screen):
    if not PAD.exists():
        pytest.fail("webapp/static/vendor/signature_pad.umd.min.js is missing: run `make vendor`")
    api = Api(live.app.test_client(), live.platform)
    contract = contract_at_customer(api)
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract["id"])
    context = chromium.new_context(**SCREENS[screen], locale="zh-CN")
    page = context.new_page()

    def shot(name):
        """A screenshot of the whole page, which must fit the screen's width (a phone scrolls down, never sideways)."""
        screenshot(page, f"{name}-{screen}")
        assert page.evaluate("document.documentElement.scrollWidth") <= SCREENS[screen]["viewport"]["width"], name

    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(link)
        shot("customer-1-invitation")
        page.click("a[href*='/auth/oidc/login']")
        page.wait_for_selector("#idp-username")
        shot("customer-2-idp-login")
        page.fill("#idp-username", "xu.yongli")
        page.fill("#idp-password", DEMO_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_selector("#allow")
        shot("customer-3-idp-consent")
        page.click("#allow")
        page.wait_for_url(link)
        shot("customer-4-accept")
        page.click("#accept")
        page.wait_for_url(f"{live.base}/sign/{contract['id']}")
        page.fill("#information_security-security_officer_name", "徐永立")
        page.fill("#information_security-security_officer_title", "校长")
        page.fill("#information_security-security_officer_contact", "0373-8887111")
        page.click("#letter-information_security button[type=submit]")
        page.wait_for_selector("p[role=status]")  # the document with these entries is being prepared
        worker = threading.Thread(target=live.platform.jobs.run_pending, args=("tests",))  # as beside `make run`: a
        worker.start()  # thread of its own (pyHanko runs asyncio, which Playwright's loop in this thread would refuse)
        worker.join()
        page.reload()
        page.click("#intent-button")  # the intent check: one one-time code to the verified email for everything
        page.wait_for_selector("#signature-pad", state="visible")
        with live.platform.db.read() as session:
            code = live.platform.signing.last_code(session, contract["id"])
        page.fill("#intent_code", "000000" if code != "000000" else "111111")
        draw_signature(page)  # the mouse on a desk, a finger on the phone
        assert page.is_checked("input[name=method][value=drawn]")
        page.check("#consent")
        assert not page.locator("#sign code.digest").is_visible()  # a customer reads no hash unless they ask for it
        shot("customer-5-signing-page")
        page.click("#sign-button")
        page.wait_for_selector(".error-text[role=alert]")  # the wrong code: refused, nothing lost
        assert page.is_checked("input[name=method][value=drawn]") and page.is_checked("#consent")
        assert page.evaluate("document.getElementById('signature_image').value").startswith("data:image/png")
        page.wait_for_function(f"() => ({INKED})() > 200")  # the drawing is back on the pad
        viewport = SCREENS[screen]["viewport"]  # the address bar hides, the keyboard shows: the page resizes
        page.set_viewport_size({"width": viewport["width"], "height": viewport["height"] - 120})
        page.wait_for_function(f"() => ({INKED})() > 200")  # and is drawn there again
        page.fill("#intent_code", code)
        page.click("#sign-button")
        page.wait_for_url(f"{live.base}/portal")
        page.wait_for_selector(f"tr:has-text('{contract['number']}') .badge.countersigning")
        shot("customer-6-portal-signed")
        assert errors == []
    finally:
        context.close()
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "countersigning"
    with live.platform.db.read() as session:
        rows = session.exec(Signature.__table__.select()).all()
    assert [row.field for row in rows] == ["letter-information_security", "customer"]
    assert all(row.method == "drawn" and row.image_png.startswith(b"\x89PNG") and len(row.image_png) > 1000
               for row in rows)
