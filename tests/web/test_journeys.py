"""Two whole journeys in a real browser, every step as people take it: sales type the contract into the form and
submit it, legal return it with a comment, sales revise it and resubmit, legal and finance approve; the customer opens
the invitation mail on a phone, signs in at the identity provider, fills in the letters, draws a signature with a
finger and signs with the code from a second mail; the provider's signatory countersigns; the complete package,
downloaded from the contract page, verifies on the /verify page.

Mail goes over a real SMTP server (``smtp``) and nothing is read from the outbox table; the job worker runs in a thread
of its own, as under ``make run``. Every step leaves a screenshot in test-artifacts/screenshots (journey-003-NN-...,
journey-000-NN-...)."""
import re
from dataclasses import dataclass

import pytest

from tests.conftest import load_fixture, screenshot
from tests.web.browsing import SCREENS, draw_signature, sign_in
from tests.web.customer_flow import LINK, LiveApp
from workflows.demo import DEMO_PASSWORD
from workflows.worker import Worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 30_000  # the worker's steps (render, certify, package) on a machine shared with other tests


@dataclass
class Seed:
    """What differs between the two journeys: the contract typed in, what legal returns it for and how sales revise
    it, who the customer's signer is and what the letters ask of them."""
    fixture: str
    branch: str  # the provider's branch (乙方) that signs it
    previewed: str  # what the preview shows of this contract
    returned_for: str
    revision: dict  # form field id -> the value sales type when they revise
    revised_text: str  # what the revised document says that the first version did not
    customer_login: str
    letter_values: dict  # input id on the signing page -> value
    letters: tuple  # the commitment letters the customer signs, in the contract's order
    waits_for_renewal: bool  # once active, the process waits for the renewal notice (a term that ended has none)


SEEDS = {
    "003": Seed(
        fixture="contract-technical-service.json", branch="xinxiang", previewed="7个工作日内予以答复",
        returned_for="请在特别约定中写明考试服务的响应时限",
        revision={"#special_terms": "乙方在收到甲方考试服务需求后2个工作日内响应。"}, revised_text="2个工作日内响应",
        customer_login="xu.yongli",
        letter_values={"#information_security-security_officer_name": "徐永立",
                       "#information_security-security_officer_title": "校长",
                       "#information_security-security_officer_contact": "0373-8887111"},
        letters=("网络及信息安全承诺书",), waits_for_renewal=True),
    "000": Seed(
        fixture="contract-network-line.json", branch="changzhou", previewed="肆拾伍万元整",
        returned_for="第二期付款日晚于服务期满，请调整到服务期内",
        revision={"#installments-0-due_date": "2022-06-30", "#installments-1-due_date": "2022-12-31"},
        revised_text="2022年12月31日", customer_login="wu.jianrong",
        letter_values={"#information_security-security_officer_name": "吴建荣",
                       "#information_security-security_officer_title": "主任",
                       "#information_security-security_officer_contact": "0519-85681234"},
        letters=("用户入网责任书", "网络及信息安全承诺书"), waits_for_renewal=False),
}


@pytest.fixture
def live(database_url, tmp_path, smtp):
    """The app mailing through ``smtp``, with its job worker running beside it as ``make run`` starts it."""
    server = LiveApp(database_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port),
                     MAIL_DEFAULT_SENDER="qianyue@provider.example")
    worker = Worker(server.platform.jobs, poll=0.5).start()
    yield server
    worker.stop()
    server.close()


class Camera:
    """Numbered screenshots of one journey; a phone's page must fit its width (it scrolls down, never sideways)."""

    def __init__(self, journey):
        self.journey, self.taken = journey, 0

    def __call__(self, page, step):
        self.taken += 1
        screenshot(page, f"journey-{self.journey}-{self.taken:02d}-{step}")
        width = page.viewport_size["width"]
        if width < 500:
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{step} is wider than the phone"


def type_contract(page, draft, branch):
    """Type a contract in the API's shape into the new-contract form, field by field, adding rows as a person does;
    ``branch`` is the provider's branch (乙方) chosen."""
    page.select_option("#provider", branch)
    page.select_option("#template", draft["template"])
    page.fill("#title", draft["title"])
    if "project_name" in draft:
        page.fill("#project_name", draft["project_name"])
    for service in draft["service_types"]:
        page.check(f"input[name=service_types][value={service}]")
    for key, value in draft["customer"].items():
        for name, text in (value.items() if isinstance(value, dict) else [(None, value)]):
            page.fill(f"#customer-{key}-{name}" if name else f"#customer-{key}", text)
    type_rows(page, "items", draft["items"])
    type_rows(page, "one_time_fees", draft.get("one_time_fees", []))
    page.fill("#total", draft["total"])
    page.fill("#tax_rate", draft["tax_rate"])
    plan = draft["payment_plan"]
    if "installments" in plan:
        page.select_option("#plan_kind", "installments")
        type_rows(page, "installments", plan["installments"])
    else:
        page.select_option("#plan_kind", "periodic")
        page.fill("#every_months", str(plan["every_months"]))
        page.fill("#periodic_amount", plan["amount"])
        page.fill("#first_due", plan["first_due"])
    for name, value in draft["term"].items():
        page.fill(f"#term-{name}", str(value))
    for name in ("installation_address", "service_location", "service_mode", "late_fee_rate_per_day"):
        if name in draft:
            page.fill(f"#{name}", draft[name])


def type_rows(page, name, rows):
    for index, row in enumerate(rows):
        first = f"#{name}-{index}-{next(iter(row))}"
        if page.locator(first).count() == 0:  # 添加一行: the form comes back a row longer, with what was typed
            page.click(f"button[name=action][value='add:{name}']")
            page.wait_for_selector(first)
        for key, value in row.items():
            page.fill(f"#{name}-{index}-{key}", str(value))


def open_task(page, base, number, title):
    """From the inbox, the task ``title`` on the contract ``number``; it must be there."""
    page.goto(f"{base}/inbox")
    task = page.locator(f"tr:has-text('{number}')").get_by_role("link", name=title)
    assert task.count() == 1, f"no task {title} on {number} in this inbox: {page.locator('main').inner_text()[:300]}"
    task.click()
    page.wait_for_selector("text=您的决定")


def reload_until(page, selector, what):
    """Reload, as a person would, until the worker's result shows."""
    for _ in range(WAIT_MS // 1000):
        if page.locator(selector).count():
            return page.locator(selector)
        page.wait_for_timeout(1000)
        page.reload()
    raise AssertionError(f"{what} did not show within {WAIT_MS // 1000} s")


def decide(page, decision, comment=""):
    page.check(f"input[name=decision][value={decision}]")
    if comment:
        page.fill("#comment", comment)
    page.click("text=提交决定")
    page.wait_for_selector(".flash.success")


def code_in(mail):
    return re.search(r"\b(\d{6})\b", mail["body"]).group(1)


@pytest.mark.parametrize("seed", SEEDS)
def test_journey(live, smtp, chromium, tmp_path, seed):
    journey, shot, base = SEEDS[seed], Camera(seed), live.base
    draft = load_fixture(journey.fixture)
    contact = draft["customer"]["contact"]["email"]
    pages, errors = {}, []  # each person's own browser; the scripts' errors on any page

    def browser(who, screen):
        pages[who] = chromium.new_context(**SCREENS[screen], locale="zh-CN").new_page()
        pages[who].on("pageerror", lambda exc: errors.append(f"{who}: {exc}"))
        return pages[who]

    def desk(username):
        """The staff member's browser at their desk, signed in on the staff login page."""
        if username not in pages:
            sign_in(browser(username, "desk"), base, username)
        return pages[username]

    try:
        # 1. sales type the contract into the form, look at the preview, submit it
        sales = desk("sales")
        sales.click("nav >> text=新建合同")
        type_contract(sales, draft, journey.branch)
        shot(sales, "sales-types-the-contract")
        sales.click("button[name=action][value=preview]")
        sales.frame_locator("iframe.preview").locator(f"text={journey.previewed}").first.wait_for()
        sales.locator("iframe.preview").scroll_into_view_if_needed()  # the preview is painted once it was in view
        shot(sales, "sales-previews")
        sales.evaluate("window.scrollTo(0, 0)")
        sales.click("button[name=action][value=submit]")
        sales.wait_for_selector("text=已提交审核")
        contract_id = int(re.search(r"/contracts/(\d+)", sales.url).group(1))
        number = sales.locator("dt:has-text('合同编号') + dd").inner_text().strip()
        assert sales.locator(".badge.legal_review").is_visible()
        shot(sales, "sales-submitted")

        # 2. legal return it with a comment; sales see who returned it and why, revise and resubmit
        legal = desk("legal")
        shot(legal, "legal-inbox")
        open_task(legal, base, number, "法务审核")
        legal.check("input[name=decision][value=return]")
        legal.fill("#comment", journey.returned_for)
        shot(legal, "legal-returns")
        legal.click("text=提交决定")
        legal.wait_for_selector(".badge.draft")
        sales.goto(f"{base}/inbox")
        assert sales.locator(f"tr:has-text('{number}') .badge.returned").inner_text() == "李娜退回"
        shot(sales, "sales-inbox-returned")
        sales.click(f"tr:has-text('{number}') >> text=编制合同草稿")
        sales.wait_for_selector(f".card.returned >> text={journey.returned_for}")
        shot(sales, "sales-reads-the-return")
        sales.click(".card.returned >> text=编辑草稿")
        for selector, value in journey.revision.items():
            sales.fill(selector, value)
        shot(sales, "sales-revises")
        sales.click("button[name=action][value=submit]")
        sales.wait_for_selector("text=已提交审核")
        assert sales.locator(".badge.legal_review").is_visible()

        # 3. legal and finance approve, each seeing what changed since they last decided
        open_task(legal, base, number, "法务审核")
        assert journey.revised_text in legal.locator(".card", has_text="以来的变更").inner_text()
        shot(legal, "legal-sees-the-revision")
        decide(legal, "approve")
        finance = desk("finance")
        open_task(finance, base, number, "财务审核")
        shot(finance, "finance-reviews")
        decide(finance, "approve")
        assert finance.locator(".badge.awaiting_customer").is_visible()

        # 4. the customer, on a phone: the invitation mail, the identity provider, the letters, a finger-drawn
        #    signature and the code from a second mail
        invitation = smtp.wait_for(contact, "请签署合同")
        link = LINK.search(invitation["body"]).group(1)
        phone = browser("customer", "phone")
        phone.goto(link)
        shot(phone, "customer-opens-the-invitation")
        phone.click("a[href*='/auth/oidc/login']")
        phone.fill("#idp-username", journey.customer_login)
        phone.fill("#idp-password", DEMO_PASSWORD)
        shot(phone, "customer-signs-in")
        phone.click("form button[type=submit]")
        phone.wait_for_selector("#allow")
        shot(phone, "customer-allows")
        phone.click("#allow")
        phone.wait_for_url(link)
        shot(phone, "customer-accepts")
        phone.click("#accept")
        phone.wait_for_url(f"{base}/sign/{contract_id}")
        for selector, value in journey.letter_values.items():
            phone.fill(selector, value)
        shot(phone, "customer-fills-the-letters")
        phone.click("#letter-information_security button[type=submit]")
        phone.wait_for_selector("#intent-button", timeout=WAIT_MS)  # the page refreshes until the document is ready
        phone.click("#intent-button")
        phone.wait_for_selector("#signature-pad", state="visible")
        code = code_in(smtp.wait_for(contact, "签署确认码"))
        draw_signature(phone)
        phone.check("#consent")
        phone.fill("#intent_code", code)
        shot(phone, "customer-signs")
        phone.click("#sign-button")
        phone.wait_for_url(f"{base}/portal")
        assert phone.locator(f"tr:has-text('{number}') .badge.countersigning").is_visible()
        shot(phone, "customer-signed")

        # 5. the provider's signatory countersigns with a code of their own; the seal follows
        signatory = desk("signatory")
        open_task(signatory, base, number, "乙方会签盖章")
        signatory.click("button:has-text('发送确认码')")
        signatory.wait_for_selector(".flash.success")
        signatory.fill("#intent_code", code_in(smtp.wait_for("signatory@provider.example", "签署确认码")))
        shot(signatory, "signatory-countersigns")
        decide(signatory, "sign")

        # 6. the worker timestamps and packages it: the contract is active, its package downloads and verifies
        assert signatory.locator(".badge.active").inner_text() == "已生效"
        package_link = reload_until(signatory, "text=下载完整签署文件包（PDF）", "the signed package")
        signatory.wait_for_selector('#process-viewer[data-loaded="1"]')
        if journey.waits_for_renewal:  # the diagram shows where: the renewal notice's timer, in a lane further down
            viewer, step = (signatory.locator(selector).first.bounding_box()
                            for selector in ("#process-viewer", "#process-viewer .qy-current"))
            assert viewer["y"] <= step["y"] <= viewer["y"] + viewer["height"], (viewer, step)
        shot(signatory, "contract-active")
        with signatory.expect_download() as download:
            package_link.click()
        package = tmp_path / download.value.suggested_filename
        download.value.save_as(package)
        signatory.goto(f"{base}/verify")
        signatory.set_input_files("input[name=file]", package)
        signatory.click("button:has-text('验证')")
        verdict = signatory.locator("h2").first
        assert verdict.inner_text().startswith("✔ 文件完整有效"), verdict.inner_text()
        assert number in signatory.locator("text=与平台记录一致").inner_text()
        rows = [[cell.inner_text() for cell in row.locator("td").all()] for row in signatory.locator("tbody tr").all()]
        assert all(row[-1].startswith("✔") for row in rows), rows
        signers = {"甲方", "乙方授权代表", "乙方（合同专用章）"} | {f"甲方（附件{n}《{title}》）" for n, title in zip("一二", journey.letters)}
        assert signers <= {row[1] for row in rows}, rows  # in the contract inside the package, each by whose it is
        shot(signatory, "package-verifies")
        phone.goto(f"{base}/portal")  # the customer finds the signed package in their portal
        assert phone.locator(f"tr:has-text('{number}') .badge.active").is_visible()
        assert phone.locator(f"tr:has-text('{number}') >> text=下载签署完成文件包（PDF）").is_visible()
        shot(phone, "customer-portal-active")
        assert errors == []
    except Exception:
        for who, page in pages.items():  # where each person was when it broke
            screenshot(page, f"journey-{seed}-failed-{who}")
        raise
    finally:
        for page in pages.values():
            page.context.close()
