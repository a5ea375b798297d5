"""Finding 13: a right-to-left override, a zero-width space or another invisible control in a name, address, title,
letter value, typed signature or display name is refused with a field-level error, and nothing changes."""
import json

import pytest
from sqlmodel import func, select

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer, complete_letters, customer_signs, fill, letters, signing_state
from tests.process.test_lifecycle import create, submit
from workflows.contracts.catalog import DEMO_PROVIDERS
from workflows.contracts.validation import normalize_draft
from workflows.errors import NotFound, ValidationFailed
from workflows.models import Contract, User
from workflows.services.signing import check_signature_input
from workflows.visible_text import hidden_characters, hidden_characters_error

RLO = "\u202e"
HIDDEN = ["\u202e", "\u202a", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d", "\u200f", "\ufeff", "\u00ad", "\u2028",
          "\u2029", "\ud800", "\udc00", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\U000e0041"]
VISIBLE = ["长垣市第一中学", "河南省长垣市蒲西区杏坛路1号", "O'Brien-Smith", "（甲方）【盖章】", "李\u3000雷", "😀", "e\u0301",
           "=HYPERLINK(\"http://evil.example\",\"x\")"]


@pytest.mark.parametrize("char", HIDDEN)
def test_the_rule_refuses_invisible_and_control_characters(char):
    assert hidden_characters(f"徐{char}永立") == [char]
    assert hidden_characters(f"徐{char}永立", multiline=True) == [char]
    assert f"U+{ord(char):04X}" in hidden_characters_error(f"徐{char}永立")


@pytest.mark.parametrize("text", VISIBLE)
def test_the_rule_lets_what_people_write_through(text):
    assert hidden_characters_error(text) is None


def test_line_breaks_only_in_a_field_of_several_lines():
    text = "第一条\r\n\t补充约定"
    assert hidden_characters(text) == ["\t", "\n", "\r"]
    assert hidden_characters_error(text, multiline=True) is None


def test_the_message_names_a_few_code_points():
    message = hidden_characters_error("".join(HIDDEN))
    assert "U+0000" in message and "…" in message and message.count("U+") == 5


# --- a contract draft -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["title", "customer.name", "customer.address", "customer.legal_representative",
                                  "customer.contact.name", "customer.bank.account_name", "items.0.name",
                                  "items.0.content", "installation_address", "signing_place"])
def test_every_printed_text_of_a_draft_is_checked(path):
    draft = load_fixture("contract-technical-service.json")
    *parents, last = path.split(".")
    node = draft
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = f"长垣{RLO}中学"
    with pytest.raises(ValidationFailed) as refused:
        normalize_draft(draft, DEMO_PROVIDERS[0])
    assert list(refused.value.fields) == [path]
    assert "U+202E" in refused.value.fields[path]


def test_special_terms_keep_their_lines_but_not_hidden_characters():
    draft = load_fixture("contract-technical-service.json")
    draft["special_terms"] = "一、甲方按月付款。\r\n二、乙方按时开通。"
    assert normalize_draft(draft, DEMO_PROVIDERS[0])["special_terms"] == draft["special_terms"]
    draft["special_terms"] = f"一、甲方按月付款。\n二、{RLO}乙方按时开通。"
    with pytest.raises(ValidationFailed) as refused:
        normalize_draft(draft, DEMO_PROVIDERS[0])
    assert list(refused.value.fields) == ["special_terms"]


def count_contracts(platform):
    with platform.db.read() as session:
        return session.exec(select(func.count()).select_from(Contract)).one()


def test_the_api_refuses_a_contract_whose_customer_name_hides_an_override(api, platform):
    before = count_contracts(platform)
    draft = load_fixture("contract-technical-service.json")
    draft["customer"]["name"] = f"长垣市第一中学{RLO}"
    refused = api.call("POST", "/contracts", "sales", draft)
    assert refused.status_code == 422, refused.json
    assert list(refused.json["fields"]) == ["customer.name"]
    # a lone surrogate, which JSON can carry and neither the database nor a PDF can hold: refused at the door (400)
    body = json.dumps({**draft, "customer": {**draft["customer"], "name": "长垣LONE"}}).replace("LONE", "\\ud800")
    lone = api.call("POST", "/contracts", "sales", data=body, headers={"Content-Type": "application/json"})
    assert lone.status_code == 400 and list(lone.json["fields"]) == ["customer.name"], lone.json
    assert count_contracts(platform) == before


# --- letters, the typed signature -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_letter_values_and_the_typed_name_are_refused_with_hidden_characters(api, platform):
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    refused = fill(api, contract_id, "information_security", {"security_officer_name": f"徐永立{RLO}",
                                                              "security_officer_title": "校长",
                                                              "security_officer_contact": "0373-8887111"})
    assert refused.status_code == 422 and list(refused.json["fields"]) == ["values.security_officer_name"]
    assert [item["status"] for item in letters(api, contract_id)["items"]] == ["attached"]
    complete_letters(api, contract_id)
    shown = signing_state(api, contract_id)["document_sha256"]
    typed = customer_signs(api, contract_id, typed_name=f"徐{RLO}永立")
    assert typed.status_code == 422 and list(typed.json["fields"]) == ["typed_name"], typed.json
    assert signing_state(api, contract_id)["document_sha256"] == shown  # nothing signed
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "awaiting_customer"


@pytest.mark.parametrize("typed_name", [f"徐永立{RLO}", "徐\u200b永立", "徐永立\ufeff", "徐\n永立"])
def test_check_signature_input_refuses_a_typed_name_with_hidden_characters(typed_name):
    with pytest.raises(ValidationFailed) as refused:
        check_signature_input(True, "typed", typed_name, None)
    assert refused.value.fields == {"typed_name": hidden_characters_error(typed_name.strip())}


def test_letter_template_titles_and_labels_are_checked(platform, users):
    with platform.db.read() as session:
        current = platform.letters.template(session, "information_security")
    fields = json.loads(current.fields_json)
    with platform.db.write() as session:
        with pytest.raises(ValidationFailed) as refused:
            platform.letters.add_version(session, "information_security", f"承诺书{RLO}", current.source,
                                         [{**fields[0], "label": f"负责人{RLO}"}, *fields[1:]], users["admin"])
    assert set(refused.value.fields) == {"title", "fields"}


# --- people: user administration, customers' identities and reasons ---------------------------------------------------
def test_an_administrator_cannot_give_a_user_a_display_name_with_hidden_characters(as_user, platform):
    admin = as_user("admin")
    page = admin.post("/admin/users", {"username": "wang", "display_name": f"王{RLO}经理", "password": "long-enough-1",
                                       "roles": "sales"})
    assert page.status_code == 422
    assert "U+202E" in page.get_data(as_text=True)
    too_long = admin.post("/admin/users", {"username": "wang", "display_name": "王" * 101, "password": "long-enough-1",
                                           "roles": "sales"})
    assert too_long.status_code == 422
    with platform.db.read() as session:
        assert session.exec(select(User).where(User.username == "wang")).first() is None


def test_an_identity_provider_name_with_hidden_characters_is_refused(platform):
    claims = {"issuer": "https://idp.example", "subject": "s-1", "name": f"徐永立{RLO}", "email": "x@school.example",
              "email_verified": True}
    with platform.db.write() as session:
        with pytest.raises(ValidationFailed) as refused:
            platform.customers.sign_in(session, claims, "idp")
        assert list(refused.value.fields) == ["name"]
        assert platform.customers.find_by_subject(session, "https://idp.example", "s-1") is None


def test_a_comment_keeps_its_lines_but_not_hidden_characters(platform, users):
    with platform.db.write() as session:
        with pytest.raises(ValidationFailed) as refused:
            platform.customers.decide_contact_change(session, 1, users["admin"], True, comment=f"同意\n{RLO}")
        assert list(refused.value.fields) == ["comment"]
        with pytest.raises(NotFound):  # past the comment: there is no such request
            platform.customers.decide_contact_change(session, 1, users["admin"], True, comment="同意\r\n更换签署人")


def test_a_reviewers_comment_cannot_hide_an_override(api, platform):
    """Comments are shown to the next reviewer and in the history: the same rule as every printed text."""
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    refused = api.call("POST", f"/tasks/{task['id']}/complete", "legal",
                       {"decision": "return", "comment": f"请修改{RLO}第三条"})
    assert refused.status_code == 422 and list(refused.json["fields"]) == ["comment"], refused.json
    assert [t["id"] for t in api.tasks("legal", contract["id"])] == [task["id"]]  # nothing decided


def test_a_staff_identity_providers_name_with_hidden_characters_is_refused(platform):
    claims = {"email": "new.reviewer@provider.example", "email_verified": True, "name": f"李{RLO}娜",
              "claims": {"roles": ["legal"]}}
    with platform.db.write() as session:
        with pytest.raises(ValidationFailed) as refused:
            platform.sessions.sign_in_federated(session, claims, role_claim="roles")
        assert list(refused.value.fields) == ["name"]
        assert session.exec(select(User).where(User.email == "new.reviewer@provider.example")).first() is None
