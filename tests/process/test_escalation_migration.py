"""Instances that started on the diagram before 超时升级 (tests/fixtures/contract_approval_before_escalation.bpmn, a
copy of it) move to the diagram with the reviews' overdue timers, wherever they are: in the draft, at legal or
finance review (the review arms its timer from the move, as if it opened then), with the customer."""
import json
from pathlib import Path

import pytest
from SpiffWorkflow.util.task import TaskState

from tests.conftest import load_fixture
from tests.process.test_approvers import migrate
from tests.process.test_escalation import OVERDUE, escalations, organisation
from tests.process.test_lifecycle import create, events, small_contract, status, submit
from tests.process.test_modeler_services import PROCESS, deploy_json, instance_of, version_of
from workflows.clock import utcnow

BEFORE = (Path(__file__).resolve().parent.parent / "fixtures" / "contract_approval_before_escalation.bpmn").read_text()


def waiting_timers(platform, contract_id):
    state = json.loads(instance_of(platform, contract_id).state_json)
    return sorted(task["task_spec"] for task in state["tasks"].values() if task["state"] == TaskState.WAITING)


@pytest.fixture
def editor(as_user):
    return as_user("admin")


def test_running_instances_move_from_the_diagram_before_escalation(api, platform, editor, users):
    organisation(platform, users)
    assert deploy_json(editor, BEFORE, base=1).status_code == 201  # v2: the old diagram
    draft = create(api, small_contract())
    at_legal, decided_first = create(api, small_contract()), create(api, small_contract())
    submit(api, at_legal["id"])
    submit(api, decided_first["id"])
    at_finance = create(api, load_fixture("contract-network-line.json"))
    submit(api, at_finance["id"])
    api.decide("legal", at_finance["id"], "approve")
    at_customer = create(api, small_contract())
    submit(api, at_customer["id"])
    api.decide("legal", at_customer["id"], "approve")
    assert deploy_json(editor, PROCESS, base=2).status_code == 201  # v3: with 审核超时
    contracts = [draft, at_legal, decided_first, at_finance, at_customer]
    assert migrate(platform, 2, 3, dry_run=True).refused == {}
    plan = migrate(platform, 2, 3)
    assert sorted(plan.moved) == sorted(instance_of(platform, c["id"]).id for c in contracts), plan.refused
    assert {version_of(platform, c["id"]) for c in contracts} == {3}
    (moved,) = [e for e in events(api, at_legal["id"]) if e["event"] == "process_migrated"]
    assert moved["details"]["entered"] == ["legal_overdue"]
    with platform.db.read() as session:
        assert platform.contracts.instance(session, at_legal["id"]).next_timer_at is not None  # its job is due then
    submit(api, draft["id"])
    api.decide("legal", decided_first["id"], "approve")  # its moved timer goes with the review
    assert waiting_timers(platform, decided_first["id"]) == ["customer_reminder", "invitation_expired"]
    assert platform.timers.run_due(at=utcnow() + OVERDUE) == 3  # the draft's review, and the two moved at a review
    assert escalations(api, draft["id"]) == escalations(api, at_legal["id"]) == [
        ("legal_review", "已超时，升级至 钱经理", "qian")]
    assert escalations(api, at_finance["id"]) == [("finance_review", "已超时，升级至 周总", "zhou")]
    assert escalations(api, at_customer["id"]) == escalations(api, decided_first["id"]) == []
    for contract, role in ((draft, "legal"), (at_legal, "legal"), (at_finance, "finance")):
        assert api.decide(role, contract["id"], "approve")["contract"]["status"] == "awaiting_customer"
    assert status(api, at_customer["id"]) == "awaiting_customer"
