"""A step that fails stops its instance: the tasks leave the inboxes until an admin resumes or repairs it.

Repairing is deploying a corrected diagram and migrating the instance to it; resuming alone is for failures
outside the diagram (a service a script calls was down). Both are recorded in the contract's history.
"""
from datetime import timedelta

import pytest

from tests.conftest import csrf_token
from tests.letters.helpers import at_customer, complete_letters, customer_signs, technical_service
from tests.process.test_lifecycle import create, small_contract, submit
from workflows.clock import utcnow
from workflows.models import Contract
from workflows.demo import BPMN_DIR
from workflows.engine import spiff
from workflows.errors import Conflict
from workflows.services import migration

KEY = "contract_approval"
PROCESS = (BPMN_DIR / "contract_approval.bpmn").read_bytes()
DMN = {n: (BPMN_DIR / n).read_bytes() for n in ("finance_routing.dmn", "mandated_letters.dmn", "approval_matrix.dmn",
                                                "seal_rights.dmn")}
BROKEN = PROCESS.replace(b'decision == "approve"</bpmn:conditionExpression>',
                         b'decision == approved_word</bpmn:conditionExpression>', 1)  # a NameError when legal decides
BROKEN_AT_CUSTOMER = PROCESS.replace(b'decision == "sign"</bpmn:conditionExpression>',
                                     b'decision == signed_word</bpmn:conditionExpression>', 1)  # when the customer signs


@pytest.fixture
def stopped(api, platform):
    """A contract whose legal approval failed on version 2 (a broken condition): (contract, task id, instance id)."""
    with platform.db.write() as session:
        platform.repository.deploy(session, BROKEN, DMN, "admin")
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    failed = api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"})
    assert failed.status_code == 409 and failed.json["error"] == "process_error"
    assert "approved_word" in failed.json["message"]
    with platform.db.read() as session:
        instance = platform.contracts.instance(session, contract["id"])
    return contract, task["id"], instance.id


def events(platform, contract_id):
    with platform.db.read() as session:
        return [e.event for e in platform.history.for_contract(session, contract_id)]


def test_a_failed_step_suspends_the_instance_and_its_tasks(api, platform, stopped):
    contract, task_id, instance_id = stopped
    with platform.db.read() as session:
        instance = platform.contracts.instance(session, contract["id"])
        task = platform.tasks.get(session, task_id)
        assert platform.runtime.incident(session, contract["id"])["instance_id"] == instance_id
        assert platform.history.audit(session, contract["id"]).ok
    assert instance.status == "error" and "approved_word" in instance.error
    assert task.state == "suspended" and task.decision is None  # the failed decision left nothing behind
    assert api.tasks("legal", contract["id"]) == []  # out of every inbox
    again = api.call("POST", f"/tasks/{task_id}/complete", "legal", {"decision": "approve"})
    assert again.status_code == 409 and "waits for an administrator" in again.json["message"]
    assert "approved_word" in again.json["message"]
    assert events(platform, contract["id"])[-1] == "process_failed"


def test_resume_reopens_the_tasks_and_a_failure_again_stops_it_again(api, platform, stopped):
    contract, task_id, instance_id = stopped
    with platform.db.write() as session:
        platform.runtime.resume(session, instance_id, "admin", "retry after the outage")
    assert [t["id"] for t in api.tasks("legal", contract["id"])] == [task_id]
    with pytest.raises(Conflict):  # only an erroring instance resumes
        with platform.db.write() as session:
            platform.runtime.resume(session, instance_id, "admin")
    failed = api.call("POST", f"/tasks/{task_id}/complete", "legal", {"decision": "approve"})
    assert failed.status_code == 409 and failed.json["error"] == "process_error"  # the diagram is still broken
    assert events(platform, contract["id"])[-3:] == ["process_failed", "process_resumed", "process_failed"]


def test_a_corrected_version_and_a_migration_repair_the_instance(api, platform, stopped):
    contract, task_id, instance_id = stopped
    with platform.db.write() as session:
        fixed, created = platform.repository.deploy(session, PROCESS, DMN, "admin")  # the condition corrected: v3
        assert created and fixed.version == 3
        plan = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, 2,
                                         fixed.version, dry_run=False, actor="admin")
    assert instance_id in plan.moved, plan.refused
    decided = api.decide("legal", contract["id"], "approve")
    assert decided["contract"]["status"] == "awaiting_customer"
    with platform.db.read() as session:
        assert platform.runtime.incident(session, contract["id"]) is None
        assert platform.history.audit(session, contract["id"]).ok
    assert "process_migrated" in events(platform, contract["id"])


def test_a_failed_signing_act_is_an_incident_and_its_timers_wait(api, platform):
    """The customer's path records the incident like any other (the runtime does it, not the door the step came
    through); the instance waiting at the customer's step has timers, and they wait while it is erroring."""
    with platform.db.write() as session:
        platform.repository.deploy(session, BROKEN_AT_CUSTOMER, DMN, "admin")
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    failed = customer_signs(api, contract_id)
    assert failed.status_code == 409 and failed.json["error"] == "process_error" and "signed_word" in failed.json["message"]
    with platform.db.read() as session:
        instance = platform.contracts.instance(session, contract_id)
        contract = session.get(Contract, contract_id)
        assert platform.documents.current(session, contract).kind == "certified"  # the act left nothing behind
    assert instance.status == "error" and events(platform, contract_id)[-1] == "process_failed"
    later = utcnow() + timedelta(days=15)  # past the invitation's expiry
    assert platform.timers.run_due(at=later) == 0
    with platform.db.write() as session:
        platform.runtime.resume(session, instance.id, "admin")
    assert platform.timers.run_due(at=later) == 1  # the expiry timer was there all along
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "expired"


def test_admins_resume_from_the_instances_page_and_the_contract_page_says_why(as_user, api, platform, stopped):
    contract, task_id, instance_id = stopped
    sales = as_user("sales")
    page = sales.get(f"/contracts/{contract['id']}").get_data(as_text=True)
    assert 'id="incident"' in page and "approved_word" in page and "/resume" not in page  # only admins act
    refused = sales.client.post(f"/admin/processes/instances/{instance_id}/resume", data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 403
    admin = as_user("admin")
    listing = admin.get(f"/admin/processes/{KEY}/versions/2/instances?filter=erroring").get_data(as_text=True)
    assert f"/admin/processes/instances/{instance_id}/resume" in listing
    response = admin.client.post(f"/admin/processes/instances/{instance_id}/resume",
                                 data={"csrf_token": csrf_token(listing), "key": KEY, "number": 2})
    assert response.status_code == 302 and response.headers["Location"].endswith("filter=erroring")
    assert [t["id"] for t in api.tasks("legal", contract["id"])] == [task_id]
    assert 'id="incident"' not in sales.get(f"/contracts/{contract['id']}").get_data(as_text=True)


def test_resume_from_the_command_line(app, api, stopped):
    contract, task_id, instance_id = stopped
    runner = app.test_cli_runner()
    result = runner.invoke(args=["process", "resume", str(instance_id), "--reason", "mail server back", "--by", "ops"])
    assert result.exit_code == 0 and "runs again" in result.output, result.output
    assert [t["id"] for t in api.tasks("legal", contract["id"])] == [task_id]
    again = runner.invoke(args=["process", "resume", str(instance_id)])
    assert again.exit_code != 0 and "not erroring" in again.output


def declined_with(api, platform, script):
    """The customer declines on a version whose decline script is ``script``: the response and the instance."""
    version = PROCESS.replace(b'<bpmn:script>outcome = "declined"</bpmn:script>', f"<bpmn:script>{script}</bpmn:script>".encode())
    with platform.db.write() as session:
        platform.repository.deploy(session, version, DMN, "admin")
    contract = create(api, small_contract())
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    (task,) = api.tasks("customer", contract["id"])
    response = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {"decision": "decline", "comment": "价格需重新商议"})
    with platform.db.read() as session:
        return response, platform.contracts.instance(session, contract["id"])


@pytest.mark.parametrize("script, message", [
    ('big = ["a" * 999999] * 20', "exceed 1000000 items or characters"),  # 20 references that save as 20 million
    ('s = "a" * 999999\nbig = [s, s]', "task data would exceed 1000000 characters or items"),
])
def test_a_script_making_huge_data_is_an_incident_and_nothing_is_saved(api, platform, script, message):
    response, instance = declined_with(api, platform, script)
    assert response.status_code == 409 and response.json["error"] == "process_error"
    assert message in response.json["message"] and "mark_declined" in response.json["message"]
    assert instance.status == "error" and message in instance.error
    assert len(instance.state_json) < 100_000  # the state before the decline: the failed step saved nothing


def test_a_process_state_over_its_limit_is_an_incident_and_is_not_saved(api, platform, monkeypatch):
    """Every task keeps a copy of the data: a state can pass its limit though each task's data is within its own."""
    monkeypatch.setattr(spiff, "MAX_STATE", 60_000)  # a few copies of 40,000 characters, not megabytes, for speed
    response, instance = declined_with(api, platform, 'note = "x" * 40000')
    assert response.status_code == 409 and "the process state would take" in response.json["message"]
    assert instance.status == "error" and "more than the 60000 allowed" in instance.error
    assert len(instance.state_json) < 60_000
