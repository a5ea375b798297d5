"""Amendments proposed on the diagram before the 补充协议 was signed (tests/fixtures/contract_amendment_before_signing.bpmn:
an agreed change took effect at once): their instances, waiting for the answer, move to the newest version, on which
the answer leads to the 补充协议's signatures, and the contract's end voids them."""
from datetime import timedelta

from sqlmodel import select

from tests.lifecycle.helpers import active_contract, amendment, sign_supplement, today
from tests.lifecycle.test_amendments import answer, propose, terms
from tests.process.test_term_migration import DMN, FIXTURES
from workflows.demo import BPMN_DIR
from workflows.models import ProcessInstance
from workflows.services import migration

KEY = "contract_amendment"


def deploy(platform, bpmn_xml):
    with platform.db.write() as session:
        definition, created = platform.repository.deploy(session, bpmn_xml, DMN, "tests")
        assert created
        return definition.version


def proposed_on_the_old_diagram(platform, api):
    """An amendment proposed while the diagram before signing was the newest; then the newest one deployed again, as
    an upgrade does. (contract id, old version, new version, the instance's id)."""
    contract_id = active_contract(api, days_left=200)
    old = deploy(platform, (FIXTURES / "contract_amendment_before_signing.bpmn").read_bytes())
    assert propose(api, contract_id).status_code == 201
    new = deploy(platform, (BPMN_DIR / "contract_amendment.bpmn").read_bytes() + b"\n")
    with platform.db.read() as session:
        instance = session.exec(select(ProcessInstance).where(
            ProcessInstance.business_key == f"{contract_id}:amendment:1")).one()
    return contract_id, old, new, instance.id


def migrate(platform, old, new, dry_run=False):
    with platform.db.write() as session:
        return migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, old, new,
                                         dry_run=dry_run)


def version_of(platform, instance_id):
    with platform.db.read() as session:
        return platform.repository.get(session, session.get(ProcessInstance, instance_id).definition_id).version


def test_an_amendment_awaiting_its_answer_moves_and_its_agreement_is_then_signed(api, platform):
    contract_id, old, new, instance_id = proposed_on_the_old_diagram(platform, api)
    assert version_of(platform, instance_id) == old
    plan = migrate(platform, old, new, dry_run=True)
    assert plan.movable == [instance_id], plan.refused
    assert migrate(platform, old, new).moved == [instance_id] and version_of(platform, instance_id) == new
    assert answer(api, contract_id, 1, "customer", "agree").json["status"] == "signing"
    assert terms(api, contract_id)["total"] == "100000.00"  # the new version: in force once signed
    assert sign_supplement(api, contract_id)["status"] == "effective"
    assert terms(api, contract_id)["total"] == "120000.00"


def test_a_moved_amendment_is_void_when_the_contract_is_terminated_first(api, platform):
    contract_id, old, new, instance_id = proposed_on_the_old_diagram(platform, api)
    assert migrate(platform, old, new).moved == [instance_id]
    notice = {"effective_on": (today() + timedelta(days=60)).isoformat(), "reason": "业务调整"}
    assert api.call("POST", f"/contracts/{contract_id}/termination", "sales", notice).status_code == 200
    assert amendment(api, contract_id, 1)["status"] == "void"
