"""Amendments: either side proposes a structured change of an active contract, the other side answers within the
contract's working days (seed 003: 7) or is deemed to agree; once its 补充协议 is signed (test_amendment_signing.py) the
effective terms show the new values with their history, the unpaid instalments follow, both sides are mailed and ``contract.amended`` is sent."""
import json
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from tests.conftest import PG_URL, load_fixture
from tests.lifecycle.helpers import (CUSTOMER_MAIL, SALES_MAIL, activate, active_contract, china_midnight, detail,
                                     events, mails, sign_supplement, today, waiting_timers, webhook_events)
from tests.lifecycle.test_termination import at_once, behind_a_writer
from tests.process.test_concurrency import post
from tests.process.test_lifecycle import small_contract
from workflows.clock import CHINA
from workflows.contracts.working_days import WorkingCalendar
from workflows.models import Instalment

NEW_ITEMS = [{"name": "运维服务", "content": "系统运维（含驻场）", "amount": "120000.00"}]
NEW_PLAN = {"installments": [{"due_date": (today() + timedelta(days=60)).isoformat(), "amount": "120000.00"}]}
CHANGE = {"changes": {"items": NEW_ITEMS, "total": "120000", "payment_plan": NEW_PLAN},
          "reason": "增加驻场运维，费用相应调整"}


def propose(api, contract_id, user="sales", body=CHANGE):
    return api.call("POST", f"/contracts/{contract_id}/amendments", user, body)


def answer(api, contract_id, number, user, decision, comment="", **extra):
    return api.call("POST", f"/contracts/{contract_id}/amendments/{number}/answer", user,
                    {"decision": decision, "comment": comment, **extra})


def terms(api, contract_id, user="sales"):
    response = api.call("GET", f"/contracts/{contract_id}/terms", user)
    assert response.status_code == 200, response.json
    return response.json


def instalments(platform, contract_id):
    with platform.db.read() as session:
        return [(row.due_date, str(row.amount)) for row in session.exec(
            select(Instalment).where(Instalment.contract_id == contract_id).order_by(Instalment.seq))]


# --- working days -----------------------------------------------------------------------------------------------------
def test_working_days_follow_the_official_holidays_and_the_weekends_worked_in_exchange():
    calendar = WorkingCalendar()
    # 2026 National Day: 1-7 October off, Saturday 10 October worked (调休); a request on Tuesday 29 September
    assert calendar.add_working_days(date(2026, 9, 29), 1) == date(2026, 9, 30)
    assert calendar.add_working_days(date(2026, 9, 29), 2) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 29), 4) == date(2026, 10, 10)  # a Saturday worked
    assert calendar.add_working_days(date(2026, 9, 29), 7) == date(2026, 10, 14)
    assert calendar.answer_due_at(date(2026, 9, 29), 7) == datetime(2026, 10, 15, tzinfo=CHINA)
    assert calendar.unknown_years == set()


def test_a_year_the_package_does_not_know_counts_the_week_and_the_administrators_overrides():
    plain = WorkingCalendar()
    assert plain.add_working_days(date(2027, 1, 29), 1) == date(2027, 2, 1)  # Friday → Monday
    assert plain.unknown_years == {2027}
    announced = WorkingCalendar({date(2027, 2, 1): False, date(2027, 2, 2): False, date(2027, 1, 30): True})
    assert announced.add_working_days(date(2027, 1, 29), 1) == date(2027, 1, 30)  # a Saturday worked
    assert announced.add_working_days(date(2027, 1, 29), 2) == date(2027, 2, 3)  # Monday and Tuesday off


# --- the whole way ------------------------------------------------------------------------------------------------------
def test_the_customer_agrees_to_the_providers_change_and_the_effective_terms_show_it_with_its_history(api, platform):
    contract_id = active_contract(api, days_left=200)
    before = terms(api, contract_id)
    assert before["amended"] is False and before["total"] == "100000.00"
    response = propose(api, contract_id)
    assert response.status_code == 201, response.json
    amendment = response.json
    assert (amendment["number"], amendment["status"], amendment["answering_party"]) == (1, "proposed", "customer")
    assert amendment["changes"]["total"] == "120000.00" and amendment["working_days"] == 7
    due = WorkingCalendar().answer_due_at(today(), 7)
    assert datetime.fromisoformat(amendment["answer_due_at"]) == due
    assert detail(api, contract_id)["status"] == "active"  # the contract's own process is untouched
    assert sorted(m.to_addr for m in mails(platform, contract_id, "amendment_proposed")) == [SALES_MAIL, CUSTOMER_MAIL]

    assert answer(api, contract_id, 1, "sales", "agree").status_code == 403  # the proposer does not answer
    assert answer(api, contract_id, 1, "customer", "refuse").status_code == 422  # a refusal needs a reason
    stale = answer(api, contract_id, 1, "customer", "agree", version=amendment["version"] + 1)
    assert stale.status_code == 409  # the amendment is not as the answerer read it
    response = answer(api, contract_id, 1, "customer", "agree", version=amendment["version"])
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["answer"]) == ("signing", "agreed")
    assert response.json["before"]["total"] == "100000.00"
    assert sign_supplement(api, contract_id)["status"] == "effective"  # test_amendment_signing.py: the signing

    after = terms(api, contract_id, "customer")
    assert after["amended"] is True and after["total"] == "120000.00"
    assert [{key: item[key] for key in ("name", "content", "amount")} for item in after["items"]] == NEW_ITEMS
    fields = {entry["field"]: entry for entry in after["history"]}
    assert fields["total"]["before"] == "100000.00" and fields["total"]["after"] == "120000.00"
    assert fields["total"]["amendment"] == 1 and fields["total"]["answer"] == "agreed"
    assert detail(api, contract_id)["total"] == "120000.00"
    assert instalments(platform, contract_id) == [(date.fromisoformat(NEW_PLAN["installments"][0]["due_date"]),
                                                   "120000.00")]
    kind, payload = webhook_events(platform, contract_id)[-1]
    assert kind == "contract.amended"
    payload = json.loads(payload)
    assert payload["amendment"] == 1 and payload["contract"]["totals"]["total"] == "120000.00"
    assert payload["before"]["total"] == "100000.00"
    assert sorted(m.to_addr for m in mails(platform, contract_id, "amendment_effective")) == [SALES_MAIL, CUSTOMER_MAIL]
    assert [e.event for e in events(platform, contract_id, "amendment_effective")] == ["amendment_effective"]
    assert answer(api, contract_id, 1, "customer", "agree").status_code == 409  # answered already
    renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json  # on the terms in force
    assert renewal["total"] == "120000.00" and renewal["data"]["items"][0]["content"] == "系统运维（含驻场）"


def test_a_refused_change_leaves_the_terms_and_the_next_one_may_be_proposed(api, platform):
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id, "customer").json["answering_party"] == "provider"
    assert propose(api, contract_id, "sales").status_code == 409  # one waits for its answer
    response = answer(api, contract_id, 1, "sales", "refuse", "驻场人员暂无法安排")
    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["answer_comment"]) == ("refused", "驻场人员暂无法安排")
    assert terms(api, contract_id)["amended"] is False and detail(api, contract_id)["total"] == "100000.00"
    assert mails(platform, contract_id, "amendment_refused")
    assert propose(api, contract_id, "sales").json["number"] == 2


def test_no_answer_by_the_seventh_working_day_is_deemed_agreement_counting_a_holiday_in_between(api, platform):
    contract_id = active_contract(api, days_left=200)
    calendar = WorkingCalendar()
    third = calendar.add_working_days(today(), 3)
    platform.working_days.set_override(_admin(platform), third.isoformat(), False, "临时调休")
    amendment = propose(api, contract_id).json
    due = datetime.fromisoformat(amendment["answer_due_at"])
    without_holiday = calendar.answer_due_at(today(), 7)
    assert due == WorkingCalendar({third: False}).answer_due_at(today(), 7) and due > without_holiday
    assert due.astimezone(CHINA).time().isoformat() == "00:00:00"
    (task,) = api.call("GET", f"/tasks?contract_id={contract_id}&role=customer", "customer").json["items"]
    assert datetime.fromisoformat(task["due_at"]) == due  # the inbox shows the working-day deadline

    assert platform.timers.run_due(at=without_holiday) == 0  # the day off moved the deadline
    assert platform.timers.run_due(at=due - timedelta(seconds=1)) == 0
    assert platform.timers.run_due(at=due) == 1
    amendment = api.call("GET", f"/contracts/{contract_id}/amendments/1", "sales").json
    assert (amendment["status"], amendment["answer"]) == ("signing", "deemed_agreed")
    assert sign_supplement(api, contract_id, parties=("signatory",))["status"] == "effective"  # the proposer alone
    assert terms(api, contract_id)["total"] == "120000.00"
    assert events(platform, contract_id, "amendment_deemed_agreed")
    assert answer(api, contract_id, 1, "customer", "refuse", "太迟了").status_code == 409


def test_where_the_contract_does_not_deem_silence_agreement_an_unanswered_change_lapses(api, platform):
    draft = load_fixture("contract-network-line.json")  # seed 000: 未经甲乙双方书面确认，任何一方不得自行变更
    start, end = today() - timedelta(days=165), today() + timedelta(days=200)
    draft["term"] = {"start": start.isoformat(), "end": end.isoformat(), "auto_renew_months": 0, "notice_days": 0}
    draft["payment_plan"] = {"installments": [{"due_date": (start + timedelta(days=30)).isoformat(),
                                               "amount": draft["total"]}]}
    contract_id = activate(api, draft)
    body = {"changes": {"term_end": (end + timedelta(days=90)).isoformat()}, "reason": "延长服务期"}
    amendment = propose(api, contract_id, body=body).json
    assert amendment["working_days"] == 7 and amendment["answering_party"] == "customer"
    assert platform.timers.run_due(at=datetime.fromisoformat(amendment["answer_due_at"])) == 1
    amendment = api.call("GET", f"/contracts/{contract_id}/amendments/1", "sales").json
    assert (amendment["status"], amendment["answer"]) == ("lapsed", None)
    assert terms(api, contract_id)["amended"] is False
    assert detail(api, contract_id)["lifecycle"]["terminates_on"] is None
    assert mails(platform, contract_id, "amendment_lapsed") and events(platform, contract_id, "amendment_lapsed")


def test_changes_are_checked_field_by_field_and_a_bad_one_changes_nothing(api, platform):
    contract_id = active_contract(api, days_left=200)
    cases = [
        ({"changes": {"customer": {"name": "别的学校"}}, "reason": "改名"}, {"changes.customer"}),
        ({"changes": {}, "reason": "无"}, {"changes"}),
        ({"changes": {"total": "abc"}, "reason": ""}, {"reason", "changes.total"}),
        ({"changes": {"total": "abc"}, "reason": "调价"}, {"changes.total"}),
        ({"changes": {"clauses": {"99.9": "新条款"}}, "reason": "改条款"}, {"changes.clauses.99.9"}),
        ({"changes": {"term_end": "2020-01-01"}, "reason": "提前结束"}, {"changes.term_end"}),
        ({"changes": {"total": "100000.00"}, "reason": "不变"}, {"changes.total"}),
    ]
    for body, fields in cases:
        response = propose(api, contract_id, body=body)
        assert response.status_code == 422, (body, response.json)
        assert fields <= set(response.json["fields"]), (body, response.json["fields"])
    # the items no longer add up to the total: named on the field that is wrong
    response = propose(api, contract_id, body={"changes": {"total": "120000.00"}, "reason": "调价"})
    assert response.status_code == 422 and any(f.startswith("changes.") for f in response.json["fields"])
    assert api.call("GET", f"/contracts/{contract_id}/amendments", "sales").json["items"] == []
    assert events(platform, contract_id, "amendment_proposed") == []


def test_a_clause_is_replaced_by_its_number_and_the_term_end_moves_with_the_terms_timers(api, platform):
    contract_id = active_contract(api, days_left=200, auto_renew_months=12, notice_days=30)
    assert waiting_timers(platform, contract_id) == ["renewal_notice"]
    new_end = (today() + timedelta(days=300)).isoformat()
    body = {"changes": {"clauses": {"5.2": "本保密条款在服务期限内及服务终止后三年之内持续有效。"}, "term_end": new_end},
            "reason": "延长保密期和服务期"}
    response = propose(api, contract_id, "customer", body)
    assert response.status_code == 201, response.json
    assert answer(api, contract_id, 1, "sales", "agree").json["status"] == "signing"
    assert sign_supplement(api, contract_id)["status"] == "effective"
    after = terms(api, contract_id, "customer")
    assert after["clauses"]["5.2"] == {"text": "本保密条款在服务期限内及服务终止后三年之内持续有效。", "amendment": 1}
    assert after["term"]["end"] == new_end
    history = {entry["field"]: entry for entry in after["history"]}
    assert history["clauses"]["before"] == {"5.2": None}  # the signed text: no amendment had replaced it
    assert history["term_end"]["after"] == new_end
    deadline = date.fromisoformat(new_end) - timedelta(days=30)
    assert detail(api, contract_id)["lifecycle"]["notice_deadline"] == deadline.isoformat()
    # the term's timers now wait for the new end: nothing at the old renewal notice, the notice on the new one
    old_notice = china_midnight(today() + timedelta(days=200 - 30)) + timedelta(hours=9)
    assert platform.timers.run_due(at=old_notice) == 0
    assert platform.timers.run_due(at=china_midnight(deadline) + timedelta(hours=9)) == 1
    assert events(platform, contract_id, "renewal_notice")


def test_only_an_active_contract_is_amended_and_only_by_its_sides(api, platform):
    contract_id = active_contract(api, days_left=200)
    for user in ("legal", "finance", "signatory"):
        assert propose(api, contract_id, user).status_code == 403, user
    draft = api.call("POST", "/contracts", "sales", small_contract()).json["id"]
    assert propose(api, draft).status_code == 409


@pytest.mark.skipif(not PG_URL, reason="races are tested on PostgreSQL")
def test_two_proposals_at_once_one_wins_the_other_gets_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=200)
    statuses, results = at_once(f"{live_url}/api/v1/contracts/{contract_id}/amendments",
                                [api.token("sales"), api.token("customer")], CHANGE)
    assert statuses == [201, 409], results
    assert len(events(platform, contract_id, "amendment_proposed")) == 1


@pytest.mark.skipif(not PG_URL, reason="row locks: PostgreSQL")
def test_a_proposal_checked_before_a_concurrent_one_committed_loses_with_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=200)
    status, body = behind_a_writer(
        platform, "INSERT INTO contract_amendment (contract_id, number, status, open_key, party, proposed_by, "
        "proposed_by_name, proposed_at, changes_json, reason, working_days, answer_due_at, answer, answered_by, "
        "answered_by_name, answer_comment, version) VALUES (:id, 1, 'proposed', :id, 'customer', 'other', '', now(), "
        "'{}', '另一项变更', 7, now(), '', '', '', '', 1)", {"id": contract_id},
        lambda: post(f"{live_url}/api/v1/contracts/{contract_id}/amendments", api.token("sales"), CHANGE))
    assert status == 409 and body["message"].startswith("本合同的另一项变更已同时提出"), body
    assert events(platform, contract_id, "amendment_proposed") == []


@pytest.mark.skipif(not PG_URL, reason="races are tested on PostgreSQL")
def test_two_answers_at_once_one_wins_the_other_gets_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=200)
    assert propose(api, contract_id, "customer").status_code == 201
    with platform.db.write() as session:
        second = platform.accounts.create_token(session, "sales")
    statuses, results = at_once(f"{live_url}/api/v1/contracts/{contract_id}/amendments/1/answer",
                                [api.token("sales"), second], {"decision": "agree"})
    assert statuses == [200, 409], results
    assert len(events(platform, contract_id, "amendment_agreed")) == 1
    assert len(events(platform, contract_id, "amendment_to_sign")) == 1


def _admin(platform):
    with platform.db.read() as session:
        return platform.accounts.get(session, "admin")
