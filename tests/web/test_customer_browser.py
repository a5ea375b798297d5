"""In a real browser: the invited customer signs in through the embedded provider's pages, fills in the letter, draws
a signature (with the mouse at a desk, a finger on a phone), ticks consent, mistypes the code (what was drawn and ticked
stays), signs the contract and its letter with one code, and sees the contract move on to countersigning. And on a
phone: a long contract read page by page, the button that leads to each thing still to fill in."""
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import SCREENSHOTS, Api, screenshot
from tests.letters.helpers import at_customer
from tests.lifecycle.helpers import draft_with_term, events, sign_both, today, webhook_events
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


LOADED = "n => { const i = document.getElementById('page-' + n); return i.complete && i.naturalWidth > 0; }"
FOCUSED = "id => document.activeElement && document.activeElement.id === id"
IN_VIEW = """id => {  // on the screen, and still since the last frame: the smooth scroll that brought it there is over
    const r = document.getElementById(id).getBoundingClientRect(), still = window['top of ' + id] === r.top;
    window['top of ' + id] = r.top;
    return still && r.top >= 0 && r.bottom <= window.innerHeight; }"""


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
        page.evaluate("document.getElementById('page-3').scrollIntoView()")  # in the page, or the pages' box at a desk
        page.wait_for_function("() => document.getElementById('page-counter').textContent.startsWith('第 3 页')")
        page.wait_for_function(LOADED, arg=3)
        page.screenshot(path=str(SCREENSHOTS / f"customer-5-document-{screen}.png"))
        assert not page.is_visible("#intent_code")  # no field for a code before one is sent
        page.click("#intent-button")  # the intent check: one one-time code to the verified email for everything
        page.wait_for_selector("#intent_code", state="visible")  # sent without leaving the page
        assert "x***i@school.example" in page.inner_text("#code-sent")
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


def sign_in_and_accept(page, live, link, contract_id):
    page.goto(link)
    page.click("a[href*='/auth/oidc/login']")
    page.fill("#idp-username", "xu.yongli")
    page.fill("#idp-password", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.click("#allow")
    page.wait_for_url(link)
    page.click("#accept")
    page.wait_for_url(f"{live.base}/sign/{contract_id}")


def run_the_worker(live):
    """As beside `make run`: a thread of its own (pyHanko runs asyncio, which Playwright's loop here would refuse)."""
    worker = threading.Thread(target=live.platform.jobs.run_pending, args=("tests",))
    worker.start()
    worker.join()


def test_a_long_contract_read_and_filled_in_on_a_phone(live, chromium):
    """At 390 px: the document's pages as images that load as they near the screen, fit the width and are counted;
    the "next item to fill in" button leads through the letter's fields (passing over one left empty), its save
    button, then the signature, consent, the code; the page never scrolls sideways."""
    api = Api(live.app.test_client(), live.platform)
    contract = contract_at_customer(api)
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract["id"])
    run_the_worker(live)  # the customer's step opened: the pages of a copy to read while the letter is blank
    context = chromium.new_context(**SCREENS["phone"], locale="zh-CN")
    page = context.new_page()
    errors, images = [], set()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: images.add(request.url) if "/pages/" in request.url else None)

    def fits():
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

    def next_item():
        page.click("#next-field")

    try:
        sign_in_and_accept(page, live, link, contract["id"])
        total = page.locator("img.page").count()
        assert total > 10
        page.wait_for_load_state("networkidle")
        assert 0 < len(images) < total - 5  # the pages far below the screen are not loaded yet
        assert page.inner_text("#page-counter") == f"第 1 页，共 {total} 页"
        for number in range(1, total + 1):
            page.locator(f"#page-{number}").scroll_into_view_if_needed()
            page.wait_for_function(LOADED, arg=number)
        width = page.locator("#page-1").bounding_box()["width"]
        assert 330 < width <= 390
        fits()
        page.evaluate("document.getElementById('page-5').scrollIntoView()")
        page.wait_for_function("() => document.getElementById('page-counter').textContent.startsWith('第 5 页')")
        assert page.locator("#page-counter").bounding_box()["y"] >= 0  # it stays on the screen
        page.screenshot(path=str(SCREENSHOTS / "customer-phone-reading.png"))

        field = "information_security-security_officer_{}".format
        next_item()
        page.wait_for_function(FOCUSED, arg=field("name"))
        page.wait_for_function(IN_VIEW, arg=field("name"))
        next_item()  # the name is left empty for now: on to the next one
        page.wait_for_function(FOCUSED, arg=field("title"))
        page.fill(f"#{field('title')}", "校长")
        next_item()
        page.wait_for_function(FOCUSED, arg=field("contact"))
        page.fill(f"#{field('contact')}", "0373-8887111")
        next_item()  # round to the one left empty
        page.wait_for_function(FOCUSED, arg=field("name"))
        page.fill(f"#{field('name')}", "徐永立")
        next_item()  # every field filled: save them
        page.wait_for_function(FOCUSED, arg="letter-information_security-save")
        page.wait_for_function(IN_VIEW, arg="letter-information_security-save")
        page.screenshot(path=str(SCREENSHOTS / "customer-phone-next-item.png"))
        fits()
        page.keyboard.press("Enter")
        page.wait_for_selector("p[role=status]")  # the document with these entries is being prepared
        run_the_worker(live)
        page.reload()

        assert page.locator("img.page").count() == total  # now the pages of the document to sign
        next_item()
        page.wait_for_function(IN_VIEW, arg="signature-pad")
        draw_signature(page)
        page.wait_for_function(f"() => ({INKED})() > 200")
        next_item()
        page.wait_for_function(FOCUSED, arg="consent")
        page.check("#consent")
        next_item()
        page.wait_for_function(FOCUSED, arg="intent-button")
        assert not page.is_visible("#intent_code") and page.locator("button:has-text('发送确认码')").count() == 1
        page.click("#intent-button")
        page.wait_for_function(FOCUSED, arg="intent_code")  # the code's field shows, saying where the code went
        assert page.inner_text("#code-sent").startswith("确认码已发送至 x***i@school.example")
        page.evaluate("document.activeElement.blur()")  # away from the field: the code is still missing
        next_item()
        page.wait_for_function(FOCUSED, arg="intent_code")
        with live.platform.db.read() as session:
            page.fill("#intent_code", live.platform.signing.last_code(session, contract["id"]))
        assert page.is_hidden("#next-field")  # nothing left but to sign
        fits()
        screenshot(page, "customer-phone-ready-to-sign")
        assert errors == []
    finally:
        context.close()


def test_the_customer_gives_notice_of_non_renewal_on_a_phone(live, chromium):
    """At 390 px: the customer who signed an auto-renewing contract opens it once active, reads when it renews and
    until when notice can be given, gives notice of non-renewal with a comment, and reads that it ends with its term."""
    api = Api(live.app.test_client(), live.platform)
    end = today() + timedelta(days=120)
    contract_id = at_customer(api, draft_with_term(end - timedelta(days=365), end, auto_renew_months=12,
                                                   notice_days=30))
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract_id)
    context = chromium.new_context(**SCREENS["phone"], locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def fits():
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

    try:
        sign_in_and_accept(page, live, link, contract_id)  # the school's contact, bound to the contract
        signer = threading.Thread(target=sign_both, args=(api, contract_id))  # pyHanko's asyncio: a thread of its own
        signer.start()
        signer.join()
        page.goto(f"{live.base}/sign/{contract_id}")
        term = page.inner_text("#term")
        deadline = end - timedelta(days=30)
        assert f"{deadline.year}年{deadline.month}月{deadline.day}日" in term and "自动续展" in term
        page.locator("#term").scroll_into_view_if_needed()
        fits()
        screenshot(page, "customer-non-renewal-1-term-phone")
        assert "不能在此撤回" in page.inner_text("#non-renewal")  # what the notice does, said before it is given
        page.fill("#non-renewal-comment", "学校改用自建网络，服务期满后不再续用")
        page.click("#non-renewal button[type=submit]")
        page.wait_for_selector(".flash.success")
        assert "不续展通知已记录" in page.inner_text(".flash.success")
        assert page.locator("#non-renewal").count() == 0  # given once: the form is gone
        assert "不续展通知：甲方已于" in page.inner_text("#term")  # who gave it, and when
        fits()
        screenshot(page, "customer-non-renewal-2-given-phone")
        assert errors == []
    finally:
        context.close()
    (notice,) = events(live.platform, contract_id, "non_renewal_notice")
    assert notice.actor != "customer" and notice.comment == "学校改用自建网络，服务期满后不再续用"
    assert json.loads(notice.details)["party"] == "customer"
    assert webhook_events(live.platform, contract_id)[-1][0] == "contract.non_renewal_notified"
