"""Commitment letters: mandated by service type, pinned with each contract version, attached before the customer signs,
filled in, signed in the customer's one act as pages of the contract's document, checked before activation; voice
lines need the voice clause."""
import hashlib
import io
import json
import subprocess

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.letters.helpers import (SECURITY_VALUES, VOICE_VALUES, at_customer, complete_letters, customer_signs,
                                   document_html, fill, letters, network_line, signing_state, technical_service)
from workflows.demo import BPMN_DIR
from workflows.models import Signature
from workflows.signing.verify import PACKAGE_ATTACHMENT


def codes(items):
    return [(i["code"], i["status"]) for i in items]


def test_letters_are_listed_from_the_draft_and_attached_when_the_customer_is_asked(api):
    draft = api.call("POST", "/contracts", "sales", network_line()).json
    assert codes(draft["letters"]) == [("network_access", "required"), ("information_security", "required")]
    assert all(i["template_version"] == 1 for i in draft["letters"])  # pinned with the version
    technical = api.call("POST", "/contracts", "sales", technical_service()).json
    assert codes(technical["letters"]) == [("information_security", "required")]
    contract_id = at_customer(api, network_line())
    items = letters(api, contract_id)["items"]
    # the access letter asks for nothing: it is ready as it is; the security letter waits for its officer
    assert codes(items) == [("network_access", "filled"), ("information_security", "attached")]
    assert [i["position"] for i in items] == [1, 2]
    assert all(i["template_version"] == 1 and len(i["template_sha256"]) == 64 for i in items)


def test_the_rule_is_evaluated_again_when_the_service_types_change(api):
    draft = api.call("POST", "/contracts", "sales", technical_service()).json
    patched = api.call("PATCH", f"/contracts/{draft['id']}", "sales", {"service_types": ["internet_line"]})
    assert patched.status_code == 200, patched.json
    assert codes(patched.json["letters"]) == [("network_access", "required"), ("information_security", "required")]


def test_the_customer_signs_the_contract_and_every_letter_in_one_act_after_filling_them(api, platform):
    contract_id = at_customer(api, network_line())
    assert signing_state(api, contract_id)["status"] == "letters"
    refused = api.call("POST", f"/contracts/{contract_id}/sign", "customer",
                       {"document_sha256": "0" * 64, "method": "typed", "typed_name": "吴建荣", "consent": True,
                        "intent_code": "123456"})
    assert refused.status_code == 409 and refused.json["fields"] == {"letters.information_security": "not filled"}
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 409  # nothing to sign yet
    assert fill(api, contract_id, "information_security", SECURITY_VALUES).status_code == 200
    assert signing_state(api, contract_id)["status"] == "preparing"  # the worker renders and certifies it
    api.run_jobs()
    state = signing_state(api, contract_id)
    assert state["status"] == "ready" and len(state["document_sha256"]) == 64
    signed = customer_signs(api, contract_id)
    assert signed.status_code == 200, signed.json
    assert signed.json["fields"] == ["letter-network_access", "letter-information_security", "customer"]
    detail = api.call("GET", f"/contracts/{contract_id}", "sales").json
    assert detail["status"] == "countersigning"
    assert codes(detail["letters"]) == [("network_access", "signed"), ("information_security", "signed")]
    with platform.db.read() as session:
        rows = session.exec(Signature.__table__.select().order_by(Signature.id)).all()
    assert [(r.field, r.letter_code) for r in rows] == [("letter-network_access", "network_access"),
                                                        ("letter-information_security", "information_security"),
                                                        ("customer", None)]
    assert {r.document_sha256 for r in rows} == {state["document_sha256"]}  # the document the signer was shown
    assert len({json.loads(r.intent_json)["issued_at"] for r in rows}) == 1  # one code for the whole act
    done = api.sign("signatory", contract_id)
    assert done["contract"]["status"] == "active"
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
    assert fill(api, contract_id, "information_security", {}, user="sales").status_code == 403
    assert api.call("PUT", f"/contracts/{contract_id}/letters/information_security", "customer", ["x"]).status_code == 422
    complete_letters(api, contract_id)
    wrong = customer_signs(api, contract_id, document_sha256="0" * 64)
    assert wrong.status_code == 409 and wrong.json["fields"] == {"document_sha256": "not the current document"}
    no_consent = api.call("POST", f"/contracts/{contract_id}/sign", "customer",
                          {"document_sha256": signing_state(api, contract_id)["document_sha256"], "method": "typed",
                           "typed_name": ""})
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
    html = document_html(api, contract_id)
    assert "08:00-18:00" in html and "每日不超过200次" in html and "徐永立" in html


def test_without_a_voice_line_the_voice_clause_reads_not_applicable(api):
    contract_id = at_customer(api, technical_service())
    ignored = fill(api, contract_id, "information_security", {**SECURITY_VALUES, "voice_usage_hours": "全天"})
    assert ignored.status_code == 200 and ignored.json["values"] == SECURITY_VALUES
    assert "使用业务的时段为<span class=\"blank\">/</span>" in document_html(api, contract_id)


def test_a_template_version_added_later_never_changes_a_contract_in_flight(api, platform, users):
    in_review = api.call("POST", "/contracts", "sales", technical_service()).json["id"]
    with platform.db.write() as session:
        old = platform.letters.template(session, "information_security")
        row, created = platform.letters.add_version(session, "information_security", old.title,
                                                    old.source.replace("本单位郑重承诺", "本单位特此郑重承诺"),
                                                    old.fields_json, users["admin"], "wording")
    assert created and row.version == old.version + 1
    assert api.call("POST", f"/contracts/{in_review}/submit", "sales").status_code == 200
    api.decide("legal", in_review, "approve")
    api.decide("finance", in_review, "approve")
    (item,) = letters(api, in_review)["items"]
    assert (item["template_version"], item["template_sha256"]) == (old.version, old.sha256)
    assert "本单位郑重承诺" in document_html(api, in_review) and "特此" not in document_html(api, in_review)
    fresh = api.call("POST", "/contracts", "sales", technical_service()).json
    assert fresh["letters"][0]["template_version"] == row.version
    assert "本单位特此郑重承诺" in document_html(api, fresh["id"])


def test_the_diagram_gate_routes_back_to_the_customer_with_a_reminder(api, platform):
    """The safety net: were the service check bypassed, the diagram sends the contract back instead of failing."""
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id, method="drawn", image=PNG_DATA_URL).status_code == 200
    with platform.db.write() as session:  # the evidence no longer matches its record
        row = session.exec(Signature.__table__.select().where(Signature.role == "customer")).one()
        session.execute(Signature.__table__.update().where(Signature.id == row.id).values(image_sha256="0" * 64))
    (task,) = api.tasks("signatory", contract_id)
    refused = api.call("POST", f"/tasks/{task['id']}/intent", "signatory")  # refused before a code is even sent
    assert refused.status_code == 409 and list(refused.json["fields"]) == [f"signatures.{row.id}"]
    platform.tasks.guards.clear()
    answer = api.decide("signatory", contract_id, "sign")
    assert answer["contract"]["status"] == "awaiting_customer"
    assert [t["name"] for t in answer["next_tasks"]] == ["customer_sign"]
    events = [e["event"] for e in api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]]
    assert events.count("customer_reminder") == 1 and events[-1] != "process_failed"


@pytest.mark.slow
def test_the_package_embeds_the_signed_contract_with_its_letters_and_verifies(api, platform, tmp_path):
    contract_id = at_customer(api, network_line())
    api.sign("customer", contract_id)
    api.sign("signatory", contract_id)
    package = api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales")
    assert package.status_code == 200 and package.data.startswith(b"%PDF")
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "customer").data == package.data
    signed = embedded_files(package.data)[PACKAGE_ATTACHMENT]
    staff_pdf = api.call("GET", f"/contracts/{contract_id}/document.pdf", "sales")
    assert staff_pdf.data == signed and staff_pdf.headers["X-Document-SHA256"] == hashlib.sha256(signed).hexdigest()
    (tmp_path / "signed.pdf").write_bytes(signed)
    text = subprocess.run(["pdftotext", str(tmp_path / "signed.pdf"), "-"], capture_output=True, text=True).stdout
    assert "用户入网责任书" in text.replace(" ", "") and "网络及信息安全承诺书" in text.replace(" ", "")
    report, _records = platform.signing.verify(package.data)
    assert report.valid, report.problems
    fields = {s.field for s in report.signatures if s.document == "contract"}
    assert {"customer", "letter-network_access", "letter-information_security", "provider",
            "provider-signatory"} <= fields


def embedded_files(pdf):
    names = PdfFileReader(io.BytesIO(pdf), strict=False).root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {str(names[i]): names[i + 1]["/EF"]["/F"].data for i in range(0, len(names), 2)}


def test_the_package_waits_for_activation(api):
    contract_id = at_customer(api, technical_service())
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 409


PNG_DATA_URL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACgAAAAQCAYAAABk1z2tAAAAYElEQVR4nGNgGAWjYBRgBVwaef8ZGBgYWAbaITAAcxA6"
                "YKS3QxgYsDvm241JWN1CFweS4iB0QHUHUuIYbIBiB1LbQeiAJINo7RhsAK/hA+EgdAC3bDA4Bi/AVQ6NgqEOAK7UIOmWcox1AAAAAElFTkSuQmCC")


def test_a_mandated_letter_without_a_template_stops_the_draft_at_submission(api, platform, users):
    """The pins are the one list of letters: one the decision table mandates but nobody wrote a template for is
    listed as such and refused at submission, rather than missing from what is reviewed and signed."""
    dmn = (BPMN_DIR / "mandated_letters.dmn").read_bytes().replace(b'"information_security"', b'"data_protection"')
    with platform.db.write() as session:
        platform.repository.deploy(session, (BPMN_DIR / "contract_approval.bpmn").read_bytes(),
                                   {"finance_routing.dmn": (BPMN_DIR / "finance_routing.dmn").read_bytes(),
                                    "approval_matrix.dmn": (BPMN_DIR / "approval_matrix.dmn").read_bytes(),
                                    "seal_rights.dmn": (BPMN_DIR / "seal_rights.dmn").read_bytes(),
                                    "mandated_letters.dmn": dmn}, "admin")
    contract_id = api.call("POST", "/contracts", "sales", technical_service()).json["id"]
    assert [(i["code"], i["status"]) for i in letters(api, contract_id)["items"]] == [("data_protection", "no_template")]
    refused = api.call("POST", f"/contracts/{contract_id}/submit", "sales")
    assert refused.status_code == 422 and list(refused.json["fields"]) == ["letters.data_protection"], refused.json
    with platform.db.write() as session:  # an administrator writes it
        shipped = platform.letters.template(session, "information_security")
        platform.letters.add_version(session, "data_protection", "数据保护承诺书",
                                     shipped.source.replace("place-letter-information_security",
                                                            "place-letter-data_protection"),
                                     shipped.fields_json, users["admin"], "new letter")
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    (item,) = letters(api, contract_id)["items"]
    assert (item["code"], item["status"], item["template_version"]) == ("data_protection", "required", 1)
    assert "place-letter-data_protection" in document_html(api, contract_id)  # a page of the document reviewed
