"""[5/7] Commitment letters: mandated by service type, attached before the customer signs, filled in and signed,
checked before activation; a template upgrade leaves attached letters alone; voice lines need the voice clause."""
import pytest

from tests.letters.helpers import (SECURITY_VALUES, VOICE_VALUES, at_customer, complete_letters, fill, letters,
                                   network_line, sign, technical_service)


def codes(items):
    return [(i["code"], i["status"]) for i in items]


def test_letters_are_listed_from_the_draft_and_attached_when_the_customer_is_asked(api):
    draft = api.call("POST", "/contracts", "sales", network_line()).json
    assert codes(draft["letters"]) == [("network_access", "required"), ("information_security", "required")]
    technical = api.call("POST", "/contracts", "sales", technical_service()).json
    assert codes(technical["letters"]) == [("information_security", "required")]
    contract_id = at_customer(api, network_line())
    items = letters(api, contract_id)["items"]
    assert codes(items) == [("network_access", "attached"), ("information_security", "attached")]
    assert [i["position"] for i in items] == [1, 2]
    assert all(i["template_version"] == 1 and len(i["template_sha256"]) == 64 for i in items)


def test_the_rule_is_evaluated_again_when_the_service_types_change(api):
    draft = api.call("POST", "/contracts", "sales", technical_service()).json
    patched = api.call("PATCH", f"/contracts/{draft['id']}", "sales", {"service_types": ["internet_line"]})
    assert patched.status_code == 200, patched.json
    assert codes(patched.json["letters"]) == [("network_access", "required"), ("information_security", "required")]


def test_activation_is_refused_with_exactly_what_is_missing_then_succeeds(api, platform):
    contract_id = at_customer(api, network_line())
    api.decide("customer", contract_id, "sign")
    (task,) = api.tasks("signatory", contract_id)
    refused = api.call("POST", f"/tasks/{task['id']}/complete", "signatory", {"decision": "sign"})
    assert refused.status_code == 409
    assert refused.json["fields"] == {"letters.network_access": "not filled", "letters.information_security": "not filled"}
    assert api.tasks("signatory", contract_id)[0]["state"] == "open"  # nothing changed
    assert fill(api, contract_id, "network_access", {}).status_code == 200
    assert sign(api, contract_id, "network_access").status_code == 200
    assert fill(api, contract_id, "information_security", SECURITY_VALUES).status_code == 200
    again = api.call("POST", f"/tasks/{task['id']}/complete", "signatory", {"decision": "sign"})
    assert again.status_code == 409 and again.json["fields"] == {"letters.information_security": "not signed"}
    assert letters(api, contract_id)["activation_missing"] == {"letters.information_security": "not signed"}
    assert sign(api, contract_id, "information_security").status_code == 200
    done = api.complete_sign("signatory", task["id"], contract_id)
    assert done.status_code == 200, done.json
    assert done.json["contract"]["status"] == "active"
    detail = api.call("GET", f"/contracts/{contract_id}", "sales").json
    assert detail["status"] == "active" and detail["effective_from"] == "2022-01-01"
    assert codes(detail["letters"]) == [("network_access", "signed"), ("information_security", "signed")]
    assert detail["letters"][1]["values"] == SECURITY_VALUES


def test_fields_are_validated_on_the_server(api):
    contract_id = at_customer(api, technical_service())
    bad = fill(api, contract_id, "information_security", {"security_officer_name": "", "security_officer_contact": "call me",
                                                          "nonsense": "x", "security_officer_title": ["x"]})
    assert bad.status_code == 422
    assert bad.json["fields"] == {"values.security_officer_name": "required", "values.security_officer_contact":
                                  "a phone number (digits, +, -, spaces)", "values.nonsense": "this letter has no such field",
                                  "values.security_officer_title": "must be text"}
    assert fill(api, contract_id, "unknown", {}).status_code == 404
    assert api.call("PUT", f"/contracts/{contract_id}/letters/information_security", "sales", {"values": {}}).status_code == 403
    assert api.call("PUT", f"/contracts/{contract_id}/letters/information_security", "customer", ["x"]).status_code == 422
    unsigned = sign(api, contract_id, "information_security")
    assert unsigned.status_code == 409  # not filled yet
    assert fill(api, contract_id, "information_security", SECURITY_VALUES).status_code == 200
    wrong = api.call("POST", f"/contracts/{contract_id}/letters/information_security/sign", "customer",
                     {"document_sha256": "0" * 64, "method": "typed", "typed_name": "徐永立", "consent": True})
    assert wrong.status_code == 409
    item = letters(api, contract_id)["items"][0]
    no_consent = api.call("POST", f"/contracts/{contract_id}/letters/information_security/sign", "customer",
                          {"document_sha256": item["document_sha256"], "method": "typed", "typed_name": ""})
    assert no_consent.status_code == 422 and set(no_consent.json["fields"]) == {"consent", "typed_name"}


def test_a_voice_line_needs_the_voice_clause_fields(api):
    draft = technical_service()
    draft["service_types"] = ["technical_service", "voice_line"]
    contract_id = at_customer(api, draft)
    item = letters(api, contract_id)["items"][0]
    assert item["code"] == "information_security"
    missing = fill(api, contract_id, "information_security", SECURITY_VALUES)
    assert missing.status_code == 422
    assert missing.json["fields"] == {"values.voice_usage_hours": "required", "values.voice_usage_frequency": "required"}
    assert fill(api, contract_id, "information_security", {**SECURITY_VALUES, **VOICE_VALUES}).status_code == 200
    html = api.call("GET", f"/contracts/{contract_id}/letters/information_security/document.html", "sales").get_data(as_text=True)
    assert "08:00-18:00" in html and "每日不超过200次" in html and "徐永立" in html


def test_without_a_voice_line_the_voice_clause_reads_not_applicable(api):
    contract_id = at_customer(api, technical_service())
    ignored = fill(api, contract_id, "information_security", {**SECURITY_VALUES, "voice_usage_hours": "全天"})
    assert ignored.status_code == 200 and ignored.json["values"] == SECURITY_VALUES
    html = api.call("GET", f"/contracts/{contract_id}/letters/information_security/document.html", "sales").get_data(as_text=True)
    assert "使用业务的时段为<span class=\"blank\">/</span>" in html


def test_a_template_upgrade_does_not_change_letters_already_attached(api, platform, users):
    contract_id = at_customer(api, technical_service())
    before = letters(api, contract_id)["items"][0]
    with platform.db.write() as session:
        old = platform.letters.template(session, "information_security")
        row, created = platform.letters.add_version(session, "information_security", old.title,
                                                    old.source.replace("本单位郑重承诺", "本单位特此郑重承诺"),
                                                    old.fields_json, users["admin"], "wording")
    assert created and row.version == 2
    after = letters(api, contract_id)["items"][0]
    assert (after["template_version"], after["template_sha256"]) == (1, before["template_sha256"])
    assert fill(api, contract_id, "information_security", SECURITY_VALUES).status_code == 200
    html = api.call("GET", f"/contracts/{contract_id}/letters/information_security/document.html", "sales").get_data(as_text=True)
    assert "本单位郑重承诺" in html and "特此" not in html
    fresh = at_customer(api, technical_service())
    assert letters(api, fresh)["items"][0]["template_version"] == 2


def test_the_diagram_gate_routes_back_to_the_customer_with_a_reminder(api, platform):
    """The safety net: were the service check bypassed, the diagram sends the contract back instead of failing."""
    contract_id = at_customer(api, technical_service())
    api.decide("customer", contract_id, "sign")
    platform.tasks.guards.clear()
    answer = api.decide("signatory", contract_id, "sign")
    assert answer["contract"]["status"] == "awaiting_customer"
    assert [t["name"] for t in answer["next_tasks"]] == ["customer_sign"]
    events = [e["event"] for e in api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]]
    assert events.count("customer_reminder") == 1 and events[-1] != "process_error"


@pytest.mark.slow
def test_the_signed_letter_is_the_exact_pdf_and_the_package_bundles_everything(api):
    contract_id = at_customer(api, technical_service())
    api.decide("customer", contract_id, "sign")
    complete_letters(api, contract_id)
    api.decide("signatory", contract_id, "sign")
    item = letters(api, contract_id)["items"][0]
    pdf = api.call("GET", f"/contracts/{contract_id}/letters/information_security/document.pdf", "customer")
    import hashlib
    assert hashlib.sha256(pdf.data).hexdigest() == item["document_sha256"]
    package = api.call("GET", f"/contracts/{contract_id}/package.pdf", "customer")
    assert package.status_code == 200 and package.data.startswith(b"%PDF")
    embedded = embedded_files(package.data)
    assert hashlib.sha256(embedded["letter-1-information_security.pdf"]).hexdigest() == item["document_sha256"]
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 200


def embedded_files(pdf):
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    names = PdfFileReader(io.BytesIO(pdf), strict=False).root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {str(names[i]): names[i + 1]["/EF"]["/F"].data for i in range(0, len(names), 2)}


def test_the_package_waits_for_activation(api):
    contract_id = at_customer(api, technical_service())
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 409
