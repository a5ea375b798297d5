"""What makes a signed contract hold up, each as it was found broken: the text signed is the text approved, only the
bound customer acts, routing follows the current figures on every path, the signer changes only with an
administrator's approval, concurrent signers lose nothing, and a failing step on the customer's path is an incident."""
import subprocess
import threading

import pytest
from pyhanko.sign.timestamps import HTTPTimeStamper
from sqlmodel import select

from tests.conftest import AUDIT_KEY, free_port
from tests.letters.helpers import (SECURITY_VALUES, at_customer, complete_letters, customer_signs, fill, network_line,
                                   signing_state, technical_service)
from tests.process.test_lifecycle import small_contract
from workflows.contracts.credit_code import check_character
from workflows.errors import Conflict, ValidationFailed
from workflows.models import Contract, ContractTemplate, OutboxMail, Signature, SignedDocument
from workflows.platform import Platform
from workflows.services.runtime import TIMER

MARKER = "技术服务内容（第二版措辞）"


def history(api, contract_id):
    return api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]


def pdf_text(tmp_path, pdf):
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.replace(" ", "")


# --- 1. the text signed is the text reviewers approved -----------------------------------------------------------------
@pytest.mark.slow
def test_a_contract_template_added_during_review_changes_nothing_the_customer_signs(api, platform, users, tmp_path):
    contract_id = api.call("POST", "/contracts", "sales", technical_service()).json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    with platform.db.write() as session:
        shipped = platform.templates.get(session, "technical_service", 1).source
        platform.templates.add_version(session, "technical_service", shipped.replace("技术服务内容", MARKER, 1),
                                       users["admin"], "new wording")
    api.decide("finance", contract_id, "approve")
    complete_letters(api, contract_id)
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        certified = platform.documents.current(session, contract)
    approvals = [e["details"]["document_sha256"] for e in history(api, contract_id)
                 if e["event"] == "task_completed" and e["decision"] == "approve"]
    assert approvals == [contract.approved_sha256] * 2 == [certified.approved_sha256] * 2  # legal, finance, certified
    assert MARKER not in pdf_text(tmp_path, certified.pdf) and "技术服务内容" in pdf_text(tmp_path, certified.pdf)
    assert MARKER not in api.call("GET", f"/contracts/{contract_id}/document.html", "customer").get_data(as_text=True)
    assert customer_signs(api, contract_id).status_code == 200
    fresh = api.call("POST", "/contracts", "sales", technical_service()).json["id"]  # new contracts take the new text
    assert MARKER in api.call("GET", f"/contracts/{fresh}/document.html", "sales").get_data(as_text=True)


def test_a_revision_that_changes_only_the_version_number_is_certified_as_approved(api, platform):
    """Sales revise without changing a figure: the new version renders differently only by its number, and what the
    reviewers approve is that rendering, not the one of the version before with the same content."""
    draft = technical_service()
    contract_id = api.call("POST", "/contracts", "sales", draft).json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "return", "请再核对一遍")
    revised = api.call("PATCH", f"/contracts/{contract_id}", "sales", {"title": draft["title"]})
    assert revised.status_code == 200 and revised.json["version"] == 2
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    if api.tasks("finance", contract_id):
        api.decide("finance", contract_id, "approve")
    complete_letters(api, contract_id)
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        assert [j.kind for j in platform.jobs.unfinished(session, contract_id)] == [TIMER]  # only its timers wait
        certified = platform.documents.current(session, contract)
        assert certified is not None and certified.approved_sha256 == contract.approved_sha256 \
            == platform.documents.fresh_review_digest(session, contract)


def test_nothing_is_certified_that_no_longer_renders_as_approved(api, platform, as_user, database_url):
    contract_id = at_customer(api, technical_service())
    api.index_clauses()
    with platform.db.write() as session:  # the approved text drifts under the contract (an edited template row)
        row = session.exec(select(ContractTemplate).where(ContractTemplate.kind == "technical_service",
                                                          ContractTemplate.version == 1)).one()
        row.source = row.source.replace("技术服务内容", MARKER, 1)
    assert fill(api, contract_id, "information_security", SECURITY_VALUES).status_code == 200
    worker = Platform(database_url, audit_key=AUDIT_KEY.encode())  # a worker started after the edit reads it
    try:
        assert worker.jobs.run_pending("tests") == 1  # refused for good at once: rendering again gives the same
    finally:
        worker.db.dispose()
    with platform.db.read() as session:
        (job,) = platform.jobs.dead(session, contract_id)
        assert platform.documents.current(session, session.get(Contract, contract_id)) is None
        mails = session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id,
                                                      OutboxMail.kind == "document_not_approved")).all()
    assert "does not render as the reviewers approved" in job.last_error
    assert [m.to_addr for m in mails] == ["sales@provider.example"]  # whoever drafted it hears of it
    assert "document_not_approved" in [e["event"] for e in history(api, contract_id)]
    state = signing_state(api, contract_id)  # the customer is told, instead of "preparing" for ever
    assert state["status"] == "failed" and "does not render as the reviewers approved" in state["problem"]
    assert f'id="failed-job-{job.id}"' in as_user("sales").get(f"/contracts/{contract_id}").get_data(as_text=True)
    admin = as_user("admin")
    assert admin.post(f"/contracts/{contract_id}/jobs/{job.id}/retry", page=f"/contracts/{contract_id}").status_code == 302
    with platform.db.read() as session:  # an administrator runs it again (once the cause is repaired)
        assert [j.id for j in platform.jobs.unfinished(session, contract_id) if j.kind != TIMER] == [job.id]
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 409


def test_an_approval_of_a_different_text_than_the_earlier_reviewer_approved_is_refused(api, platform, users,
                                                                                       database_url):
    """Legal approved on one node; the text drifted; finance decides on another node, which renders it afresh."""
    contract_id = api.call("POST", "/contracts", "sales", technical_service()).json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    with platform.db.write() as session:
        row = session.exec(select(ContractTemplate).where(ContractTemplate.kind == "technical_service")).one()
        row.source = row.source.replace("技术服务内容", MARKER, 1)
    other_node = Platform(database_url, audit_key=AUDIT_KEY.encode())
    try:
        (task,) = api.tasks("finance", contract_id)
        with pytest.raises(Conflict) as refused:
            other_node.approval.decide(users["finance"], task["id"], "approve")
        assert "document_sha256" in refused.value.fields
    finally:
        other_node.db.dispose()


# --- 3. only the customer bound to a contract acts on it ---------------------------------------------------------------
def valid_credit_code(body="91110000MA01ABCD0"):
    return body + check_character(body)


def test_a_customer_account_acts_only_on_the_contracts_bound_to_it(api, platform):
    school = at_customer(api, technical_service())  # the demo account acts for this school (its credit code)
    city = api.call("POST", "/contracts", "sales", network_line()).json["id"]  # another customer
    assert api.call("POST", f"/contracts/{city}/submit", "sales").status_code == 200
    api.decide("legal", city, "approve")
    api.decide("finance", city, "approve")
    assert api.call("GET", f"/contracts/{city}", "sales").json["status"] == "awaiting_customer"
    with platform.db.write() as session:
        platform.accounts.create_user(session, "acme-api", ["customer"], "acme-secret-1", "Acme 接口", "it@acme.example",
                                      valid_credit_code())
    body = {"document_sha256": "0" * 64, "method": "typed", "typed_name": "x", "consent": True, "intent_code": "123456"}
    for user, contract_id in (("customer", city), ("acme-api", school), ("acme-api", city)):
        for method, path, payload in (("GET", "", None), ("GET", "/letters", None), ("GET", "/signing", None),
                                      ("GET", "/document.pdf", None), ("GET", "/package.pdf", None),
                                      ("PUT", "/letters/information_security", {"values": SECURITY_VALUES}),
                                      ("POST", "/intent", None), ("POST", "/sign", body),
                                      ("POST", "/decline", {"reason": "x"})):
            answer = api.call(method, f"/contracts/{contract_id}{path}", user, payload)
            assert answer.status_code == 404, (user, contract_id, method, path, answer.status_code)
    assert [t["contract_id"] for t in api.call("GET", "/tasks", "customer").json["items"]] == [school]  # its own only
    assert api.call("GET", "/tasks", "acme-api").json["items"] == []
    assert [c["id"] for c in api.call("GET", "/contracts", "customer").json["items"]] == [school]
    with platform.db.read() as session:  # and no account with the customer role hears of the city's contract
        mails = session.exec(select(OutboxMail.to_addr).where(OutboxMail.contract_id == city)).all()
    assert "xu.yongli@school.example" not in mails and "it@acme.example" not in mails
    assert api.call("POST", f"/contracts/{city}/signer", "sales", {"username": "customer"}).status_code == 403
    assert api.call("POST", f"/contracts/{city}/signer", "admin", {"username": "customer"}).status_code == 200
    assert api.call("GET", f"/contracts/{city}/signing", "customer").status_code == 200  # bound to this one now
    assert api.call("GET", f"/contracts/{city}", "acme-api").status_code == 404


def test_the_customer_task_is_the_bound_customers_alone(api, platform):
    """Staff (an administrator too) see the customer's task but never decide, hold or hand it on; an account cannot be
    customer and staff at once; and a customer's code is only sent while their task is open."""
    contract_id = at_customer(api, technical_service())
    (task,) = api.tasks("customer", contract_id)
    assert api.call("GET", f"/tasks/{task['id']}", "admin").status_code == 200
    for user, action, body in (("admin", "complete", {"decision": "decline", "comment": "x"}),
                               ("admin", "claim", None), ("admin", "delegate", {"to": "customer"})):
        assert api.call("POST", f"/tasks/{task['id']}/{action}", user, body).status_code == 403, (user, action)
    for action, body in (("claim", None), ("delegate", {"to": "customer"})):  # the customer cannot hand it on either
        assert api.call("POST", f"/tasks/{task['id']}/{action}", "customer", body).status_code == 409, action
    with platform.db.write() as session:
        with pytest.raises(ValidationFailed) as mixed:
            platform.accounts.create_user(session, "sales-and-customer", ["sales", "customer"], "mixed-secret-1")
        assert "roles" in mixed.value.fields
        with pytest.raises(ValidationFailed):
            platform.accounts.set_roles(session, "sales", ["sales", "customer"], True, "admin")
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "awaiting_customer"
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id).status_code == 200
    late = api.call("POST", f"/contracts/{contract_id}/intent", "customer")  # signed: no more codes
    assert late.status_code == 409, late.json
    api.sign("signatory", contract_id)
    seen = {s["field"]: s for s in api.call("GET", f"/contracts/{contract_id}", "customer").json["signatures"]}
    assert seen["customer"]["ip"] and seen["customer"]["email"]  # its own evidence
    assert seen["provider-signatory"]["name"] and seen["provider-signatory"]["signed_at"]
    assert all(seen["provider-signatory"][key] is None for key in ("email", "subject", "ip", "user_agent"))
    staff = {s["field"]: s for s in api.call("GET", f"/contracts/{contract_id}", "sales").json["signatures"]}
    assert staff["provider-signatory"]["ip"] and staff["provider-signatory"]["subject"] == "signatory"


# --- 4. routing follows the current figures, whichever way sales submit ------------------------------------------------
def test_routing_takes_the_figures_of_the_version_submitted_on_every_path(api):
    draft = small_contract()  # 100,000: no finance review
    contract_id = api.call("POST", "/contracts", "sales", draft).json["id"]
    (task,) = api.tasks("sales", contract_id)
    first = api.call("POST", f"/tasks/{task['id']}/complete", "sales", {"decision": "submit"})  # not /submit
    assert first.status_code == 200 and first.json["contract"]["status"] == "legal_review", first.json
    api.decide("legal", contract_id, "return", "金额有误")
    bigger = {"total": "3000000.00", "items": [{"name": "运维服务", "content": "系统运维", "amount": "3000000.00"}],
              "payment_plan": {"installments": [{"due_date": "2025-06-30", "amount": "3000000.00"}]}}
    assert api.call("PATCH", f"/contracts/{contract_id}", "sales", bigger).status_code == 200
    (task,) = api.tasks("sales", contract_id)
    assert api.call("POST", f"/tasks/{task['id']}/complete", "sales", {"decision": "submit"}).status_code == 200
    answer = api.decide("legal", contract_id, "approve")
    assert answer["contract"]["status"] == "finance_review"  # 3,000,000: finance must review


def test_the_web_task_page_submits_with_the_current_figures(api, as_user):
    """The same two submits through the web task page's button (the first once failed with NameError: total)."""
    contract_id = api.call("POST", "/contracts", "sales", small_contract()).json["id"]
    web = as_user("sales")

    def submit_on_the_task_page():
        (task,) = api.tasks("sales", contract_id)
        assert web.post(f"/tasks/{task['id']}/decide", {"decision": "submit"}, page=f"/tasks/{task['id']}").status_code == 302
    submit_on_the_task_page()
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "legal_review"
    api.decide("legal", contract_id, "return", "金额有误")
    bigger = {"total": "3000000.00", "items": [{"name": "运维服务", "content": "系统运维", "amount": "3000000.00"}],
              "payment_plan": {"installments": [{"due_date": "2025-06-30", "amount": "3000000.00"}]}}
    assert api.call("PATCH", f"/contracts/{contract_id}", "sales", bigger).status_code == 200
    submit_on_the_task_page()
    assert api.decide("legal", contract_id, "approve")["contract"]["status"] == "finance_review"


# --- 5. the signer changes only with an administrator's approval ---------------------------------------------------------
def test_changing_the_signer_after_acceptance_needs_an_administrator(api, platform):
    contract_id = at_customer(api, technical_service())
    asked = api.call("POST", f"/contracts/{contract_id}/invitation", "sales",
                     {"action": "change_contact", "email": "someone.else@school.example", "reason": "校长出差"})
    assert asked.status_code == 200 and asked.json["status"] == "sent"  # nobody accepted yet: it goes out at once
    bound = api.call("POST", f"/contracts/{contract_id}/signer", "admin", {"username": "customer"})  # a signer accepted
    assert bound.status_code == 200
    odd = api.call("POST", f"/contracts/{contract_id}/invitation", "sales",
                   {"action": "change_contact", "email": "intruder@evil.example", "reason": 5})
    assert odd.status_code == 422 and "reason" in odd.json["fields"]  # and nothing was asked
    pending = api.call("POST", f"/contracts/{contract_id}/invitation", "sales",
                       {"action": "change_contact", "email": "intruder@evil.example", "reason": "换人"})
    assert pending.status_code == 202 and pending.json["status"] == "pending_approval"
    with platform.db.read() as session:  # the accepted signer keeps the contract until an administrator decides
        assert platform.customers.current_invitation(session, contract_id).email == "someone.else@school.example"
    for body in ({"approve": True, "comment": 5}, {"approve": "yes"}):
        odd = api.call("POST", f"/contact-changes/{pending.json['request']}/decision", "admin", body)
        assert odd.status_code == 422, body
    denied = api.call("POST", f"/contact-changes/{pending.json['request']}/decision", "sales", {"approve": True})
    assert denied.status_code == 403
    approved = api.call("POST", f"/contact-changes/{pending.json['request']}/decision", "admin",
                        {"approve": True, "comment": "已电话确认"})
    assert approved.status_code == 200
    with platform.db.read() as session:
        current = platform.customers.current_invitation(session, contract_id)
    assert current.email == "intruder@evil.example" and current.identity_id is None
    assert api.call("POST", f"/contact-changes/{pending.json['request']}/decision", "admin",
                    {"approve": False}).status_code == 409  # decided once
    (changed,) = [e for e in history(api, contract_id) if e["event"] == "signer_contact_changed"]
    assert (changed["actor"], changed["on_behalf_of"], changed["details"]["to"]) == ("admin", "sales",
                                                                                    "intruder@evil.example")


# --- concurrency: the current PDF moves by compare-and-set ----------------------------------------------------------------
def test_two_signing_acts_racing_on_one_document_one_wins_and_nothing_is_lost(api, platform):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    shown = signing_state(api, contract_id)["document_sha256"]
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
    body = {"document_sha256": shown, "method": "typed", "typed_name": "徐永立", "consent": True,
            "intent_code": api.last_code(contract_id)}
    barrier, answers = threading.Barrier(2), []

    def sign():
        client = api.client.application.test_client()
        barrier.wait()
        answers.append(client.post(f"/api/v1/contracts/{contract_id}/sign", json=body,
                                   headers={"Authorization": f"Bearer {api.token('customer')}"}).status_code)
    threads = [threading.Thread(target=sign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        chain = platform.documents.chain(session, contract_id)
        rows = session.exec(select(Signature).where(Signature.contract_id == contract_id)).all()
        documents = session.exec(select(SignedDocument).where(SignedDocument.contract_id == contract_id)).all()
    assert [d.kind for d in chain] == ["certified", "signed:customer"] and contract.status == "countersigning"
    assert len(rows) == 2 and {r.pades_sha256 for r in rows} == {chain[-1].sha256}  # the winner's evidence only
    assert len(documents) == 2  # the loser's PDF was never stored


def test_a_document_moved_while_the_customer_signed_refuses_the_act_and_keeps_the_code(api, platform, monkeypatch):
    """The whole act, with another writer moving the current document between the signing and the storing: the act
    answers 409, stores nothing, and its code is not spent (the rollback undoes that too), so signing again works."""
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    with platform.db.read() as session:
        certified = platform.documents.current(session, session.get(Contract, contract_id))
    shown = certified.sha256
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
    code = api.last_code(contract_id)
    verified = platform.signing.verified

    def another_writer_first(pdf):
        monkeypatch.setattr(platform.signing, "verified", verified)  # once
        with platform.db.write() as session:
            platform.documents.advance(session, session.get(Contract, contract_id), "certified", certified.pdf,
                                       replaces=certified.id, parent_id=certified.id, verified=True)
        return verified(pdf)
    monkeypatch.setattr(platform.signing, "verified", another_writer_first)
    body = {"document_sha256": shown, "method": "typed", "typed_name": "徐永立", "consent": True, "intent_code": code}
    refused = api.call("POST", f"/contracts/{contract_id}/sign", "customer", body)
    assert refused.status_code == 409 and "changed at the same moment" in refused.json["message"], refused.json
    with platform.db.read() as session:
        assert session.exec(select(Signature).where(Signature.contract_id == contract_id)).all() == []
        moved = platform.documents.current(session, session.get(Contract, contract_id))
    assert moved.id != certified.id and moved.sha256 == shown  # same bytes, a new current row
    signed = api.call("POST", f"/contracts/{contract_id}/sign", "customer", body)  # the same code still works
    assert signed.status_code == 200, signed.json


def test_two_writers_racing_from_one_document_one_wins_and_its_pdf_is_the_current_one(api, platform):
    """Each act reads the current PDF, signs outside any transaction, then moves the current document in its write
    transaction: the move is a compare-and-set, so of two writers that read the same PDF exactly one succeeds."""
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    with platform.db.read() as session:
        certified = platform.documents.current(session, session.get(Contract, contract_id))
    barrier, outcomes = threading.Barrier(2), {}

    def sign_into(pdf):
        barrier.wait()  # both read the certified PDF and now store what they made of it
        try:
            with platform.db.write() as session:
                platform.documents.advance(session, session.get(Contract, contract_id), "signed:customer", pdf,
                                           replaces=certified.id, parent_id=certified.id)
            outcomes[pdf] = "stored"
        except Conflict:
            outcomes[pdf] = "conflict"
    threads = [threading.Thread(target=sign_into, args=(pdf,)) for pdf in (b"%PDF-first", b"%PDF-second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["conflict", "stored"]
    (winner,) = [pdf for pdf, outcome in outcomes.items() if outcome == "stored"]
    with platform.db.read() as session:
        assert platform.documents.current(session, session.get(Contract, contract_id)).pdf == winner


# --- an outage of the time-stamping authority --------------------------------------------------------------------------
def test_a_silent_time_stamping_authority_answers_503_and_changes_nothing(api, platform, monkeypatch):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    silent = HTTPTimeStamper(f"http://127.0.0.1:{free_port()}/tsa", timeout=2)  # nothing listens there
    monkeypatch.setattr(platform.toolkit(), "timestamper", silent)
    shown = signing_state(api, contract_id)["document_sha256"]
    assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
    body = {"document_sha256": shown, "method": "typed", "typed_name": "徐永立", "consent": True,
            "intent_code": api.last_code(contract_id)}
    refused = api.call("POST", f"/contracts/{contract_id}/sign", "customer", body)
    assert refused.status_code == 503 and "time-stamping" in refused.json["message"], refused.json
    with platform.db.read() as session:
        assert session.exec(select(Signature).where(Signature.contract_id == contract_id)).all() == []
    monkeypatch.undo()  # it answers again: the same code still signs
    assert api.call("POST", f"/contracts/{contract_id}/sign", "customer", body).status_code == 200


# --- downloads: one rule for every door ----------------------------------------------------------------------------------
def test_no_door_promises_a_package_before_activation(api, as_user):
    contract_id = at_customer(api, technical_service())
    assert api.call("GET", f"/contracts/{contract_id}/package.pdf", "sales").status_code == 409
    staff = as_user("sales")
    refused = staff.get(f"/contracts/{contract_id}/package.pdf")
    assert refused.status_code == 302
    page = staff.get(refused.headers["Location"]).get_data(as_text=True)
    assert "once the contract is active" in page and "being prepared" not in page
    pdf = staff.get(f"/contracts/{contract_id}/document.pdf")  # the same file and name as the API's
    same = api.call("GET", f"/contracts/{contract_id}/document.pdf", "sales")
    assert pdf.data == same.data and pdf.headers["Content-Disposition"] == same.headers["Content-Disposition"]
    assert staff.get(f"/contracts/{contract_id}/document.pdf?version=9").status_code == 404
