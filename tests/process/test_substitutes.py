"""Out of office (外出) and substitutes (代理): a task named for someone away goes to their substitute, who decides for
them; both names are kept. Through the REST API, on both databases."""
from datetime import timedelta

import pytest
from sqlmodel import func, select

from tests.conftest import load_fixture
from tests.process.test_approvers import MATRIX, add_user, deploy_matrix, open_tasks, with_rule
from tests.process.test_lifecycle import create, events, submit
from tests.process.test_task_actions import complete, mails_to
from workflows.clock import CHINA, utcnow
from workflows.models import Absence, OutboxMail


@pytest.fixture
def team(platform):
    """张三 is named for legal review by the matrix; 王五 and 赵六 are legal too; 钱会计 is finance."""
    for username, role, name in (("zhangsan", "legal", "张三"), ("wangwu", "legal", "王五"), ("zhaoliu", "legal", "赵六"),
                                 ("qian", "finance", "钱会计")):
        add_user(platform, username, role, name)
    deploy_matrix(platform, with_rule("legal_review", "user:zhangsan"))


def away(api, username, substitute, starts_in=timedelta(minutes=-1), lasts=timedelta(days=3), user=None, reason="出差"):
    start = utcnow() + starts_in
    return api.call("POST", f"/users/{username}/absences", user or username,
                    {"substitute": substitute, "starts_at": start.isoformat(), "ends_at": (start + lasts).isoformat(),
                     "reason": reason})


def named_task(platform, contract_id):
    return next(t for t in open_tasks(platform, contract_id) if t.candidate)


def submitted(api):
    contract = create(api, load_fixture("contract-network-line.json"))
    submit(api, contract["id"])
    return contract["id"]


def test_a_task_arriving_during_an_absence_goes_to_the_substitute_with_both_names(api, platform, team):
    set_ = away(api, "zhangsan", "wangwu")
    assert set_.status_code == 201, set_.json
    assert (set_.json["status"], set_.json["substitute"]) == ("current", "wangwu")
    contract_id = submitted(api)
    task = named_task(platform, contract_id)
    assert (task.candidate, task.assignee, task.delegated_by) == ("wangwu", "wangwu", "zhangsan")
    substituted = next(e for e in events(api, contract_id) if e["event"] == "task_substituted")
    assert (substituted["actor"], substituted["on_behalf_of"], substituted["details"]["from"],
            substituted["details"]["to"], substituted["task_id"]) == ("wangwu", "zhangsan", "zhangsan", "wangwu", task.id)
    with platform.db.read() as session:
        bodies = session.exec(select(OutboxMail.body).where(OutboxMail.to_addr == "wangwu@provider.example")).all()
    assert any("张三 外出，由您代为办理" in body for body in bodies)
    assert task.id in {t["id"] for t in api.tasks("wangwu", contract_id)}
    assert complete(api, "zhangsan", task.id, "approve").status_code == 403
    assert complete(api, "wangwu", task.id, "approve").status_code == 200
    decided = next(e for e in events(api, contract_id) if e["event"] == "task_completed" and e["task_id"] == task.id)
    assert (decided["actor"], decided["on_behalf_of"]) == ("wangwu", "zhangsan")


def test_outside_the_period_the_task_stays_with_the_one_named(api, platform, team):
    assert away(api, "zhangsan", "wangwu", starts_in=timedelta(days=1)).json["status"] == "upcoming"
    task = named_task(platform, submitted(api))
    assert (task.candidate, task.delegated_by) == ("zhangsan", None)


def test_a_substitute_away_too_hands_on_to_theirs(api, platform, team):
    assert away(api, "zhangsan", "wangwu").status_code == 201
    assert away(api, "wangwu", "zhaoliu").status_code == 201
    task = named_task(platform, submitted(api))
    assert (task.candidate, task.delegated_by) == ("zhaoliu", "zhangsan")


def test_a_chain_that_comes_back_leaves_the_task_with_the_one_named(api, platform, team):
    assert away(api, "zhangsan", "wangwu").status_code == 201
    assert away(api, "wangwu", "zhangsan").status_code == 201
    task = named_task(platform, submitted(api))
    assert (task.candidate, task.delegated_by) == ("zhangsan", None)


def test_an_added_reviewer_or_a_transfer_to_someone_away_reaches_their_substitute(api, platform, team):
    assert away(api, "zhangsan", "wangwu").status_code == 201
    contract_id = submitted(api)
    lane = next(t for t in open_tasks(platform, contract_id) if not t.candidate)
    added = api.call("POST", f"/tasks/{lane.id}/add-reviewer", "legal",
                     {"reviewer": "zhangsan", "position": "before", "reason": "请张三复核"})
    assert added.status_code == 201, added.json
    assert (added.json["candidate"], added.json["delegated_by"]) == ("wangwu", "zhangsan")
    assert "reviewer_added" in mails_to(platform, "wangwu@provider.example")
    named = named_task(platform, contract_id)  # wangwu's, for zhangsan: handed over to zhaoliu, then to zhangsan
    assert api.call("POST", f"/tasks/{named.id}/transfer", "wangwu", {"to": "zhaoliu", "reason": "忙"}).status_code == 200
    back = api.call("POST", f"/tasks/{named.id}/transfer", "zhaoliu", {"to": "zhangsan", "reason": "张三熟悉"})
    assert back.status_code == 200, back.json
    assert (back.json["candidate"], back.json["delegated_by"]) == ("wangwu", "zhangsan")
    assert [e["event"] for e in events(api, contract_id)][-2:] == ["task_transferred", "task_substituted"]


def test_bad_periods_are_refused_field_by_field_and_change_nothing(api, platform, team):
    assert away(api, "zhangsan", "wangwu", starts_in=timedelta(days=1)).status_code == 201
    cases = [({"substitute": "zhangsan"}, "substitute"), ({"substitute": "qian"}, "substitute"),
             ({"substitute": "nobody"}, "substitute"), ({"lasts": timedelta(hours=-1)}, "ends_at"),
             ({"starts_in": timedelta(days=2)}, "starts_at")]  # the last overlaps the first period
    for change, field in cases:
        kwargs = {"substitute": "wangwu", **change}
        refused = away(api, "zhangsan", kwargs.pop("substitute"), **kwargs)
        assert refused.status_code == 422 and field in refused.json["fields"], (change, refused.json)
    bad_time = api.call("POST", "/users/zhangsan/absences", "zhangsan",
                        {"substitute": "wangwu", "starts_at": "明天", "ends_at": 7})
    assert bad_time.status_code == 422 and set(bad_time.json["fields"]) == {"starts_at", "ends_at"}
    (period,) = api.call("GET", "/users/zhangsan/absences", "zhangsan").json["items"]
    stale = api.call("PUT", f"/users/zhangsan/absences/{period['id']}", "zhangsan",
                     {"version": period["version"] + 1, "substitute": "zhaoliu", "starts_at": period["starts_at"],
                      "ends_at": period["ends_at"]})
    assert stale.status_code == 409
    with platform.db.read() as session:
        assert session.exec(select(func.count()).select_from(Absence)).one() == 1
        assert session.exec(select(Absence.substitute)).one() == "wangwu"
    changed = api.call("PUT", f"/users/zhangsan/absences/{period['id']}", "zhangsan",
                       {"version": period["version"], "substitute": "zhaoliu", "starts_at": period["starts_at"],
                        "ends_at": period["ends_at"], "reason": "培训"})
    assert changed.status_code == 200 and (changed.json["substitute"], changed.json["version"]) == ("zhaoliu", 2)


def test_hand_on_moves_open_named_tasks_and_an_ended_period_keeps_them_there(api, platform, team):
    contract_id = submitted(api)
    task = named_task(platform, contract_id)
    assert task.candidate == "zhangsan"
    assert api.call("POST", "/users/zhangsan/absences/hand-on", "zhangsan").status_code == 409  # no period yet
    period = away(api, "zhangsan", "wangwu").json
    handed = api.call("POST", "/users/zhangsan/absences/hand-on", "zhangsan")
    assert handed.status_code == 200, handed.json
    assert handed.json["substitute"] == "wangwu" and [t["id"] for t in handed.json["items"]] == [task.id]
    moved = named_task(platform, contract_id)
    assert (moved.candidate, moved.delegated_by) == ("wangwu", "zhangsan")
    transferred = [e for e in events(api, contract_id) if e["event"] == "task_transferred"]
    assert [(e["details"]["from"], e["details"]["to"]) for e in transferred] == [("zhangsan", "wangwu")]
    assert "task_substituted" in mails_to(platform, "wangwu@provider.example")
    ended = api.call("POST", f"/users/zhangsan/absences/{period['id']}/end", "zhangsan")
    assert ended.status_code == 200 and ended.json["status"] == "ended"
    assert api.call("POST", f"/users/zhangsan/absences/{period['id']}/end", "zhangsan").status_code == 409
    assert named_task(platform, contract_id).candidate == "wangwu"  # what was handed on stays
    assert named_task(platform, submitted(api)).candidate == "zhangsan"  # back: new tasks are theirs again


def test_only_the_user_or_an_admin_manages_their_absences(api, platform, team):
    assert away(api, "zhangsan", "wangwu", user="legal").status_code == 403
    assert away(api, "zhangsan", "wangwu", user="customer").status_code == 403
    assert api.call("GET", "/users/zhangsan/absences", "wangwu").status_code == 403
    assert api.call("POST", "/users/zhangsan/absences/hand-on", "wangwu").status_code == 403
    assert api.call("GET", "/users/nobody/absences", "admin").status_code == 404
    by_admin = away(api, "zhangsan", "wangwu", user="admin")
    assert by_admin.status_code == 201
    assert api.call("POST", f"/users/zhangsan/absences/{by_admin.json['id']}/end", "wangwu").status_code == 403
    listed = api.call("GET", "/users/zhangsan/absences", "zhangsan").json
    assert [a["id"] for a in listed["items"]] == [by_admin.json["id"]]
    assert {"username": "wangwu", "name": "王五"} in listed["substitutes"]
    assert "qian" not in {s["username"] for s in listed["substitutes"]}  # finance cannot do legal's work


def test_the_page_sets_ends_and_hands_on_and_the_pages_show_both_names(api, platform, team, as_user):
    zhang = as_user("zhangsan")
    page = zhang.get("/out-of-office").get_data(as_text=True)
    assert "外出设置" in page and "王五" in page and "钱会计" not in page  # the substitutes who may do legal's work
    start, end = utcnow().astimezone(CHINA) - timedelta(minutes=5), utcnow().astimezone(CHINA) + timedelta(days=2)
    form = {"starts_at": f"{start:%Y-%m-%dT%H:%M}", "ends_at": f"{end:%Y-%m-%dT%H:%M}", "substitute": "wangwu",
            "reason": "出差"}
    refused = zhang.post("/out-of-office", {**form, "ends_at": form["starts_at"]}, page="/out-of-office")
    assert refused.status_code == 422 and "must be after the start" in refused.get_data(as_text=True)
    assert zhang.post("/out-of-office", form, page="/out-of-office").status_code == 302
    page = zhang.get("/out-of-office").get_data(as_text=True)
    assert "外出中" in page and f"{start:%Y-%m-%d %H:%M}" in page  # China time, as entered
    contract_id = submitted(api)
    task = named_task(platform, contract_id)
    wang = as_user("wangwu")
    assert "王五（代 张三）" in wang.get("/inbox").get_data(as_text=True)
    assert "王五（代 张三）" in wang.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "王五（代 张三）" in wang.get(f"/contracts/{contract_id}").get_data(as_text=True)  # its history
    (period,) = api.call("GET", "/users/zhangsan/absences", "zhangsan").json["items"]
    assert zhang.post(f"/out-of-office/{period['id']}/end", page="/out-of-office").status_code == 302
    assert "未设置外出" in zhang.get("/out-of-office").get_data(as_text=True)


def test_a_step_sent_back_to_while_its_approver_is_away_reopens_for_the_substitute(api, platform, team):
    """回退 opens the step again: its approver is named afresh by the rule, and reached through their substitute."""
    deploy_matrix(platform, MATRIX.replace('<outputEntry id="rule_legal_out"><text>"lane"</text>',
                                           '<outputEntry id="rule_legal_out"><text>"user:zhangsan"</text>'))
    contract_id = create(api, load_fixture("contract-technical-service.json"))["id"]  # above finance's threshold
    submit(api, contract_id)
    first = named_task(platform, contract_id)
    assert complete(api, "zhangsan", first.id, "approve").status_code == 200
    (finance,) = api.tasks("finance", contract_id)
    assert away(api, "zhangsan", "wangwu").status_code == 201
    back = api.call("POST", f"/tasks/{finance['id']}/send-back", "finance", {"to": "legal_review", "comment": "再看"})
    assert back.status_code == 200, back.json
    task = named_task(platform, contract_id)
    assert task.id != first.id and (task.candidate, task.assignee, task.delegated_by) == ("wangwu", "wangwu", "zhangsan")
    assert [e["task_id"] for e in events(api, contract_id) if e["event"] == "task_substituted"] == [task.id]
    assert complete(api, "wangwu", task.id, "approve").status_code == 200
