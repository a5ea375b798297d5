"""The provider branch (乙方) a draft is made for, and the project its articles name: chosen, checked and kept by the
contract service, whichever door the draft comes through (here the API)."""
import json

import pytest
from sqlmodel import select

from tests.conftest import load_fixture
from workflows.errors import ValidationFailed
from workflows.models import ContractVersion, Provider


def test_a_draft_made_for_another_branch_is_numbered_and_printed_as_that_branch(api, platform):
    created = api.call("POST", "/contracts", "sales", {**load_fixture("contract-network-line.json"), "provider": "changzhou"})
    assert created.status_code == 201, created.json
    assert created.json["number"].startswith("JSCZE") and created.json["provider"] == "changzhou"
    assert created.json["data"]["provider"]["name"] == "中国电信股份有限公司常州分公司"
    with platform.db.read() as session:
        contract = platform.contracts.get(session, created.json["id"])
        html = platform.documents.html(session, contract)
    assert "乙方：中国电信股份有限公司常州分公司" in html and "新乡" not in html


def test_an_unknown_provider_is_a_field_error_reported_with_the_others(api):
    draft = load_fixture("contract-technical-service.json")
    response = api.call("POST", "/contracts", "sales", {**draft, "provider": "zhengzhou", "term": {**draft["term"], "end": "2024-01-01"}})
    assert response.status_code == 422
    assert response.json["fields"]["provider"] == "没有这个乙方主体，请从列表中选择"
    assert "term.end" in response.json["fields"]
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_a_new_draft_is_made_for_the_account_managers_branch_unless_it_names_another(api, platform, users):
    assert api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json["number"].startswith("HAXXS")
    with platform.db.write() as session:
        platform.accounts.set_roles(session, "sales", ["sales"], True, acting="admin", provider_code="changzhou")
    with platform.db.read() as session:
        sales = platform.accounts.get(session, "sales")
    choices, chosen = platform.drafting.providers(sales)
    assert choices == [("xinxiang", "中国电信集团有限公司新乡分公司"), ("changzhou", "中国电信股份有限公司常州分公司")]
    assert chosen == "changzhou"
    assert api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json["number"].startswith("JSCZE")
    named = api.call("POST", "/contracts", "sales", {**load_fixture("contract-network-line.json"), "provider": "xinxiang"})
    assert named.json["number"].startswith("HAXXE")


def test_with_one_provider_profile_that_one_is_the_default(platform, users):
    with platform.db.write() as session:
        session.delete(session.exec(select(Provider).where(Provider.code == "xinxiang")).one())
    assert platform.drafting.providers(users["sales"]) == ([("changzhou", "中国电信股份有限公司常州分公司")], "changzhou")
    contract = platform.drafting.create(users["sales"], load_fixture("contract-technical-service.json"))
    assert contract.number.startswith("JSCZS") and contract.provider_code == "changzhou"


def test_an_account_managers_branch_must_be_a_provider_profile(platform):
    with pytest.raises(ValidationFailed) as caught, platform.db.write() as session:
        platform.accounts.set_roles(session, "sales", ["sales"], True, acting="admin", provider_code="zhengzhou")
    assert "provider_code" in caught.value.fields


def test_the_provider_stays_the_one_the_number_was_taken_under(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    moved = api.call("PATCH", f"/contracts/{contract['id']}", "sales", {"provider": "changzhou"})
    assert moved.status_code == 422 and "乙方主体不能更换" in moved.json["fields"]["provider"]
    same = api.call("PATCH", f"/contracts/{contract['id']}", "sales", {"provider": "xinxiang", "title": "改过的标题"})
    assert same.status_code == 200 and same.json["number"] == contract["number"]


def test_a_draft_written_before_the_project_name_had_a_field_gets_it_from_its_title(api, platform):
    """Its stored version prints as it was written (the title), and the next version names the project."""
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    with platform.db.write() as session:  # as a version written before the field existed was stored
        row = session.exec(select(ContractVersion).where(ContractVersion.contract_id == contract["id"])).one()
        data = json.loads(row.data_json)
        del data["project_name"]
        row.data_json = json.dumps(data, ensure_ascii=False)
    with platform.db.read() as session:
        old = platform.contracts.get(session, contract["id"])
        assert platform.contracts.current_draft(session, old)["project_name"] == "长垣市第一中学精准教学考试服务项目"
        assert "就长垣市第一中学精准教学考试服务项目服务合同（“项目”）" in platform.documents.html(session, old)
    revised = api.call("PATCH", f"/contracts/{contract['id']}", "sales", {"designated_contacts": {"provider": "王超琦"}})
    assert revised.status_code == 200, revised.json
    assert revised.json["data"]["project_name"] == "长垣市第一中学精准教学考试服务项目"
    with platform.db.read() as session:
        html = platform.documents.html(session, platform.contracts.get(session, contract["id"]))
    assert "就长垣市第一中学精准教学考试服务项目（“项目”）进行专项技术服务" in html
    assert "技术服务的目标：完成长垣市第一中学精准教学考试服务项目技术服务。" in html
