"""The 补充协议 of an agreed amendment is rendered (the job ``supplement.prepare``) and signed like the contract: the
customer with a one-time code and a PAdES signature in its field, then the provider's signatory with the seal; only
then do the effective terms change. Deemed agreement: the proposer alone signs. The contract ending first (terminated,
or its term over) voids it."""
import subprocess
from datetime import datetime, timedelta

from sqlmodel import select

from tests.lifecycle.helpers import (active_contract, amendment, amendment_path as base, china_midnight, detail,
                                     events, mails, sign_amendment as sign, today)
from tests.lifecycle.test_amendments import CHANGE, answer, propose, terms
from workflows.models import Signature, SignedDocument

def pdf_text(pdf):
    """The PDF's text as poppler's pdftotext reads it, on one line."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode() \
        .replace("\n", "")


def test_agreed_the_supplement_is_signed_by_both_sides_and_only_then_takes_effect(api, platform):
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id).status_code == 201
    response = answer(api, contract_id, 1, "customer", "agree")
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["document"]) == ("signing", {"status": "preparing", "sha256": None})
    assert terms(api, contract_id)["total"] == "100000.00"  # not in force before it is signed
    assert api.call("POST", f"{base(contract_id, 1)}/intent", "customer").status_code == 409  # being rendered
    api.run_jobs()
    state = amendment(api, contract_id, 1, "customer")
    assert (state["status"], state["signing_party"], state["document"]["status"]) == ("signing", "customer", "ready")
    pdf = api.call("GET", f"{base(contract_id, 1)}/document", "customer")
    assert pdf.status_code == 200 and pdf.headers["X-Document-SHA256"] == state["document"]["sha256"]
    text = pdf_text(pdf.data)
    number = detail(api, contract_id)["number"]
    for words in (f"补充协议编号：{number}-BC01", "¥100,000.00", "¥120,000.00", "壹拾贰万元整", "民法典》第五百四十三条",
                  "统一社会信用代码"):
        assert words in text, words

    # the provider waits for the customer; a wrong code or an outdated document is refused, nothing signed
    assert api.call("POST", f"{base(contract_id, 1)}/intent", "signatory").status_code == 403
    wrong = sign(api, contract_id, 1, "customer", intent_code="000000")
    assert wrong.status_code == 422 and "intent_code" in wrong.json["fields"], wrong.json
    stale = sign(api, contract_id, 1, "customer", document_sha256="0" * 64)
    assert stale.status_code == 409 and "document_sha256" in stale.json["fields"], stale.json
    assert amendment(api, contract_id, 1)["signing_party"] == "customer"

    signed = sign(api, contract_id, 1, "customer")
    assert signed.status_code == 200, signed.json
    assert (signed.json["status"], signed.json["signing_party"]) == ("signing", "provider")
    assert terms(api, contract_id)["total"] == "100000.00"
    effective = sign(api, contract_id, 1, "signatory")
    assert effective.status_code == 200, effective.json
    assert (effective.json["status"], effective.json["document"]["status"]) == ("effective", "signed")
    assert effective.json["signed_at"]
    after = terms(api, contract_id)
    assert after["total"] == "120000.00" and after["history"][0]["amendment"] == 1
    assert detail(api, contract_id)["total"] == "120000.00"

    with platform.db.read() as session:
        rows = session.exec(select(Signature).where(Signature.amendment_id.is_not(None))).all()
        assert sorted((s.role, s.field) for s in rows) == [("customer", "customer"), ("provider", "provider"),
                                                           ("provider", "provider-signatory")]
        final = session.exec(select(SignedDocument).where(SignedDocument.amendment_id.is_not(None))
                             .order_by(SignedDocument.id.desc())).first()
    report, records = platform.signing.verify(final.pdf)
    assert report.valid and len(report.signatures) == 4  # the platform's certification and the three fields
    assert (records[0]["amendment"], records[0]["fields"]["provider"]) == (1, "乙方（合同专用章）")
    # the contract's own evidence and certificate are the contract's signatures alone
    contract_fields = [item["field"] for item in detail(api, contract_id)["signatures"]]
    assert len(contract_fields) == len(set(contract_fields)) and "letter-information_security" in contract_fields
    assert [e.event for e in events(platform, contract_id, "supplement_signed")] == ["supplement_signed"] * 2


def test_deemed_agreement_is_signed_by_the_proposer_alone_citing_the_article(api, platform, as_user):
    contract_id = active_contract(api, days_left=200)
    proposed = propose(api, contract_id).json
    assert platform.timers.run_due(at=datetime.fromisoformat(proposed["answer_due_at"])) == 1
    api.run_jobs()
    state = amendment(api, contract_id, 1)
    assert (state["answer"], state["status"], state["signing_party"]) == ("deemed_agreed", "signing", "provider")
    text = pdf_text(api.call("GET", f"{base(contract_id, 1)}/document", "sales").data)
    assert "视为同意" in text and "第五百四十三条" in text and "原合同第" in text
    assert api.call("POST", f"{base(contract_id, 1)}/intent", "customer").status_code == 403
    # the signatory signs from the inbox: the task 乙方签署盖章, its code and the sign decision
    (task,) = [t for t in api.tasks("signatory", contract_id) if t["role"] == "provider"]
    assert (task["name"], task["title"]) == ("provider_sign", "乙方签署盖章")
    page = as_user("signatory").get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert f"/contracts/{contract_id}/amendments/1/document.pdf" in page and state["document"]["sha256"] in page
    assert api.call("POST", f"/tasks/{task['id']}/intent", "signatory").status_code == 201
    body = {"decision": "sign", "document_sha256": state["document"]["sha256"], "intent_code": api.last_code(contract_id)}
    response = api.call("POST", f"/tasks/{task['id']}/complete", "signatory", body)
    assert response.status_code == 200, response.json
    assert amendment(api, contract_id, 1)["status"] == "effective"
    assert terms(api, contract_id)["total"] == "120000.00"
    (mail, _other) = mails(platform, contract_id, "amendment_effective")
    assert "合同总金额：由 ¥100,000.00 改为 ¥120,000.00" in mail.body


def test_the_contract_terminated_first_voids_the_supplement_and_one_awaiting_its_answer(api, platform):
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id).status_code == 201
    assert answer(api, contract_id, 1, "customer", "agree").json["status"] == "signing"
    api.run_jobs()
    notice = {"effective_on": (today() + timedelta(days=60)).isoformat(), "reason": "业务调整"}
    response = api.call("POST", f"/contracts/{contract_id}/termination", "sales", notice)
    assert response.status_code == 200, response.json
    voided = amendment(api, contract_id, 1)
    assert (voided["status"], voided["signing_party"]) == ("void", None)
    assert api.call("POST", f"{base(contract_id, 1)}/intent", "customer").status_code == 409
    assert terms(api, contract_id)["total"] == "100000.00"
    assert mails(platform, contract_id, "amendment_void")


def test_an_amendment_awaiting_its_answer_is_void_once_the_contract_is_terminated(api, platform):
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id, body=CHANGE).status_code == 201
    notice = {"effective_on": (today() + timedelta(days=60)).isoformat(), "reason": "业务调整"}
    assert api.call("POST", f"/contracts/{contract_id}/termination", "sales", notice).status_code == 200
    assert amendment(api, contract_id, 1)["status"] == "void"
    assert answer(api, contract_id, 1, "customer", "agree").status_code == 409
    assert api.call("GET", f"/tasks?contract_id={contract_id}&role=customer", "customer").json["items"] == []


def test_the_term_ending_first_voids_a_supplement_awaiting_its_signatures(api, platform):
    contract_id = active_contract(api, days_left=2)
    body = {"changes": {"clauses": {"5.2": "本保密条款在服务期限内及服务终止后三年之内持续有效。"}}, "reason": "延长保密期"}
    assert propose(api, contract_id, body=body).status_code == 201
    assert answer(api, contract_id, 1, "customer", "agree").json["status"] == "signing"
    assert platform.timers.run_due(at=china_midnight(today() + timedelta(days=3))) >= 1
    assert detail(api, contract_id)["status"] == "ended"
    assert amendment(api, contract_id, 1)["status"] == "void"
    assert terms(api, contract_id)["clauses"] == {}


def test_a_supplement_awaiting_the_customer_is_not_the_contract_awaiting_them(api):
    """The customer's 补充协议 task is the amendment's: declining the contract (active, in force) finds nothing."""
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id).status_code == 201
    assert answer(api, contract_id, 1, "customer", "agree").status_code == 200
    api.run_jobs()
    assert amendment(api, contract_id, 1, "customer")["signing_party"] == "customer"
    declined = api.call("POST", f"/contracts/{contract_id}/decline", "customer", {"reason": "不签了"})
    assert declined.status_code == 409, declined.json
    assert detail(api, contract_id)["status"] == "active"
    assert amendment(api, contract_id, 1, "customer")["status"] == "signing"
