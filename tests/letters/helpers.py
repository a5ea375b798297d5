"""Helpers: drive a contract to the customer, fill its letters and sign through the API as the customer, activate it."""
from tests.conftest import load_fixture
from workflows.demo import SEED_003_CREDIT_CODE

SECURITY_VALUES = {"security_officer_name": "徐永立", "security_officer_title": "校长", "security_officer_contact": "0373-8887111"}
VOICE_VALUES = {"voice_usage_hours": "08:00-18:00", "voice_usage_frequency": "每日不超过200次"}


def at_customer(api, draft):
    """Through review to the customer's step. The demo API account ``customer`` acts for seed 003's school (its credit
    code); for another customer an administrator binds it to the contract, as for an integration without one."""
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 201, response.json
    contract_id = response.json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    if api.tasks("finance", contract_id):
        api.decide("finance", contract_id, "approve")
    if (draft.get("customer") or {}).get("credit_code") != SEED_003_CREDIT_CODE:
        bound = api.call("POST", f"/contracts/{contract_id}/signer", "admin", {"username": "customer"})
        assert bound.status_code == 200, bound.json
    return contract_id


def activate(api, draft):
    """Through review and both signatures to active (the worker's jobs run after each act); the contract's id. The
    session's first activation of ``draft`` runs it; later ones get a copy of its database (conftest.Snapshots)."""
    return api.prepared({"activate": draft}, lambda: _activate(api, draft))


def _activate(api, draft):
    contract_id = at_customer(api, draft)
    complete_letters(api, contract_id)
    api.decide("customer", contract_id, "sign")
    assert api.decide("signatory", contract_id, "sign")["contract"]["status"] == "active"
    return contract_id


def letters(api, contract_id, user="sales"):
    response = api.call("GET", f"/contracts/{contract_id}/letters", user)
    assert response.status_code == 200, response.json
    return response.json


def fill(api, contract_id, code, values, user="customer"):
    return api.call("PUT", f"/contracts/{contract_id}/letters/{code}", user, {"values": values})


def complete_letters(api, contract_id, extra=None):
    """Fill every letter that asks for values, then let the worker prepare the document to sign."""
    for item in letters(api, contract_id)["items"]:
        if item["code"] == "information_security" and item["status"] != "signed":
            response = fill(api, contract_id, item["code"], {**SECURITY_VALUES, **(extra or {})})
            assert response.status_code == 200, response.json
    api.run_jobs()


def signing_state(api, contract_id, user="customer"):
    response = api.call("GET", f"/contracts/{contract_id}/signing", user)
    assert response.status_code == 200, response.json
    return response.json


def customer_signs(api, contract_id, user="customer", **signature):
    """The customer's one act: the document as prepared now, a fresh code, consent, a typed name (unless given)."""
    body = {"document_sha256": signing_state(api, contract_id, user)["document_sha256"], "method": "typed",
            "typed_name": "徐永立", "consent": True, **signature}
    if "intent_code" not in signature:
        assert api.call("POST", f"/contracts/{contract_id}/intent", user).status_code == 201
        body["intent_code"] = api.last_code(contract_id)
    response = api.call("POST", f"/contracts/{contract_id}/sign", user, body)
    api.run_jobs()
    return response


def document_html(api, contract_id, user="sales"):
    response = api.call("GET", f"/contracts/{contract_id}/document.html", user)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def technical_service():
    return load_fixture("contract-technical-service.json")


def network_line():
    return load_fixture("contract-network-line.json")
