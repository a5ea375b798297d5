"""Life after activation in the API: a renewal draft, a notice of non-renewal, an early termination."""
from flask import g, jsonify

from . import bp, json_object, platform
from .contracts import contract_detail


def _detail(contract_id):
    with platform().db.read() as session:
        return jsonify(contract_detail(session, platform().access.contract(session, g.actor, contract_id)))


@bp.post("/contracts/<int:contract_id>/renewal")
def start_renewal(contract_id):
    """Sales draft the renewal of an active contract, prefilled from it; 201 with the new draft."""
    renewal = platform().renewals.start(g.actor, contract_id)
    response = _detail(renewal.id)
    response.status_code = 201
    response.headers["Location"] = response.json["links"]["self"]
    return response


@bp.post("/contracts/<int:contract_id>/non-renewal")
def give_non_renewal_notice(contract_id):
    """The provider (sales, admin) or the customer gives notice that the contract is not to renew."""
    body = json_object()
    platform().renewals.give_notice(g.actor, contract_id, body.get("comment", ""))
    return _detail(contract_id)


@bp.post("/contracts/<int:contract_id>/termination")
def terminate_contract(contract_id):
    """Sales or an administrator terminate an active contract early, with a reason and an effective date."""
    body = json_object()
    platform().termination.terminate(g.actor, contract_id, body.get("effective_on"), body.get("reason"))
    return _detail(contract_id)
