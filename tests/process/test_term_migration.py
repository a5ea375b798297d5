"""Contracts activated on the diagram version before 合同履行期 (tests/fixtures/contract_approval_before_term.bpmn:
the renewal notice timer, then the end, with no subprocess around them): their instances are lifted into the
subprocess of the newest version, by `process migrate` or by the termination itself, and then end, renew and
terminate as contracts activated on the newest version do."""
import json
from datetime import timedelta

from sqlmodel import select

from tests.lifecycle.helpers import (active_contract, china_midnight, detail, events, instance_status, today,
                                     waiting_timers)
from workflows.demo import BPMN_DIR
from workflows.models import ProcessInstance
from workflows.services import migration

KEY = "contract_approval"
FIXTURES = BPMN_DIR.parent / "tests" / "fixtures"
DMN = {path.name: path.read_bytes() for path in sorted(BPMN_DIR.glob("*.dmn"))}


def deploy(platform, bpmn_xml):
    with platform.db.write() as session:
        definition, created = platform.repository.deploy(session, bpmn_xml, DMN, "tests")
        assert created
        return definition.version


def on_the_diagram_before_the_term(platform, api, **term):
    """An active contract started on the old diagram; then the newest diagram deployed again, as an upgrade does.
    (contract id, old version, new version)."""
    old = deploy(platform, (FIXTURES / "contract_approval_before_term.bpmn").read_bytes())
    contract_id = active_contract(api, **term)
    new = deploy(platform, (BPMN_DIR / "contract_approval.bpmn").read_bytes() + b"\n")  # the same diagram, redeployed
    return contract_id, old, new


def version_of(platform, contract_id):
    with platform.db.read() as session:
        instance = session.exec(select(ProcessInstance).where(ProcessInstance.business_key == str(contract_id))).one()
        return platform.repository.get(session, instance.definition_id).version


def test_a_contract_on_the_diagram_before_the_term_is_terminated_after_its_instance_is_lifted(api, platform):
    contract_id, old, new = on_the_diagram_before_the_term(platform, api, days_left=200, auto_renew_months=12,
                                                           notice_days=30)
    assert waiting_timers(platform, contract_id) == ["renewal_notice"] and version_of(platform, contract_id) == old
    day = today() + timedelta(days=30)
    response = api.call("POST", f"/contracts/{contract_id}/termination", "sales",
                        {"effective_on": day.isoformat(), "reason": "甲方业务调整"})
    assert response.status_code == 200, response.json
    assert version_of(platform, contract_id) == new  # moved in the termination's transaction, then signalled
    assert waiting_timers(platform, contract_id) == ["termination_effective"]
    (moved,) = events(platform, contract_id, "process_migrated")
    assert json.loads(moved.details) == {"definition": KEY, "from": old, "to": new, "resumed": False,
                                         "entered": "in_force"}
    assert platform.timers.run_due(at=china_midnight(day)) == 1
    assert detail(api, contract_id)["status"] == "terminated" and instance_status(platform, contract_id) == "completed"


def test_process_migrate_lifts_the_old_shape_into_the_term_which_then_renews_and_ends(api, platform):
    contract_id, old, new = on_the_diagram_before_the_term(platform, api, days_left=120, auto_renew_months=12,
                                                           notice_days=90)
    end = today() + timedelta(days=120)
    with platform.db.write() as session:
        dry = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, old,
                                        new, dry_run=True)
    with platform.db.read() as session:
        instance_id = platform.contracts.instance(session, contract_id).id
    assert dry.movable == [instance_id] and version_of(platform, contract_id) == old  # a dry run moves nothing
    with platform.db.write() as session:
        done = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, old,
                                         new, dry_run=False)
    assert done.moved == [instance_id] and version_of(platform, contract_id) == new
    assert waiting_timers(platform, contract_id) == ["renewal_notice"]  # at the very event it waited at
    with platform.db.read() as session:
        assert platform.runtime.next_timer(session, instance_id) == \
            china_midnight(end - timedelta(days=90)) + timedelta(hours=9)
    # the term's end, which the old diagram never waited for, now renews the contract and, after a notice, ends it
    assert platform.timers.run_due(at=china_midnight(end + timedelta(days=1))) == 2
    renewed = detail(api, contract_id)
    assert renewed["status"] == "active" and renewed["effective_to"] > end.isoformat()
    assert events(platform, contract_id, "contract_renewed")
    assert api.call("POST", f"/contracts/{contract_id}/non-renewal", "customer").status_code == 200
    platform.timers.run_due(at=china_midnight(today() + timedelta(days=900)))
    assert detail(api, contract_id)["status"] == "ended" and instance_status(platform, contract_id) == "completed"


def test_a_contract_whose_old_instance_completed_is_not_terminated(api, platform):
    """The lift moves only instances still waiting at the event the new subprocess holds: one that completed (the old
    diagram's renewal notice went out and it ended) is a 409 that changes nothing."""
    old = deploy(platform, (FIXTURES / "contract_approval_before_term.bpmn").read_bytes())
    contract_id = active_contract(api, days_left=200)
    platform.timers.run_due(at=china_midnight(today() + timedelta(days=201)))  # the notice went out: it completed
    new = deploy(platform, (BPMN_DIR / "contract_approval.bpmn").read_bytes() + b"\n")
    assert instance_status(platform, contract_id) == "completed" and version_of(platform, contract_id) == old
    response = api.call("POST", f"/contracts/{contract_id}/termination", "sales",
                        {"effective_on": today().isoformat(), "reason": "测试"})
    assert response.status_code == 409 and detail(api, contract_id)["lifecycle"]["terminates_on"] is None
    assert new > old
