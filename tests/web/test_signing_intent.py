"""The intent check on the staff task page and the API: a code is asked for, sent, required and single use."""
from tests.letters.helpers import at_customer, complete_letters, technical_service
from workflows.models import Signature


def test_provider_countersigns_on_the_task_page_with_a_code(api, as_user, platform):
    contract_id = at_customer(api, technical_service())
    api.sign("customer", contract_id)
    (task,) = api.tasks("signatory", contract_id)
    web = as_user("signatory")
    page = web.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert f"/tasks/{task['id']}/intent" in page and '<div id="code-entry" hidden>' in page  # no code sent yet
    digest = api.call("GET", f"/contracts/{contract_id}", "sales").json["document"]["document_sha256"]
    assert f'name="document_sha256" value="{digest}"' in page  # the page posts the hash of the PDF it offers
    refused = web.post(f"/tasks/{task['id']}/decide", {"decision": "sign", "document_sha256": digest},
                       page=f"/tasks/{task['id']}")
    assert refused.status_code == 422 and 'name="intent_code"' in refused.get_data(as_text=True)
    sent = web.post(f"/tasks/{task['id']}/intent", page=f"/tasks/{task['id']}")
    assert sent.status_code == 302
    assert '<div id="code-entry">' in web.get(f"/tasks/{task['id']}").get_data(as_text=True)  # now the field shows
    done = web.post(f"/tasks/{task['id']}/decide", {"decision": "sign", "document_sha256": digest,
                                                    "intent_code": api.last_code(contract_id)}, page=f"/tasks/{task['id']}")
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "active"
    with platform.db.read() as session:
        rows = session.exec(Signature.__table__.select().where(Signature.role == "provider")).all()
    assert [(r.field, r.method) for r in rows] == [("provider-signatory", "account_name"),
                                                   ("provider", "organisation_seal")]  # the signatory, then the seal
    assert all('"channel": "email"' in r.intent_json for r in rows) and rows[0].subject == "signatory"


def test_intent_codes_are_single_use_and_rate_limited(api, platform):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    (task,) = api.tasks("customer", contract_id)
    code = api.intent_code("customer", task["id"], contract_id)
    for _ in range(4):
        assert api.call("POST", f"/tasks/{task['id']}/intent", "customer").status_code == 201
    limited = api.call("POST", f"/tasks/{task['id']}/intent", "customer")
    assert limited.status_code == 409 and limited.json["error"]
    digest = api.call("GET", f"/contracts/{contract_id}/signing", "customer").json["document_sha256"]
    signing = {"decision": "sign", "document_sha256": digest, "method": "typed", "typed_name": "徐永立", "consent": True}
    stale = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {**signing, "intent_code": code})
    assert stale.status_code == 422 and "intent_code" in stale.json["fields"]  # only the newest code counts
    for bad in (123456, ["x"], "１２３４５６"):
        assert api.call("POST", f"/tasks/{task['id']}/complete", "customer", {**signing, "intent_code": bad}).status_code == 422
    assert api.call("POST", f"/tasks/{task['id']}/intent", "sales").status_code == 403
    (legal_done,) = [t for t in api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]
                     if t.get("task_name") == "legal_review"][:1]
    assert api.call("POST", f"/tasks/{legal_done['task_id']}/intent", "legal").status_code == 409


def test_a_refused_decision_keeps_what_was_typed(api, as_user):
    """A 409 on the task page (here: the PDF changed since the page was opened) shows the page again, with the comment
    as typed, not a redirect that loses it."""
    contract_id = at_customer(api, technical_service())
    api.sign("customer", contract_id)
    (task,) = api.tasks("signatory", contract_id)
    web = as_user("signatory")
    web.get(f"/tasks/{task['id']}")
    web.post(f"/tasks/{task['id']}/intent", page=f"/tasks/{task['id']}")
    refused = web.post(f"/tasks/{task['id']}/decide", {"decision": "sign", "document_sha256": "0" * 64,
                                                       "comment": "已与客户电话确认。", "intent_code": api.last_code(contract_id)},
                       page=f"/tasks/{task['id']}")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "已与客户电话确认。" in page and "the document changed" in page
