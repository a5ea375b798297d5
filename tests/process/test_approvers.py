"""Approvers by rule: the approval matrix (bpmn/approval_matrix.dmn) names each review step's approvers; legal review
is a 会签 (all approve, any return sends it back), finance review a 或签 (the first decision decides); the drafter's
manager comes from the organisation; a deployed matrix applies to new contracts only; migration covers the steps."""
import json
import threading

import pytest
from sqlmodel import select

from tests.conftest import load_fixture
from tests.process.test_concurrency import post
from tests.process.test_lifecycle import create, events, small_contract, status, submit
from tests.process.test_modeler_services import KEY, PROCESS, deploy_json, instance_of
from workflows.demo import BPMN_DIR, DEMO_PASSWORD
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import HistoryEvent
from workflows.services import migration

MATRIX = (BPMN_DIR / "approval_matrix.dmn").read_text()
ROUTING = (BPMN_DIR / "finance_routing.dmn").read_text()
LETTERS = (BPMN_DIR / "mandated_letters.dmn").read_text()


def large_contract():
    """Above 5,000,000: legal and finance review together (and finance reviews again, as above 500,000)."""
    draft = load_fixture("contract-technical-service.json")
    draft.update({"title": "大额技术服务合同", "total": "6000000.00",
                  "items": [{"name": n, "content": n, "amount": "1500000.00"} for n in ("考试服务", "阅卷服务", "异常问题处理", "定制化服务")],
                  "payment_plan": {"every_months": 6, "amount": "1000000.00", "first_due": "2025-06-30"}})
    return draft


def discounted_contract():
    """Fees below the standard price: the drafter's manager reviews with legal."""
    return load_fixture("contract-network-line.json")


def open_tasks(platform, contract_id):
    with platform.db.read() as session:
        return platform.tasks.query(session, contract_id=contract_id)


def add_user(platform, username, role, name):
    with platform.db.write() as session:
        platform.accounts.create_user(session, username, [role], DEMO_PASSWORD, name, f"{username}@provider.example")


def with_rule(step, approver, description="test rule"):
    """The shipped matrix with one more rule: ``approver`` joins ``step`` always."""
    ident = f"rule_test_{step}"
    rule = (f'<rule id="{ident}"><description>{description}</description>'
            f'<inputEntry id="{ident}_step"><text>"{step}"</text></inputEntry>'
            + "".join(f'<inputEntry id="{ident}_{n}"><text>-</text></inputEntry>' for n in range(4))
            + f'<outputEntry id="{ident}_out"><text>"{approver}"</text></outputEntry></rule>')
    return MATRIX.replace("</decisionTable>", rule + "</decisionTable>")


def deploy_matrix(platform, matrix):
    with platform.db.write() as session:
        definition, _ = platform.repository.deploy(session, PROCESS.encode(), {
            "approval_matrix.dmn": matrix.encode(), "finance_routing.dmn": ROUTING.encode(),
            "mandated_letters.dmn": LETTERS.encode(), "seal_rights.dmn": (BPMN_DIR / "seal_rights.dmn").read_bytes()},
            "admin")
        return definition.version


def complete(api, user, task_id, decision, comment=""):
    return api.call("POST", f"/tasks/{task_id}/complete", user, {"decision": decision, "comment": comment})


@pytest.fixture
def admin(users):
    return users["admin"]


@pytest.fixture
def sales_department(platform, admin):
    """销售部 under 总经办: 周主任 manages sales, 孙总 the office above."""
    add_user(platform, "zhou", "sales", "周主任")
    add_user(platform, "sun", "sales", "孙总")
    top = platform.org.save_department(admin, "总经办", manager="sun")
    sales = platform.org.save_department(admin, "销售部", parent_id=top.id, manager="zhou")
    platform.org.set_department(admin, "sales", sales.id)
    return sales


# --- 会签 ------------------------------------------------------------------------------------------------------------
def test_a_large_contract_needs_legal_and_finance_together(api, platform):
    contract = create(api, large_contract())
    submit(api, contract["id"])
    legal, finance = sorted(open_tasks(platform, contract["id"]), key=lambda t: t.role)[::-1]
    assert (legal.name, legal.role, finance.name, finance.role) == ("legal_review", "legal", "legal_review", "finance")
    assert legal.step_id == finance.step_id is not None and legal.candidate is None
    assert status(api, contract["id"]) == "legal_review"
    assert complete(api, "legal", legal.id, "approve").status_code == 200
    assert [t.id for t in open_tasks(platform, contract["id"])] == [finance.id]  # all must approve: still waiting
    assert status(api, contract["id"]) == "legal_review"
    assert complete(api, "finance", finance.id, "approve").status_code == 200
    assert status(api, contract["id"]) == "finance_review"  # then finance's own review (above 500,000)
    decided = [(e["task_name"], e["decision"], e["actor"]) for e in events(api, contract["id"]) if e["event"] == "task_completed"]
    assert decided[1:] == [("legal_review", "approve", "legal"), ("legal_review", "approve", "finance")]


def test_two_approvers_of_one_joint_review_deciding_at_once_lose_nothing(api, platform, live_url):
    """Both decisions change the one instance: each is kept once, or the later is a clear 409 that goes through when
    sent again; never a decision lost or counted twice."""
    for _ in range(3):
        contract = create(api, large_contract())
        submit(api, contract["id"])
        tasks = {t.role: t for t in open_tasks(platform, contract["id"])}
        barrier, results = threading.Barrier(2), {}

        def approve(role):
            barrier.wait()
            results[role] = post(f"{live_url}/api/v1/tasks/{tasks[role].id}/complete", api.token(role),
                                 {"decision": "approve"})

        threads = [threading.Thread(target=approve, args=(role,)) for role in ("legal", "finance")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(code for code, _ in results.values()) in ([200, 200], [200, 409]), results
        for role, (code, body) in results.items():
            if code == 409:
                assert body["error"] == "conflict"
                assert complete(api, role, tasks[role].id, "approve").status_code == 200
        assert status(api, contract["id"]) == "finance_review"
        decided = [e["actor"] for e in events(api, contract["id"])
                   if e["task_name"] == "legal_review" and e["event"] == "task_completed"]
        assert sorted(decided) == ["finance", "legal"]


def test_any_return_in_a_joint_review_sends_the_contract_back(api, platform):
    contract = create(api, large_contract())
    submit(api, contract["id"])
    tasks = {t.role: t for t in open_tasks(platform, contract["id"])}
    assert complete(api, "finance", tasks["finance"].id, "return", "付款计划需调整").status_code == 200
    assert status(api, contract["id"]) == "draft"
    with platform.db.read() as session:
        assert platform.tasks.get(session, tasks["legal"].id).state == "cancelled"  # nobody waits for legal now
        step = platform.tasks.steps(session, [tasks["legal"].step_id])[tasks["legal"].step_id]
    assert sorted((row.role, row.state, row.decision) for row in step) == [
        ("finance", "completed", "return"), ("legal", "cancelled", None)]
    late = complete(api, "legal", tasks["legal"].id, "approve")
    assert late.status_code == 409
    # resubmitted, the matrix is asked again and both review anew
    submit(api, contract["id"])
    again = open_tasks(platform, contract["id"])
    assert sorted(t.role for t in again) == ["finance", "legal"] and again[0].step_id != tasks["legal"].step_id


# --- the drafter's manager, named people, what names nobody -----------------------------------------------------------
def test_the_drafters_manager_reviews_a_discounted_contract_with_legal(api, platform, sales_department, users):
    contract = create(api, discounted_contract())
    submit(api, contract["id"])
    tasks = open_tasks(platform, contract["id"])
    named = next(t for t in tasks if t.candidate)
    assert (named.candidate, named.assignee, named.role) == ("zhou", "zhou", "legal")
    assert [t["id"] for t in api.tasks("zhou", contract["id"])] == [named.id]  # a sales manager's inbox has it
    assert named.id not in [t["id"] for t in api.tasks("legal", contract["id"])]  # legal's has only its own
    assert complete(api, "legal", named.id, "approve").status_code == 403
    with platform.db.read() as session:
        with pytest.raises(Forbidden):
            platform.access.task_to_act_on(session, users["legal"], named.id)
    assert complete(api, "zhou", named.id, "approve").status_code == 200
    assert status(api, contract["id"]) == "legal_review"
    assert api.decide("legal", contract["id"], "approve")["contract"]["status"] == "finance_review"
    decided = [(e["decision"], e["actor"]) for e in events(api, contract["id"]) if e["task_name"] == "legal_review"
               and e["event"] == "task_completed"]
    assert decided == [("approve", "zhou"), ("approve", "legal")]


def test_a_manager_who_drafts_is_reviewed_by_the_manager_above(api, platform, sales_department, admin):
    platform.org.set_department(admin, "zhou", sales_department.id)
    response = api.call("POST", "/contracts", "zhou", discounted_contract())
    assert response.status_code == 201, response.json
    submit_response = api.call("POST", f"/contracts/{response.json['id']}/submit", "zhou")
    assert submit_response.status_code == 200, submit_response.json
    assert {t.candidate for t in open_tasks(platform, response.json["id"])} == {None, "sun"}


def test_approvers_who_name_nobody_are_left_out_and_recorded(api, platform):
    contract = create(api, discounted_contract())  # the matrix names the drafter's manager, but sales has none
    submit(api, contract["id"])
    assert [(t.role, t.candidate) for t in open_tasks(platform, contract["id"])] == [("legal", None)]
    (unresolved,) = [e for e in events(api, contract["id"]) if e["event"] == "approvers_unresolved"]
    assert unresolved["details"]["unresolved"] == ["manager:drafter"]


def test_a_step_whose_approvers_all_name_nobody_goes_to_its_lane(api, platform):
    deploy_matrix(platform, MATRIX.replace('<text>"lane"</text></outputEntry></rule>\n      <rule id="rule_large_finance">',
                                           '<text>"user:nobody_here"</text></outputEntry></rule>\n      <rule id="rule_large_finance">'))
    contract = create(api, small_contract())
    submit(api, contract["id"])
    assert [(t.role, t.candidate) for t in open_tasks(platform, contract["id"])] == [("legal", None)]


# --- 或签 ------------------------------------------------------------------------------------------------------------
def test_the_first_decision_decides_an_any_one_step(api, platform):
    add_user(platform, "qian", "finance", "钱会计")
    deploy_matrix(platform, with_rule("finance_review", "user:qian"))
    contract = create(api, load_fixture("contract-technical-service.json"))  # 1,080,000: finance reviews
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    tasks = open_tasks(platform, contract["id"])
    assert sorted((t.role, t.candidate or "") for t in tasks) == [("finance", ""), ("finance", "qian")]
    named = next(t for t in tasks if t.candidate)
    assert {t["id"] for t in api.tasks("qian", contract["id"])} == {t.id for t in tasks}  # a finance holder, and named
    assert [t["id"] for t in api.tasks("finance", contract["id"])] == [next(t.id for t in tasks if not t.candidate)]
    assert complete(api, "qian", named.id, "approve").status_code == 200
    assert status(api, contract["id"]) == "awaiting_customer"
    with platform.db.read() as session:
        rows = platform.tasks.steps(session, [named.step_id])[named.step_id]
    assert sorted((r.candidate or "", r.state) for r in rows) == [("", "cancelled"), ("qian", "completed")]


# --- a deployed matrix: new contracts only ---------------------------------------------------------------------------
def test_a_deployed_matrix_change_applies_to_new_contracts_only(api, platform):
    add_user(platform, "wu", "legal", "吴律师")
    before = create(api, small_contract())  # its instance runs on the version it started on
    assert deploy_matrix(platform, with_rule("legal_review", "user:wu", "吴律师会签")) == 2
    after = create(api, small_contract())
    submit(api, before["id"])
    submit(api, after["id"])
    assert [t.candidate for t in open_tasks(platform, before["id"])] == [None]
    assert sorted(t.candidate or "" for t in open_tasks(platform, after["id"])) == ["", "wu"]


# --- holding and handing on a named task -----------------------------------------------------------------------------
def test_a_named_approver_hands_on_to_another_person_and_cannot_release(api, platform, sales_department, users):
    contract = create(api, discounted_contract())
    submit(api, contract["id"])
    named = next(t for t in open_tasks(platform, contract["id"]) if t.candidate)
    assert api.call("POST", f"/tasks/{named.id}/unclaim", "zhou").status_code == 409
    refused = api.call("POST", f"/tasks/{named.id}/delegate", "zhou", {"to": "customer"})
    assert refused.status_code == 422
    handed = api.call("POST", f"/tasks/{named.id}/delegate", "zhou", {"to": "sun", "comment": "出差"})
    assert handed.status_code == 200, handed.json
    assert (handed.json["candidate"], handed.json["assignee"], handed.json["delegated_by"]) == ("sun", "sun", "zhou")
    assert complete(api, "zhou", named.id, "approve").status_code == 403
    assert complete(api, "sun", named.id, "approve").status_code == 200


# --- the organisation ------------------------------------------------------------------------------------------------
def test_departments_are_checked_and_their_changes_recorded(platform, admin, users, sales_department):
    with pytest.raises(Forbidden):
        platform.org.save_department(users["legal"], "法务部")
    with pytest.raises(ValidationFailed) as refused:
        platform.org.save_department(admin, "销售部", manager="nobody")
    assert set(refused.value.fields) == {"name", "manager"}
    with platform.db.read() as session:
        top = next(d for d, depth in platform.org.departments(session) if depth == 0)
    with pytest.raises(ValidationFailed) as cycle:  # 总经办 under 销售部, which is under 总经办
        platform.org.save_department(admin, "总经办", parent_id=sales_department.id, department_id=top.id, version=top.version)
    assert "parent_id" in cycle.value.fields
    moved = platform.org.save_department(admin, "销售一部", parent_id=top.id, manager="sun", department_id=sales_department.id,
                                         version=sales_department.version)
    assert moved.version == 2
    with pytest.raises(Conflict):  # an editor who saw version 1 is refused
        platform.org.save_department(admin, "销售二部", department_id=sales_department.id, version=1)
    with platform.db.read() as session:
        assert [(d.name, depth) for d, depth in platform.org.departments(session)] == [("总经办", 0), ("销售一部", 1)]
        assert platform.org.manager_of(session, "sales") == "sun"
        assert platform.org.manager_of(session, "sun") is None  # the top's manager has nobody above
        recorded = session.exec(select(HistoryEvent).where(HistoryEvent.event.in_(["department_saved", "department_member_set"]))
                                .order_by(HistoryEvent.id)).all()
    assert [(e.event, e.actor) for e in recorded] == [("department_saved", "admin")] * 2 + [
        ("department_member_set", "admin"), ("department_saved", "admin")]
    assert json.loads(recorded[-1].details)["name"] == "销售一部"


# --- migration of the new shapes -------------------------------------------------------------------------------------
def plain_reviews(process):
    """The diagram as it was before approvers by rule: legal review a single user task of the lane."""
    start = process.index('<bpmn:multiInstanceLoopCharacteristics>')
    end = process.index('</bpmn:multiInstanceLoopCharacteristics>') + len('</bpmn:multiInstanceLoopCharacteristics>')
    return process[:start] + process[end:]


def migrate(platform, source, target, dry_run=False):
    with platform.db.write() as session:
        return migration.plan_or_migrate(session, platform.repository, platform.runtime, platform.history, KEY,
                                         source, target, dry_run=dry_run)


@pytest.fixture
def editor(as_user):
    return as_user("admin")


def test_an_instance_halfway_through_a_joint_review_moves_when_the_step_is_unchanged(api, platform, editor):
    contract = create(api, large_contract())
    submit(api, contract["id"])
    tasks = {t.role: t for t in open_tasks(platform, contract["id"])}
    assert complete(api, "legal", tasks["legal"].id, "approve").status_code == 200
    assert deploy_json(editor, PROCESS.replace("法务审核", "法务会签"), base=1).status_code == 201
    plan = migrate(platform, 1, 2)
    assert plan.moved == [instance_of(platform, contract["id"]).id], plan.refused
    (pending,) = open_tasks(platform, contract["id"])
    assert pending.title == "法务会签" and pending.id == tasks["finance"].id
    assert complete(api, "finance", pending.id, "approve").status_code == 200
    assert status(api, contract["id"]) == "finance_review"


def test_a_joint_review_turned_any_one_is_refused_while_it_runs(api, platform, editor):
    contract = create(api, large_contract())
    submit(api, contract["id"])
    any_one = PROCESS.replace('>decision == "return"</bpmn:completionCondition>', '>True</bpmn:completionCondition>', 1)
    assert deploy_json(editor, any_one, base=1).status_code == 201
    plan = migrate(platform, 1, 2, dry_run=True)
    (reasons,) = plan.refused.values()
    assert any("legal_review" in r and "condition" in r for r in reasons), reasons


def test_an_instance_at_a_plain_review_is_refused_a_multi_instance_one(api, platform, editor):
    assert deploy_json(editor, plain_reviews(PROCESS), base=1).status_code == 201
    contract = create(api, small_contract())
    submit(api, contract["id"])
    assert deploy_json(editor, PROCESS, base=2).status_code == 201
    plan = migrate(platform, 2, 3, dry_run=True)
    (reasons,) = plan.refused.values()
    assert any("legal_review" in r and "MultiInstance" in r for r in reasons), reasons
    assert api.decide("legal", contract["id"], "approve")["contract"]["status"] == "awaiting_customer"  # runs on v2


# --- the inbox and the task page -------------------------------------------------------------------------------------
def test_the_inbox_and_task_page_show_named_tasks_and_the_steps_approvers(api, platform, sales_department, as_user):
    contract = create(api, discounted_contract())
    submit(api, contract["id"])
    named = next(t for t in open_tasks(platform, contract["id"]) if t.candidate)
    manager = as_user("zhou")
    inbox = manager.client.get("/inbox").get_data(as_text=True)
    assert "指定由我审批 (1)" in inbox and f"/tasks/{named.id}" in inbox and "指定周主任审批" in inbox
    assert "任一法务" in inbox and "待审批" in inbox  # who else decides the step
    assert manager.client.get("/inbox?assignment=named").get_data(as_text=True).count("/tasks/") == 1
    legal = as_user("legal").client.get("/inbox").get_data(as_text=True)
    assert f"/tasks/{named.id}" not in legal and "法务 (1)" in legal  # the role's count leaves the named task out
    assert api.decide("legal", contract["id"], "approve")["contract"]["status"] == "legal_review"
    page = manager.client.get(f"/tasks/{named.id}").get_data(as_text=True)
    listed = page[page.index('id="step-approvers"'):]
    assert "周主任" in listed and "同意 · 李娜" in listed and "待审批" in listed
    assert as_user("legal").client.get(f"/tasks/{named.id}").status_code == 403


# --- 撤回 on a step of several approvers ------------------------------------------------------------------------------
def test_sales_withdraw_a_joint_review_nobody_decided_even_with_a_named_approver(api, platform, sales_department):
    contract = create(api, discounted_contract())
    submit(api, contract["id"])
    assert any(t.candidate == "zhou" for t in open_tasks(platform, contract["id"]))  # named: held from the start
    withdrawn = api.call("POST", f"/contracts/{contract['id']}/withdraw", "sales", {})
    assert withdrawn.status_code == 200, withdrawn.json
    assert [t.name for t in open_tasks(platform, contract["id"])] == ["prepare_draft"]


def test_no_withdrawal_once_one_approver_of_a_joint_review_decided(api, platform):
    contract = create(api, large_contract())
    submit(api, contract["id"])
    legal = next(t for t in open_tasks(platform, contract["id"]) if t.role == "legal")
    assert complete(api, "legal", legal.id, "approve").status_code == 200
    refused = api.call("POST", f"/contracts/{contract['id']}/withdraw", "sales", {})
    assert refused.status_code == 409 and "already decided" in refused.json["message"], refused.json
    assert status(api, contract["id"]) == "legal_review"


def test_a_named_approver_hands_the_task_over_and_the_new_one_decides(api, platform, sales_department):
    contract = create(api, discounted_contract())
    submit(api, contract["id"])
    named = next(t for t in open_tasks(platform, contract["id"]) if t.candidate == "zhou")
    handed = api.call("POST", f"/tasks/{named.id}/transfer", "zhou", {"to": "sun", "reason": "出差，请孙总审批"})
    assert handed.status_code == 200, handed.json
    assert complete(api, "zhou", named.id, "approve").status_code == 403
    assert complete(api, "sun", named.id, "approve").status_code == 200
    (event,) = [e for e in events(api, contract["id"]) if e["event"] == "task_transferred"]
    assert (event["actor"], event["details"]["to"]) == ("zhou", "sun")


def test_an_added_reviewer_is_named_for_the_task(api, platform):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = open_tasks(platform, contract["id"])
    added = api.call("POST", f"/tasks/{task.id}/add-reviewer", "legal",
                     {"reviewer": "finance", "position": "before", "reason": "付款节点请财务先确认"})
    assert added.status_code == 201, added.json
    assert (added.json["candidate"], added.json["assignee"]) == ("finance", "finance")


def race(calls):
    """Run ``calls`` in threads released together: each one's result or the error it raised."""
    barrier, outcomes = threading.Barrier(len(calls)), []

    def run(call):
        barrier.wait()
        try:
            outcomes.append(call())
        except (Conflict, ValidationFailed) as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return outcomes


def test_admins_editing_one_department_at_once_keep_one_edit(platform, admin, sales_department):
    """Each saw version 1: one edit is kept, every other is a Conflict (PostgreSQL lets two read the same version)."""
    outcomes = race([lambda n=n: platform.org.save_department(admin, f"销售{n}部", department_id=sales_department.id,
                                                              version=sales_department.version) for n in range(10)])
    kept = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(kept) == 1 and all(isinstance(o, Conflict) for o in outcomes if o not in kept)
    with platform.db.read() as session:
        saved = session.exec(select(HistoryEvent).where(HistoryEvent.event == "department_saved")).all()
    details = [json.loads(e.details) for e in saved]
    assert [d["version"] for d in details] == [1, 1, 2] and details[-1]["name"] == kept[0].name


def test_admins_creating_one_department_at_once_create_it_once(platform, admin):
    outcomes = race([lambda: platform.org.save_department(admin, "市场部") for _ in range(10)])
    assert len(outcomes) == 10  # none raised anything else (a unique-key error from the database)
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, (Conflict, ValidationFailed)) for o in outcomes if isinstance(o, Exception))
