"""The modeler and the instance viewer in headless Debian chromium (bpmn-js from webapp/static/vendor)."""
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from tests.process.test_lifecycle import create, small_contract, submit
from tests.web.browsing import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
NEW_CONDITION = 'decision in ("approve", "agree")'


def spiff_extensions(xml):
    """Every spiffworkflow:* element with its owner's id, attributes and text: what a round trip must keep."""
    root = etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    found = Counter()
    for element in root.iter(f"{SPIFF}*"):
        owner = element.getparent()
        while owner is not None and owner.get("id") is None:
            owner = owner.getparent()
        found[(owner.get("id"), etree.QName(element).localname, tuple(sorted(element.attrib.items())),
               (element.text or "").strip())] += 1
    return found


@pytest.fixture
def page(chromium, live_url):
    """A page of the shared session browser (tests/conftest.py) on the app served in a thread."""
    if not (ROOT / "webapp/static/vendor/bpmn-js/bpmn-modeler.production.min.js").exists():
        pytest.fail("bpmn-js is not vendored: run `make vendor`")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.base = live_url
    page.js_errors = errors
    yield page
    context.close()


def test_edit_save_deploy_and_watch_the_instance(page, api, platform):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with platform.db.read() as session:
        original = platform.repository.latest(session, "contract_approval")
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/processes/contract_approval/edit")
    page.wait_for_selector("#modeler-status.ok")
    page.wait_for_selector('[data-element-id="legal_review"]')

    # rename a task through the form
    page.click('.djs-element[data-element-id="legal_review"]')
    page.wait_for_selector("#prop-name")
    assert page.input_value("#prop-decisions") == "approve,return"
    page.fill("#prop-name", "法务合规审核")
    page.press("#prop-name", "Tab")
    # change a gateway condition through the form (the flow is selected as a click on it would)
    page.evaluate("""() => { const m = window.qyModeler;
        m.get('selection').select(m.get('elementRegistry').get('f_legal_approve')); }""")
    page.wait_for_selector("#prop-condition")
    assert page.input_value("#prop-condition") == 'decision == "approve"'
    page.fill("#prop-condition", NEW_CONDITION)
    page.press("#prop-condition", "Tab")
    page.evaluate("() => window.qyModeler.get('selection').select(window.qyModeler.get('elementRegistry').get('legal_review'))")
    page.screenshot(path=str(SCREENSHOTS / "modeler.png"))

    saved = page.evaluate("() => window.qyModeler.saveXML({format: true}).then(r => r.xml)")
    assert spiff_extensions(saved) == spiff_extensions(original.bpmn_xml)  # every spiffworkflow:* element survives

    page.click("#save-deploy")
    page.wait_for_function("() => document.querySelector('#modeler-status').className === 'ok' "
                           "&& /2/.test(document.querySelector('#modeler-status').textContent)")
    with platform.db.read() as session:
        v2 = platform.repository.latest(session, "contract_approval")
    assert v2.version == 2 and "法务合规审核" in v2.bpmn_xml and "agree" in v2.bpmn_xml

    page.goto(page.base + "/admin/processes/contract_approval/")
    assert page.locator('#versions tr[data-version="2"]').count() == 1

    # a save that breaks the diagram is refused, naming the element, and creates nothing
    page.goto(page.base + "/admin/processes/contract_approval/edit")
    page.wait_for_selector("#modeler-status.ok")
    page.evaluate("""() => window.qyModeler.get('selection').select(window.qyModeler.get('elementRegistry').get('legal_review'))""")
    page.fill("#prop-name", "")
    page.press("#prop-name", "Tab")
    page.click("#save-deploy")
    page.wait_for_selector("#deploy-errors:not([hidden])")
    assert "legal_review" in page.inner_text("#deploy-errors")
    with platform.db.read() as session:
        assert platform.repository.latest(session, "contract_approval").version == 2

    # a contract started on version 2 shows its current task on the diagram
    contract = create(api, small_contract())
    submit(api, contract["id"])
    page.goto(page.base + f"/contracts/{contract['id']}")
    page.wait_for_selector('#process-viewer[data-loaded="1"]')
    assert page.locator('#process-viewer .djs-element.qy-current[data-element-id="legal_review"]').count() == 1
    assert page.locator('#process-viewer .djs-element.qy-done[data-element-id="prepare_draft"]').count() == 1
    assert page.locator("#process-viewer .bjs-powered-by").is_visible()  # the bpmn.io watermark stays
    assert page.inner_text("#process-viewer-info") == "第 2 版 · 运行中"
    lanes = page.locator('#process-viewer .djs-element[data-element-id^="lane_"] text').all_text_contents()
    assert "法务" in lanes and "legal" not in lanes  # a lane is named by its role's name, not the role code
    page.locator("#process-card").screenshot(path=str(SCREENSHOTS / "viewer.png"))
    assert page.js_errors == []


def test_dmn_table_edit_and_deploy(page, platform):
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/processes/contract_approval/edit/dmn/finance_routing.dmn")
    page.wait_for_selector("#modeler-status.ok")
    page.wait_for_selector(".tjs-table")
    page.screenshot(path=str(SCREENSHOTS / "dmn.png"))
    # edit one cell through dmn-js's own API, as typing would, then save
    page.evaluate("""() => {
        const viewer = window.qyDmnModeler.getActiveViewer();
        const registry = viewer.get('elementRegistry'), modeling = viewer.get('modeling');
        const cell = registry.filter(e => e.businessObject && e.businessObject.text === '> 500000')[0];
        modeling.editCell(cell.businessObject, '> 800000');
    }""")
    page.click("#save-deploy")
    page.wait_for_function("() => document.querySelector('#modeler-status').className === 'ok' "
                           "&& /2/.test(document.querySelector('#modeler-status').textContent)")
    with platform.db.read() as session:
        latest = platform.repository.latest(session, "contract_approval")
    assert latest.version == 2 and "&gt; 800000" in latest.dmn_xml
    assert page.js_errors == []
