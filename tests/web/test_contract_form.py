"""Sales draft both seed contracts through the web form: computed figures, field errors, preview, edit, submit."""
import json
import re

from sqlmodel import select

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer, complete_letters, customer_signs
from workflows.models import ContractVersion


def form_data(draft):
    """The form fields a browser posts for a draft in the API's shape (dotted paths become dashed names)."""
    data = {"template": draft["template"], "title": draft["title"], "service_types": draft["service_types"],
            "total": draft["total"], "tax_rate": draft.get("tax_rate", "")}
    for key in ("project_name", "provider", "installation_address", "service_location", "service_mode",
                "late_fee_rate_per_day"):
        if key in draft:
            data[key] = draft[key]
    for key, value in draft["customer"].items():
        if isinstance(value, dict):
            data.update({f"customer-{key}-{k}": v for k, v in value.items()})
        else:
            data[f"customer-{key}"] = value
    for index, item in enumerate(draft["items"]):
        data.update({f"items-{index}-{k}": v for k, v in item.items()})
    for index, fee in enumerate(draft.get("one_time_fees", [])):
        data.update({f"one_time_fees-{index}-{k}": v for k, v in fee.items()})
    plan = draft["payment_plan"]
    if "installments" in plan:
        data["plan_kind"] = "installments"
        for index, row in enumerate(plan["installments"]):
            data.update({f"installments-{index}-{k}": v for k, v in row.items()})
    else:
        data.update({"plan_kind": "periodic", "every_months": plan["every_months"], "periodic_amount": plan["amount"],
                     "first_due": plan["first_due"]})
    data.update({f"term-{k}": v for k, v in draft["term"].items()})
    return data


def test_both_seeds_through_the_form_with_computed_figures(as_user, api):
    sales = as_user("sales")
    for fixture, words in (("contract-technical-service.json", "壹佰零捌万元整"), ("contract-network-line.json", "肆拾伍万元整")):
        response = sales.post("/contracts/new", {**form_data(load_fixture(fixture)), "action": "save"})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        contract_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
        contract = api.call("GET", f"/contracts/{contract_id}", "sales").json
        assert contract["total_in_words"] == words and contract["status"] == "draft"
    technical = api.call("GET", "/contracts?customer=长垣", "sales").json["items"][0]
    detail = api.call("GET", f"/contracts/{technical['id']}", "sales").json
    assert (detail["net_amount"], detail["tax_amount"]) == ("1018867.92", "61132.08")


def test_field_errors_are_shown_next_to_the_fields_and_nothing_is_saved(as_user, api):
    sales = as_user("sales")
    data = form_data(load_fixture("contract-technical-service.json"))
    data.update({"customer-credit_code": "12410728417309214X", "term-end": "2024-01-01", "action": "save"})
    response = sales.post("/contracts/new", data, page="/contracts/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert html.count('role="alert"') >= 2 and 'aria-invalid="true"' in html
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_preview_renders_without_saving_and_adding_a_row_keeps_the_input(as_user, api):
    sales = as_user("sales")
    data = {**form_data(load_fixture("contract-network-line.json")), "action": "preview"}
    preview = sales.post("/contracts/new", data, page="/contracts/new")
    assert preview.status_code == 200 and "srcdoc=" in preview.get_data(as_text=True)
    assert "草稿 · 第1版" in preview.get_data(as_text=True)  # what saving it makes, as the header will print it
    more = sales.post("/contracts/new", {**data, "action": "add:items"}, page="/contracts/new")
    assert 'name="items-5-name"' in more.get_data(as_text=True)
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_edit_makes_a_new_version_and_submit_sends_it_to_legal(as_user, api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    sales = as_user("sales")
    page = sales.get(f"/contracts/{contract['id']}/edit")
    assert page.status_code == 200 and "长垣市第一中学" in page.get_data(as_text=True)
    data = {**form_data(load_fixture("contract-technical-service.json")), "title": "改过的标题", "action": "submit"}
    preview = sales.post(f"/contracts/{contract['id']}/edit", {**data, "action": "preview"}).get_data(as_text=True)
    assert "草稿 · 第2版" in preview  # the version saving the edit makes
    response = sales.post(f"/contracts/{contract['id']}/edit", data)
    assert response.status_code == 302
    detail = api.call("GET", f"/contracts/{contract['id']}", "sales").json
    assert detail["version"] == 2 and detail["title"] == "改过的标题" and detail["status"] == "legal_review"


def test_a_blank_term_is_a_field_error_and_keeps_what_was_typed(as_user, api):
    """The term's start and end left blank: the validator names ``term`` itself, a group of fields, not one field."""
    sales = as_user("sales")
    data = {**form_data(load_fixture("contract-technical-service.json")), "title": "留在表单里的标题",
            "term-start": "", "term-end": "", "action": "save"}
    response = sales.post("/contracts/new", data, page="/contracts/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "留在表单里的标题" in html and 'role="alert"' in html
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_a_returned_draft_leads_with_the_reviewers_comment_and_the_way_to_edit(as_user, api):
    """Legal returns: sales' inbox flags the return with the reviewer's name, and the task page opens with the comment
    and an edit button; once resubmitted the flag is gone."""
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 200
    api.decide("legal", contract["id"], "return", comment="请补充第四条的付款节点")
    sales = as_user("sales")
    inbox = sales.get("/inbox").get_data(as_text=True)
    assert "李娜退回" in inbox and 'title="请补充第四条的付款节点"' in inbox
    (task,) = api.tasks("sales", contract["id"])
    page = sales.get(f"/tasks/{task['id']}").get_data(as_text=True)
    top = page.split('<div class="grid2">')[0]
    assert "李娜退回" in top and "请补充第四条的付款节点" in top and f"/contracts/{contract['id']}/edit" in top
    api.decide("sales", contract["id"], "submit")
    assert "李娜退回" not in sales.get("/inbox").get_data(as_text=True)


def test_what_reviewers_review_is_on_their_task_page_and_sales_see_the_hints_in_the_preview(as_user, api):
    """Finance sees the payment schedule; the signatory sees the customer's signature; sales see the reviewers' hints
    (审查提示) when previewing the form, before anything is submitted."""
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id).status_code == 200
    (task,) = api.tasks("signatory", contract_id)
    page = as_user("signatory").get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "已有签名" in page and "徐永立" in page and "付款计划" in page and "壹拾捌万元整" in page
    data = {**form_data(load_fixture("contract-technical-service.json")), "late_fee_rate_per_day": "0.03",
            "action": "preview"}
    preview = as_user("sales").post("/contracts/new", data, page="/contracts/new")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "审查提示" in html and "过高" in html


def test_each_partys_fields_sit_in_that_partys_card(as_user):
    """The customer is an organisation (单位名称, not 姓名), and each side's liaison named in the articles sits with
    that side's contact, not the customer's under the provider's."""
    cards = as_user("sales").get("/contracts/new").get_data(as_text=True).split('<div class="card">')
    customer = next(card for card in cards if "甲方" in card.split("</h2>")[0])
    provider = next(card for card in cards if "乙方" in card.split("</h2>")[0])
    assert "单位名称" in customer and 'name="designated_contacts-customer"' in customer
    assert 'name="designated_contacts-provider"' in provider and 'name="designated_contacts-customer"' not in provider


def test_the_change_list_names_fields_as_people_do_and_ignores_the_version_mark(as_user, api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    patched = api.call("PATCH", f"/contracts/{contract['id']}", "sales",
                       {"designated_contacts": {"customer": "徐永立", "provider": "王敏"}, "items": [
                           {**item, "amount": "270000.00"} for item in load_fixture("contract-technical-service.json")["items"]]})
    assert patched.status_code == 200, patched.json
    html = as_user("sales").get(f"/contracts/{contract['id']}/diff?from=1&to=2").get_data(as_text=True)
    assert "合同条款约定的乙方联系人" in html and "designated_contacts" not in html
    assert "第1版" not in html.split("<h3>")[-1]  # the changed clauses, not every page's version mark


def test_a_revision_that_changes_nothing_says_so_on_the_reviewers_task_page(as_user, api):
    """The walkthrough's revision names the liaison the articles already print (陆洋, the provider's contact): the
    reviewer is told the versions are the same instead of an empty table under an empty heading."""
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    api.decide("legal", contract["id"], "return", "第十一条联系人与首页不一致")
    assert api.call("PATCH", f"/contracts/{contract['id']}", "sales",
                    {"designated_contacts": {"provider": "陆洋"}}).json["version"] == 2
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    (task,) = api.tasks("legal", contract["id"])
    html = as_user("legal").get(f"/tasks/{task['id']}").get_data(as_text=True)
    changes = html[html.index("自第 1 版"):]
    changes = changes[:changes.index('<div class="card">')]
    assert "两个版本内容相同" in changes and "条款变更" not in changes and "<table" not in changes


def test_each_signature_says_what_vouched_for_the_signer_without_account_codes(as_user, api):
    """The signatory is 陈志强 of the provider's staff, not the account 'signatory' under 'qianyue:staff'; the seal is
    the organisation's certificate by its credit code; the integration's account is one in words too."""
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id).status_code == 200
    api.sign("signatory", contract_id)
    page = as_user("legal").get(f"/contracts/{contract_id}").get_data(as_text=True)
    identities = re.findall(r"<dt>身份</dt><dd>(.*?)</dd>", page, re.S)
    assert identities == ["系统对接账号"] * 2 + ["乙方员工账号", "合同专用章证书（统一社会信用代码 91410700747429956F）"]


def test_the_form_offers_each_provider_branch_by_name_and_numbers_the_contract_as_the_one_chosen(as_user, api):
    sales = as_user("sales")
    page = sales.get("/contracts/new").get_data(as_text=True)
    assert '<option selected value="xinxiang">中国电信集团有限公司新乡分公司</option>' in page
    assert '<option value="changzhou">中国电信股份有限公司常州分公司</option>' in page
    data = {**form_data(load_fixture("contract-network-line.json")), "provider": "changzhou", "action": "save"}
    response = sales.post("/contracts/new", data, page="/contracts/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    contract = api.call("GET", f"/contracts/{response.headers['Location'].rstrip('/').split('/')[-1]}", "sales").json
    assert contract["number"].startswith("JSCZE") and contract["data"]["provider"]["name"] == "中国电信股份有限公司常州分公司"
    edit = sales.get(f"/contracts/{contract['id']}/edit").get_data(as_text=True)
    assert re.search(r'<select disabled id="provider" name="provider"><option selected value="changzhou">', edit)


def test_an_unknown_provider_is_shown_at_the_provider_field(as_user, api):
    data = {**form_data(load_fixture("contract-technical-service.json")), "provider": "zhengzhou", "action": "save"}
    response = as_user("sales").post("/contracts/new", data, page="/contracts/new")
    assert response.status_code == 422
    field = response.get_data(as_text=True).split('<label for="provider">')[1].split('<div class="field">')[0]
    assert 'aria-invalid="true"' in field and "没有这个乙方主体" in field
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_an_account_managers_branch_set_by_an_administrator_is_their_forms_default(as_user):
    admin = as_user("admin")
    assert 'id="branch-sales"' in admin.get("/admin/users").get_data(as_text=True)
    response = admin.post("/admin/users/sales", {"roles": ["sales"], "active": "1", "provider_code": "changzhou"},
                          page="/admin/users")
    assert response.status_code == 302
    assert '<option selected value="changzhou">' in as_user("sales").get("/contracts/new").get_data(as_text=True)


def test_the_project_name_is_its_own_field_read_from_the_title_when_left_blank(as_user, api):
    sales = as_user("sales")
    data = {**form_data(load_fixture("contract-technical-service.json")), "project_name": "", "action": "save"}
    blank = sales.post("/contracts/new", data, page="/contracts/new")
    assert blank.status_code == 302  # a client that never sent the field drafts as before: the title's project
    blank_id = int(blank.headers["Location"].rstrip("/").split("/")[-1])
    assert "<dt>项目名称</dt><dd>长垣市第一中学精准教学考试服务项目</dd>" in sales.get(f"/contracts/{blank_id}").get_data(as_text=True)
    saved = sales.post("/contracts/new", {**data, "project_name": "精准教学考试服务项目"}, page="/contracts/new")
    contract_id = int(saved.headers["Location"].rstrip("/").split("/")[-1])
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "<dt>项目名称</dt><dd>精准教学考试服务项目</dd>" in page
    changed = {**data, "project_name": "精准教学考试服务二期项目", "action": "save"}
    assert sales.post(f"/contracts/{contract_id}/edit", changed).status_code == 302
    diff = sales.get(f"/contracts/{contract_id}/diff?from=1&to=2").get_data(as_text=True)
    assert "项目名称" in diff and "project_name" not in diff and "精准教学考试服务二期项目" in diff


def test_without_javascript_a_row_is_added_and_removed_by_the_server_and_the_rest_renumbered(as_user, api):
    sales = as_user("sales")
    data = form_data(load_fixture("contract-technical-service.json"))  # four services: items-0 … items-3
    removed = sales.post("/contracts/new", {**data, "action": "remove:items-1"}, page="/contracts/new")
    html = removed.get_data(as_text=True)
    assert removed.status_code == 200 and "阅卷服务" not in html
    names = re.findall(r'name="items-(\d+)-name" [^>]*value="([^"]*)"', html)
    assert names == [("0", "考试服务"), ("1", "异常问题处理"), ("2", "定制化服务")]
    assert 'value="remove:items-2"' in html and 'value="remove:items-3"' not in html
    last = sales.post("/contracts/new", {**data, "installments-0-due_date": "2025-06-30", "plan_kind": "installments",
                                         "action": "remove:installments-0"}, page="/contracts/new").get_data(as_text=True)
    assert re.search(r'name="installments-0-due_date"[^>]* value=""', last)  # the last row is emptied, not gone
    added = sales.post("/contracts/new", {**data, "action": "add:one_time_fees"}, page="/contracts/new")
    assert 'name="one_time_fees-1-name"' in added.get_data(as_text=True)
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_editing_a_draft_written_before_the_project_name_field_offers_the_name_read_from_its_title(as_user, api, platform):
    draft = {key: value for key, value in load_fixture("contract-technical-service.json").items() if key != "project_name"}
    contract = api.call("POST", "/contracts", "sales", {**draft, "project_name": "临时"}).json
    with platform.db.write() as session:  # as a version written before the field existed was stored
        row = session.exec(select(ContractVersion).where(ContractVersion.contract_id == contract["id"])).one()
        row.data_json = json.dumps({k: v for k, v in json.loads(row.data_json).items() if k != "project_name"})
    page = as_user("sales").get(f"/contracts/{contract['id']}/edit").get_data(as_text=True)
    assert re.search(r'id="project_name" name="project_name" type="text" value="长垣市第一中学精准教学考试服务项目"', page)
