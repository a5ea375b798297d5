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


def edit_dmn_cell(page, old, new):
    """Change the decision table cell whose text is ``old`` to ``new`` through dmn-js's own API, as typing would."""
    page.evaluate("""([old, text]) => {
        const viewer = window.qyDmnModeler.getActiveViewer();
        const registry = viewer.get('elementRegistry'), modeling = viewer.get('modeling');
        const cell = registry.filter(e => e.businessObject && e.businessObject.text === old)[0];
        modeling.editCell(cell.businessObject, text);
    }""", [old, new])


def deploy(page, version):
    """Validate and deploy from the editor; waits until the page says ``version`` was deployed."""
    page.click("#save-deploy")
    page.wait_for_function("v => document.querySelector('#modeler-status').className === 'ok' "
                           "&& new RegExp(v).test(document.querySelector('#modeler-status').textContent)", arg=str(version))


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
    page.click('.djs-element[data-element-id="lane_legal"]', position={"x": 10, "y": 60})
    assert page.eval_on_selector("#prop-lane", "s => s.options[s.selectedIndex].text") == "法务（legal）"
    # bpmn-js's palette speaks the page's language too
    titles = page.eval_on_selector_all(".djs-palette .entry", "es => es.map(e => e.getAttribute('aria-label'))")
    assert "创建开始事件" in titles and "启用抓手工具" in titles, titles

    saved = page.evaluate("() => window.qyModeler.saveXML({format: true}).then(r => r.xml)")
    assert spiff_extensions(saved) == spiff_extensions(original.bpmn_xml)  # every spiffworkflow:* element survives

    deploy(page, 2)
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
    lanes = page.eval_on_selector_all('#process-viewer .djs-element[data-element-id^="lane_"] text', "ts => ts.map(t => t.textContent)")
    assert {"客户经理", "法务", "财务"} <= set(lanes) and "legal" not in lanes, lanes  # roles by name, not code
    assert page.inner_text("#process-viewer-info") == "第 2 版 · 运行中"
    page.locator("#process-card").screenshot(path=str(SCREENSHOTS / "viewer.png"))
    assert page.js_errors == []


def test_dmn_table_edit_and_deploy(page, platform):
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/processes/contract_approval/edit/dmn/finance_routing.dmn")
    page.wait_for_selector("#modeler-status.ok")
    page.wait_for_selector(".tjs-table")
    page.screenshot(path=str(SCREENSHOTS / "dmn.png"))
    # dmn-js's own headings and buttons speak the page's language; a clause word is not taken for a time ("When")
    headings = page.inner_text(".tjs-table thead")
    assert "当" in headings and "则" in headings and "注释" in headings and "When" not in headings, headings
    assert "时间" not in headings, headings
    assert page.get_by_role("button", name="查看决策需求图").is_visible()
    # the bpmn.io watermark stays visible and covers no cell of the table
    logo = page.locator("#dmn-canvas .bjs-powered-by").bounding_box()
    assert logo and page.locator("#dmn-canvas .bjs-powered-by").is_visible()
    table = page.locator(".tjs-table").bounding_box()
    assert logo["y"] >= table["y"] + table["height"] or logo["x"] >= table["x"] + table["width"], (logo, table)
    # edit one cell through dmn-js's own API, as typing would, then save
    edit_dmn_cell(page, "> 500000", "> 800000")
    deploy(page, 2)
    with platform.db.read() as session:
        latest = platform.repository.latest(session, "contract_approval")
    assert latest.version == 2 and "&gt; 800000" in latest.dmn_xml
    assert page.js_errors == []
