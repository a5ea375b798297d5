"""Instances started on the diagram before 用印审批 (tests/fixtures/contract_approval_before_seal.bpmn) move to the
newest version with `process migrate`: one awaiting its customer then goes through the seal approval the rule asks
for; one already at 乙方会签盖章 is countersigned as before."""
from sqlmodel import select

from tests.letters.helpers import at_customer, complete_letters
from tests.lifecycle.helpers import events
from tests.process.test_lifecycle import small_contract
from tests.process.test_seal_approval import large_contract, seal_task
from tests.process.test_term_migration import FIXTURES, KEY, deploy
from workflows.demo import BPMN_DIR
from workflows.models import ProcessInstance
from workflows.services import migration


def version_of(platform, contract_id):
    with platform.db.read() as session:
        instance = session.exec(select(ProcessInstance).where(ProcessInstance.business_key == str(contract_id))).one()
        return platform.repository.get(session, instance.definition_id).version


def test_instances_on_the_diagram_before_the_seal_approval_migrate_to_it(api, platform):
    old = deploy(platform, (FIXTURES / "contract_approval_before_seal.bpmn").read_bytes())
    awaiting_customer = at_customer(api, large_contract())
    countersigning = at_customer(api, small_contract())
    complete_letters(api, countersigning)
    api.decide("customer", countersigning, "sign")
    new = deploy(platform, (BPMN_DIR / "contract_approval.bpmn").read_bytes() + b"\n")  # the same diagram, redeployed
    assert version_of(platform, awaiting_customer) == old

    with platform.db.write() as session:
        plan = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, old,
                                         new, dry_run=False)
    assert plan.refused == {} and len(plan.moved) == 2, plan.as_dict()
    assert version_of(platform, awaiting_customer) == new and version_of(platform, countersigning) == new
    assert events(platform, awaiting_customer, "process_migrated")

    complete_letters(api, awaiting_customer)
    api.decide("customer", awaiting_customer, "sign")
    task = seal_task(api, awaiting_customer)  # the new version's rule: above 3,000,000 yuan
    assert api.tasks("signatory", awaiting_customer) == []
    done = api.call("POST", f"/tasks/{task['id']}/complete", "branch_head", {"decision": "approve"})
    assert done.status_code == 200, done.json
    assert api.decide("signatory", awaiting_customer, "sign")["contract"]["status"] == "active"
    assert api.decide("signatory", countersigning, "sign")["contract"]["status"] == "active"
