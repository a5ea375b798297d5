"""Deploy from the editor, versions, redeploy, diff, migration between versions, instance views, hostile diagrams."""
import json

import pytest

from tests.letters.helpers import complete_letters
from tests.process.test_lifecycle import create, small_contract, submit
from workflows.demo import BPMN_DIR
from workflows.services import migration, monitoring

KEY = "contract_approval"
PROCESS = (BPMN_DIR / "contract_approval.bpmn").read_bytes().decode()
ROUTING = (BPMN_DIR / "finance_routing.dmn").read_bytes().decode()
APPROVE = 'decision == "approve"</bpmn:conditionExpression>'


def deploy_json(browser, bpmn=None, dmn=None, base=None):
    page = browser.get(f"/admin/processes/{KEY}/edit").get_data(as_text=True)
    from tests.conftest import csrf_token
    body = {"base_version": base}
    if bpmn is not None:
        body["bpmn_xml"] = bpmn
    if dmn is not None:
        body["dmn"] = dmn
    return browser.client.post(f"/admin/processes/{KEY}/deploy", json=body, headers={"X-CSRFToken": csrf_token(page)})


@pytest.fixture
def admin(as_user):
    return as_user("admin")


def latest_version(platform):
    with platform.db.read() as session:
        return platform.repository.latest(session, KEY).version


def instance_of(platform, contract_id):
    with platform.db.read() as session:
        return platform.contracts.instance(session, contract_id)


def version_of(platform, contract_id):
    """The version of its process the contract's instance runs on."""
    with platform.db.read() as session:
        return platform.repository.get(session, instance_of(platform, contract_id).definition_id).version


# --- deploy from the editor -------------------------------------------------------------
def test_editor_pages_render_for_admin_only(as_user):
    # sign both in before any page renders: with pytest-flask's pushed context, flask-wtf's token in ``g``
    # is shared by every test client of the app
    legal, admin = as_user("legal"), as_user("admin")
    for path in ("/admin/processes/", f"/admin/processes/{KEY}/", f"/admin/processes/{KEY}/edit",
                 f"/admin/processes/{KEY}/edit/dmn/finance_routing.dmn", f"/admin/processes/{KEY}/latest.json",
                 f"/admin/processes/{KEY}/versions/1/instances?filter=stuck"):
        assert admin.get(path).status_code == 200, path
    assert legal.get(f"/admin/processes/{KEY}/edit").status_code == 403
    assert admin.get(f"/admin/processes/{KEY}/edit/dmn/nope.dmn").status_code == 404
    assert admin.get("/admin/processes/nope/").status_code == 404
    assert admin.get(f"/admin/processes/{KEY}/versions/1/instances?filter=%3Cx%3E").status_code == 200


def test_save_deploys_a_new_version_and_identical_xml_creates_none(admin, platform):
    response = deploy_json(admin, PROCESS.replace("法务审核", "法务合规审核"), base=1)
    assert response.status_code == 201 and response.json["version"] == 2, response.json
    again = deploy_json(admin, PROCESS.replace("法务审核", "法务合规审核"), base=2)
    assert again.status_code == 200 and again.json["created"] is False and again.json["version"] == 2
    with platform.db.read() as session:
        v2 = platform.repository.version(session, KEY, 2)
        assert v2.deployed_by == "admin" and "法务合规审核" in v2.bpmn_xml
        assert json.loads(v2.dmn_xml).keys() == {"approval_matrix.dmn", "finance_routing.dmn", "mandated_letters.dmn",
                                                  "seal_rights.dmn"}


def test_a_stale_editor_is_refused(admin):
    assert deploy_json(admin, PROCESS.replace("法务审核", "X"), base=1).status_code == 201
    stale = deploy_json(admin, PROCESS.replace("法务审核", "Y"), base=1)
    assert stale.status_code == 409 and "2" in stale.json["message"]


@pytest.mark.parametrize("change, element, words", [
    (lambda x: x.replace('<bpmn:userTask id="legal_review" name="法务审核"', '<bpmn:userTask id="legal_review" name=""'),
     "legal_review", "task has no name"),
    (lambda x: x.replace('<bpmn:lane id="lane_legal" name="legal"', '<bpmn:lane id="lane_legal" name="lawyers"'),
     "lane_legal", "not a known role"),
    (lambda x: x.replace(APPROVE, 'decision == "approve" and __import__("os")</bpmn:conditionExpression>'),
     None, "import is not allowed"),
    (lambda x: x.replace('outcome = "active"', 'import os'), "activate", "import is not allowed"),
    (lambda x: x.replace('outcome = "active"', 'x = ().__class__.__base__.__subclasses__()'), "activate", "__class__"),
    (lambda x: x.replace('"P3D"', 'P3D'), None, "quote the ISO 8601 value"),
    (lambda x: x.replace("<bpmn:flowNodeRef>legal_review</bpmn:flowNodeRef>", ""), "legal_review", "not in a lane"),
    (lambda x: x.replace("</bpmn:process>", '<bpmn:task id="orphan" name="孤立任务" /></bpmn:process>'), "orphan",
     "not reachable"),
    (lambda x: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + x.split("?>", 1)[1], None, "DOCTYPE"),
    (lambda x: x.replace("</bpmn:process>", "<bpmn:process>"), None, "not well-formed"),
    (lambda x: x.replace('id="contract_approval"', 'id="other_process"', 1), "other_process", "process id"),
])
def test_invalid_diagrams_are_refused_naming_the_element(admin, platform, change, element, words):
    changed = change(PROCESS)
    assert changed != PROCESS
    response = deploy_json(admin, changed, base=1)
    assert response.status_code == 422, response.json
    assert words in response.json["message"]
    if element:
        assert element in response.json["fields"] or element in response.json["message"]
    assert latest_version(platform) == 1


def test_oversized_and_malformed_bodies_are_clear_errors(admin):
    assert deploy_json(admin, "x" * 2_100_000, base=1).status_code == 422
    assert deploy_json(admin, "", base=1).status_code == 422
    page = admin.get(f"/admin/processes/{KEY}/edit").get_data(as_text=True)
    from tests.conftest import csrf_token
    headers = {"X-CSRFToken": csrf_token(page)}
    assert admin.client.post(f"/admin/processes/{KEY}/deploy", data="[1]", headers=headers,
                             content_type="application/json").status_code == 400
    assert admin.client.post(f"/admin/processes/{KEY}/deploy", json={"bpmn_xml": 5}, headers=headers).status_code == 400
    assert admin.client.post(f"/admin/processes/{KEY}/deploy", json={"dmn": {"x.dmn": "<a/>"}},
                             headers=headers).status_code == 422
    assert admin.client.post("/admin/processes/nope/deploy", json={}, headers=headers).status_code == 404
    assert admin.client.post(f"/admin/processes/{KEY}/deploy", json={"bpmn_xml": PROCESS}).status_code == 400  # no CSRF


def test_dmn_feel_cells_are_refused_and_python_cells_deploy(admin):
    feel = ROUTING.replace("&gt; 500000", '[1..10]', 1)
    response = deploy_json(admin, dmn={"finance_routing.dmn": feel}, base=1)
    assert response.status_code == 422 and "FEEL range" in response.json["message"]
    ok = deploy_json(admin, dmn={"finance_routing.dmn": ROUTING.replace("&gt; 500000", "&gt; 600000")}, base=1)
    assert ok.status_code == 201 and ok.json["version"] == 2


# --- versions: list, download, diff, redeploy ---------------------------------------------
def test_versions_page_download_diff_and_redeploy(admin, api, platform):
    deploy_json(admin, PROCESS.replace("法务审核", "法务合规审核").replace(APPROVE, 'decision in ("approve",)</bpmn:conditionExpression>'), base=1)
    create(api, small_contract())
    page = admin.get(f"/admin/processes/{KEY}/").get_data(as_text=True)
    with platform.db.read() as session:
        v1, v2 = (platform.repository.version(session, KEY, n) for n in (1, 2))
    assert v1.sha256[:12] in page and v2.sha256[:12] in page and "admin" in page
    download = admin.get(f"/admin/processes/{KEY}/versions/1/download")
    assert download.status_code == 200 and download.get_data(as_text=True) == v1.bpmn_xml
    assert admin.get(f"/admin/processes/{KEY}/versions/1/download?file=finance_routing.dmn").status_code == 200
    assert admin.get(f"/admin/processes/{KEY}/versions/1/download?file=../x").status_code == 404
    assert admin.get(f"/admin/processes/{KEY}/versions/9/download").status_code == 404
    diff = admin.get(f"/admin/processes/{KEY}/diff?from=1&to=2").get_data(as_text=True)
    assert "法务合规审核" in diff and 'decision in (&#34;approve&#34;,)' in diff
    assert admin.get(f"/admin/processes/{KEY}/diff?from=x&to=2").status_code == 302
    response = admin.post(f"/admin/processes/{KEY}/versions/1/redeploy", page=f"/admin/processes/{KEY}/")
    assert response.status_code == 302
    with platform.db.read() as session:
        v3 = platform.repository.latest(session, KEY)
        assert v3.version == 3 and v3.sha256 == v1.sha256
    # the newest again: nothing happens
    admin.post(f"/admin/processes/{KEY}/versions/3/redeploy", page=f"/admin/processes/{KEY}/")
    assert latest_version(platform) == 3


# --- migration --------------------------------------------------------------------------
def test_migration_moves_instances_at_unchanged_tasks_and_refuses_the_others(admin, api, platform):
    at_legal = create(api, small_contract())
    submit(api, at_legal["id"])  # waiting at legal_review
    at_draft = create(api, small_contract())  # waiting at prepare_draft
    # v2: legal_review renamed (cosmetic) but prepare_draft's form changed: drafts cannot move
    v2 = PROCESS.replace("法务审核", "法务合规审核").replace(
        '<spiffworkflow:property name="decisions" value="submit" />',
        '<spiffworkflow:property name="decisions" value="submit,withdraw" />')
    assert deploy_json(admin, v2, base=1).status_code == 201
    with platform.db.write() as session:
        plan = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, 1, 2,
                                         dry_run=True)
    assert instance_of(platform, at_legal["id"]).id in plan.movable
    refused = plan.refused[instance_of(platform, at_draft["id"]).id]
    assert any("prepare_draft" in r and "extensions" in r for r in refused)
    assert version_of(platform, at_legal["id"]) == 1  # a dry run changes nothing

    response = admin.post(f"/admin/processes/{KEY}/migrate", data={"from": "1", "to": "2", "dry_run": "0"},
                          page=f"/admin/processes/{KEY}/")
    assert response.status_code == 200 and "prepare_draft" in response.get_data(as_text=True)
    moved = instance_of(platform, at_legal["id"])
    with platform.db.read() as session:
        assert platform.repository.get(session, moved.definition_id).version == 2
        assert platform.repository.get(session, instance_of(platform, at_draft["id"]).definition_id).version == 1
    (task,) = api.tasks("legal", at_legal["id"])
    assert task["title"] == "法务合规审核"
    # the moved instance runs on under the new spec: engine steps through to the end
    api.decide("legal", at_legal["id"], "approve")
    api.decide("customer", at_legal["id"], "sign")
    complete_letters(api, at_legal["id"])
    assert api.decide("signatory", at_legal["id"], "sign")["contract"]["status"] == "active"
    events = [e["event"] for e in api.call("GET", f"/contracts/{at_legal['id']}/history", "sales").json["items"]]
    assert "process_migrated" in events


def test_migration_refuses_when_a_pending_task_is_gone_or_rewired(platform, api, admin):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    renamed = PROCESS.replace('"legal_review"', '"legal_check"').replace(">legal_review<", ">legal_check<")
    assert deploy_json(admin, renamed, base=1).status_code == 201
    with platform.db.write() as session:
        plan = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, 1, 2,
                                         dry_run=False)
    (reasons,) = plan.refused.values()
    assert any("legal_review" in r and "no longer exists" in r for r in reasons)
    assert plan.moved == []


def test_migrated_state_restores_and_steps_under_the_new_spec(platform, api, admin):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    assert deploy_json(admin, PROCESS.replace("法务审核", "法务合规审核"), base=1).status_code == 201
    with platform.db.write() as session:
        plan = migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY, 1, 2,
                                         dry_run=False)
    instance = instance_of(platform, contract["id"])
    assert plan.moved == [instance.id]
    with platform.db.write() as session:
        step = platform.runtime.load(session, instance.id, "test")
        (ready,) = step.ready
        assert ready.task_spec.bpmn_name == "法务合规审核"
        assert step.workflow.spec is platform.runtime.specs.get(platform.repository.get(session, instance.definition_id))[0]


def test_migrate_cli(app, platform, api, admin):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    deploy_json(admin, PROCESS.replace("法务审核", "法务合规审核"), base=1)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["process", "migrate", KEY, "--from", "1", "--to", "2", "--dry-run"])
    assert dry.exit_code == 0 and "would move 1 instance" in dry.output, dry.output
    assert version_of(platform, contract["id"]) == 1
    done = runner.invoke(args=["process", "migrate", KEY, "--from", "1", "--to", "2"])
    assert done.exit_code == 0 and "moved 1 instance" in done.output
    bad = runner.invoke(args=["process", "migrate", KEY, "--from", "1", "--to", "7"])
    assert bad.exit_code == 1 and "no version 7" in bad.output


# --- watching instances ----------------------------------------------------------------
def test_contract_diagram_marks_done_current_and_path(api, as_user, platform):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    trace = as_user("legal").get(f"/contracts/{contract['id']}/process.json").json
    assert trace["current"] == ["legal_overdue", "legal_review"]  # the step and its overdue timer
    assert {"start", "prepare_draft"} <= set(trace["completed"])
    assert trace["flows"] and "<bpmn:definitions" in trace["bpmn_xml"]
    assert as_user("legal").get("/contracts/999999/process.json").status_code == 404
    page = as_user("legal").get(f"/contracts/{contract['id']}").get_data(as_text=True)
    assert 'id="process-viewer"' in page


def test_a_diagram_is_parsed_once_not_on_each_view(api, as_user, monkeypatch):
    contract = create(api, small_contract())
    legal = as_user("legal")
    assert legal.get(f"/contracts/{contract['id']}/process.json").status_code == 200
    parsed, real = [], monitoring.parse_safe_xml
    monkeypatch.setattr(monitoring, "parse_safe_xml", lambda data: parsed.append(data) or real(data))  # the real one runs
    submit(api, contract["id"])
    for _ in range(2):
        assert legal.get(f"/contracts/{contract['id']}/process.json").json["current"] == ["legal_overdue", "legal_review"]
    assert parsed == []


def test_instance_filters(api, platform):
    running = create(api, small_contract())
    with platform.db.read() as session:
        definition = platform.repository.latest(session, KEY)
        ids = {c: {r["id"] for r in monitoring.instances(session, definition.id, c)} for c in monitoring.FILTERS}
    instance = instance_of(platform, running["id"]).id
    assert instance in ids["running"] and instance not in ids["stuck"] and instance not in ids["erroring"]
    platform.runtime.mark_failed(instance, "boom")
    with platform.db.read() as session:
        assert instance in {r["id"] for r in monitoring.instances(session, definition.id, "erroring")}


# --- hostile diagrams through deploy and the API -------------------------------------------
@pytest.mark.parametrize("condition, message", [
    ('open("/etc/passwd") and decision == "approve"', "open"),
    ('getattr(decision, "__class__") and decision == "approve"', "__class__"),
    ('len(str(getattr(decision, "__globals__", ""))) > 0 and decision == "approve"', "__globals__"),
    ('sum(1 for i in range(1000) for j in range(1000)) > 0 and decision == "approve"', "loop iterations"),
    ('len("x" * 10**9) > 0 and decision == "approve"', "1000000"),
    ('len(str(10**10**8)) > 0 and decision == "approve"', "bits"),
])
def test_hostile_condition_is_stopped_and_marks_only_that_instance_erroring(admin, api, platform, condition, message):
    bystander = create(api, small_contract())
    submit(api, bystander["id"])
    hostile = PROCESS.replace(APPROVE, condition.replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
                              + "</bpmn:conditionExpression>", 1)
    response = deploy_json(admin, hostile, base=1)
    assert response.status_code == 201, response.json
    victim = create(api, small_contract())
    submit(api, victim["id"])
    (task,) = api.tasks("legal", victim["id"])
    failed = api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"})
    assert failed.status_code == 409 and failed.json["error"] == "process_error"
    assert message in failed.json["message"]
    instance = instance_of(platform, victim["id"])
    assert instance.status == "error" and message in instance.error
    with platform.db.read() as session:  # the failed step left nothing behind; its task waits for an admin
        assert platform.tasks.get(session, task["id"]).state == "suspended"
    # nothing else affected: the bystander on version 1 goes on
    assert api.decide("legal", bystander["id"], "approve")["contract"]["status"] == "awaiting_customer"


@pytest.mark.parametrize("script, words", [
    ("import os", "import is not allowed"),
    ("x = open", None),
    ("import subprocess\nsubprocess.run(['id'])", "import is not allowed"),
    ("env = __import__('os').environ", "import is not allowed"),
    ("x = [].__class__.__mro__", "__class__"),
    ("while True:\n    pass", None),
    ("s = 'x' * 10**9", None),
])
def test_hostile_scripts_are_refused_at_deploy_or_stopped_at_run(admin, api, platform, script, words):
    hostile = PROCESS.replace('outcome = "active"', script.replace("'", "&apos;").replace("<", "&lt;"))
    response = deploy_json(admin, hostile, base=1)
    if words:
        assert response.status_code == 422 and words in response.json["message"] and "activate" in response.json["fields"]
        return
    assert response.status_code == 201, response.json
    contract = create(api, small_contract())
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    api.decide("customer", contract["id"], "sign")
    complete_letters(api, contract["id"])
    (task,) = api.tasks("signatory", contract["id"])
    failed = api.complete_sign("signatory", task["id"], contract["id"])
    assert failed.status_code == 409 and failed.json["error"] == "process_error", failed.json
    assert instance_of(platform, contract["id"]).status == "error"


def test_web_decision_marks_the_instance_erroring(as_user, api, platform):
    legal = as_user("legal")
    hostile = PROCESS.replace(APPROVE, 'open(&quot;/etc/passwd&quot;)</bpmn:conditionExpression>', 1)
    with platform.db.write() as session:
        platform.repository.deploy(session, hostile.encode(), {n: (BPMN_DIR / n).read_bytes() for n in
                                                              ("approval_matrix.dmn", "finance_routing.dmn",
                                                               "mandated_letters.dmn", "seal_rights.dmn")}, "admin")
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    response = legal.post(f"/tasks/{task['id']}/decide", data={"decision": "approve"}, page=f"/tasks/{task['id']}")
    assert response.status_code == 302
    assert instance_of(platform, contract["id"]).status == "error"


def test_lone_surrogates_are_a_clear_error(admin):
    page = admin.get(f"/admin/processes/{KEY}/edit").get_data(as_text=True)
    from tests.conftest import csrf_token
    response = admin.client.post(f"/admin/processes/{KEY}/deploy", data='{"bpmn_xml": "\\ud800"}',
                                 content_type="application/json", headers={"X-CSRFToken": csrf_token(page)})
    assert response.status_code == 400
