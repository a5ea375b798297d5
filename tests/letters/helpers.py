"""Helpers: drive a contract to the customer, fill and sign its letters through the API as the customer."""
from tests.conftest import load_fixture

SECURITY_VALUES = {"security_officer_name": "徐永立", "security_officer_title": "校长", "security_officer_contact": "0373-8887111"}
VOICE_VALUES = {"voice_usage_hours": "08:00-18:00", "voice_usage_frequency": "每日不超过200次"}


def at_customer(api, draft):
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 201, response.json
    contract_id = response.json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    if api.tasks("finance", contract_id):
        api.decide("finance", contract_id, "approve")
    return contract_id


def letters(api, contract_id, user="sales"):
    response = api.call("GET", f"/contracts/{contract_id}/letters", user)
    assert response.status_code == 200, response.json
    return response.json


def fill(api, contract_id, code, values):
    return api.call("PUT", f"/contracts/{contract_id}/letters/{code}", "customer", {"values": values})


def sign(api, contract_id, code, name="徐永立"):
    item = next(i for i in letters(api, contract_id, "customer")["items"] if i["code"] == code)
    body = {"document_sha256": item["document_sha256"], "method": "typed", "typed_name": name, "consent": True}
    if item["status"] == "filled" and item["document_sha256"]:  # a request that can succeed needs a fresh code
        assert api.call("POST", f"/contracts/{contract_id}/intent", "customer").status_code == 201
        from webapp.signing_flow import last_code
        with api.platform.db.read() as session:
            body["intent_code"] = last_code(session, contract_id)
    return api.call("POST", f"/contracts/{contract_id}/letters/{code}/sign", "customer", body)


def complete_letters(api, contract_id, extra=None):
    """Fill every attached letter with valid values and sign it."""
    for item in letters(api, contract_id)["items"]:
        if item["status"] == "signed":
            continue
        values = {}
        if item["code"] == "information_security":
            values = {**SECURITY_VALUES, **(extra or {})}
        response = fill(api, contract_id, item["code"], values)
        assert response.status_code == 200, response.json
        response = sign(api, contract_id, item["code"])
        assert response.status_code == 200, response.json


def technical_service():
    return load_fixture("contract-technical-service.json")


def network_line():
    return load_fixture("contract-network-line.json")
