"""In a real browser: a 会签 step (legal and finance together) decided from the task page, showing who decided and who
is pending; the organisation's admin page; the modeler's side panel for multi-instance steps."""
import pytest
from lxml import etree

from tests.conftest import SCREENSHOTS, load_fixture, screenshot
from tests.process.test_approvers import large_contract
from tests.web.browsing import sign_in, sign_out
from tests.web.test_process_modeler_browser import deploy, edit_dmn_cell
from tests.web.test_process_modeler_browser import page  # noqa: F401 - the modeler tests' page (bpmn-js vendored)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def approvers(page):
    return [" ".join(item.split()) for item in page.locator("#step-approvers li").all_inner_texts()]


def test_a_joint_review_shows_who_decided_and_who_is_pending(api, page):  # noqa: F811
    contract = api.call("POST", "/contracts", "sales", large_contract()).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")

    sign_in(page, page.base, "legal")
    row = page.locator(f"tr:has-text('{contract['number']}')")
    assert [" ".join(t.split()) for t in row.locator(".approvers li").all_inner_texts()] == ["任一财务 待审批", "任一法务 待审批"]
    screenshot(page, "inbox-joint-review")
    row.locator("text=法务审核").click()
    page.wait_for_selector("text=您的决定")
    assert approvers(page) == ["任一财务 待审批", "任一法务 待审批"]
    page.check("input[value=approve]")
    page.click("text=提交决定")
    page.wait_for_selector("text=法务审核中")  # all must approve: the contract still waits for finance
    sign_out(page)

    sign_in(page, page.base, "finance")
    page.click(f"tr:has-text('{contract['number']}') >> text=法务审核")
    page.wait_for_selector("text=您的决定")
    assert approvers(page) == ["任一财务 待审批", "任一法务 同意 · 李娜"]
    screenshot(page, "task-joint-review")
    page.check("input[value=approve]")
    page.click("text=提交决定")
    page.wait_for_selector("text=财务审核中")
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "finance_review"
    assert page.js_errors == []


def test_an_admin_builds_the_organisation(page, platform):  # noqa: F811
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/departments")
    page.fill("#new-name", "总经办")
    page.select_option("#new-manager", "admin")
    page.click("text=创建部门")
    page.wait_for_selector("text=部门“总经办”已保存。")
    page.fill("#new-name", "销售部")
    page.select_option("#new-parent", label="总经办")
    page.select_option("#new-manager", "sales")
    page.click("text=创建部门")
    page.wait_for_selector("text=部门“销售部”已保存。")
    page.select_option("#member-user", "legal")
    page.select_option("#member-department", label="　销售部")
    page.click(".card:has-text('部门成员') button")
    page.wait_for_selector("text=已更新用户 legal。")
    screenshot(page, "admin-departments")
    with platform.db.read() as session:
        assert platform.org.manager_of(session, "legal") == "sales"
    assert page.js_errors == []


def test_the_side_panel_edits_who_must_decide(page, platform):  # noqa: F811
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/processes/contract_approval/edit")
    page.wait_for_selector("#modeler-status.ok")
    select = "() => window.qyModeler.get('selection').select(window.qyModeler.get('elementRegistry').get('%s'))"
    page.evaluate(select % "legal_review")
    page.wait_for_selector("#prop-mi-mode")
    assert page.input_value("#prop-mi-mode") == "all"
    assert (page.input_value("#prop-mi-collection"), page.input_value("#prop-mi-item")) == ("approvers", "legal_approver")
    page.select_option("#prop-mi-mode", "any")  # legal review becomes a 或签
    page.wait_for_function("() => document.querySelector('#prop-mi-condition').value.includes('approve')")
    page.locator(".properties").screenshot(path=str(SCREENSHOTS / "modeler-multi-instance.png"))
    page.evaluate(select % "finance_review")
    page.wait_for_selector("#prop-mi-mode")
    assert page.input_value("#prop-mi-mode") == "any"
    page.select_option("#prop-mi-mode", "")  # finance review: one holder of the lane's role again
    deploy(page, 2)
    with platform.db.read() as session:
        deployed = etree.fromstring(platform.repository.latest(session, "contract_approval").bpmn_xml.encode())
    legal = deployed.find(f".//{BPMN}userTask[@id='legal_review']/{BPMN}multiInstanceLoopCharacteristics")
    assert legal.findtext(f"{BPMN}loopDataInputRef") == "approvers"
    assert legal.findtext(f"{BPMN}completionCondition") == 'decision in ("approve", "return")'
    assert deployed.find(f".//{BPMN}userTask[@id='finance_review']/{BPMN}multiInstanceLoopCharacteristics") is None
    assert page.js_errors == []


def test_an_admin_edits_the_approval_matrix_for_new_contracts(page, platform, api):  # noqa: F811
    sign_in(page, page.base, "admin")
    page.goto(page.base + "/admin/processes/contract_approval/edit/dmn/approval_matrix.dmn")
    page.wait_for_selector("#modeler-status.ok")
    page.wait_for_selector(".tjs-table")
    assert page.locator(".tjs-table tbody tr").count() == 4
    screenshot(page, "dmn-approval-matrix")
    # above 5,000,000 → above 1,000,000: legal and finance review together from a lower amount
    edit_dmn_cell(page, "> 5000000", "> 1000000")
    deploy(page, 2)
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json  # 1,080,000
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    with platform.db.read() as session:
        assert sorted(t.role for t in platform.tasks.query(session, contract_id=contract["id"])) == ["finance", "legal"]
    assert page.js_errors == []
