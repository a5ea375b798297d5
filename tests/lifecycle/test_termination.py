"""Early termination: the notice rules, the diagram's timers ending, the effective date, who may, and races (one
wins, the other 409) for termination and renewal."""
import json
import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL
from tests.letters.helpers import technical_service
from tests.lifecycle.helpers import (CUSTOMER_MAIL, SALES_MAIL, activate, active_contract, china_midnight, detail,
                                     events, instance_status, mails, today, waiting_timers, webhook_events)
from tests.process.test_concurrency import post
from tests.process.test_lifecycle import small_contract


def terminate(api, contract_id, user="sales", **body):
    return api.call("POST", f"/contracts/{contract_id}/termination", user, body)


def test_termination_respects_the_notice_period_stops_the_term_timers_and_takes_effect_on_its_date(api, platform):
    contract_id = active_contract(api, days_left=200, auto_renew_months=12, notice_days=30)
    assert waiting_timers(platform, contract_id) == ["renewal_notice"]
    first = today() + timedelta(days=30)
    assert detail(api, contract_id)["lifecycle"]["earliest_termination"] == first.isoformat()
    early = terminate(api, contract_id, effective_on=(first - timedelta(days=1)).isoformat(), reason="客户撤场")
    assert early.status_code == 422 and first.isoformat() in early.json["fields"]["effective_on"]
    late = terminate(api, contract_id, effective_on=(today() + timedelta(days=201)).isoformat(), reason="客户撤场")
    assert late.status_code == 422 and "不续展" in late.json["fields"]["effective_on"]
    bad = terminate(api, contract_id, effective_on="2026-02-30", reason=" ")
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"effective_on", "reason"}
    assert detail(api, contract_id)["lifecycle"]["terminates_on"] is None  # a refusal changes nothing

    response = terminate(api, contract_id, effective_on=first.isoformat(), reason="甲方业务调整，提前解除合同")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "active"  # in force until the effective date
    assert response.json["lifecycle"]["terminates_on"] == first.isoformat()
    (given,) = events(platform, contract_id, "termination_given")
    assert given.comment == "甲方业务调整，提前解除合同" and json.loads(given.details)["notice_days"] == 30
    # the renewal notice and the term's end are gone: only the termination's own date is waited for
    assert waiting_timers(platform, contract_id) == ["termination_effective"]
    again = terminate(api, contract_id, effective_on=first.isoformat(), reason="再次")
    assert again.status_code == 409
    assert api.call("POST", f"/contracts/{contract_id}/non-renewal", "customer").status_code == 409

    assert platform.timers.run_due(at=china_midnight(first) - timedelta(seconds=1)) == 0
    assert platform.timers.run_due(at=china_midnight(first)) == 1
    contract = detail(api, contract_id)
    assert (contract["status"], contract["status_title"]) == ("terminated", "已提前终止")
    assert instance_status(platform, contract_id) == "completed" and waiting_timers(platform, contract_id) == []
    assert events(platform, contract_id, "contract_terminated") and events(platform, contract_id, "renewal_notice") == []
    kind, payload = webhook_events(platform, contract_id)[-1]
    assert kind == "contract.terminated" and json.loads(payload)["reason"] == "甲方业务调整，提前解除合同"
    assert sorted(m.to_addr for m in mails(platform, contract_id, "contract_terminated")) == [SALES_MAIL, CUSTOMER_MAIL]
    # nothing more fires, ever: the term's end passes without a renewal
    assert platform.timers.run_due(at=china_midnight(today() + timedelta(days=400))) == 0
    assert detail(api, contract_id)["status"] == "terminated"
    assert detail(api, contract_id, "customer")["status"] == "terminated"


def test_without_a_notice_period_a_termination_today_takes_effect_at_once(api, platform):
    contract_id = active_contract(api, days_left=90)
    response = terminate(api, contract_id, "admin", effective_on=today().isoformat(), reason="双方协商一致解除")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "terminated" and instance_status(platform, contract_id) == "completed"


def test_only_sales_and_administrators_terminate(api, platform):
    contract_id = active_contract(api, days_left=90)
    body = {"effective_on": today().isoformat(), "reason": "测试"}
    for user in ("legal", "finance", "signatory", "customer"):
        assert terminate(api, contract_id, user, **body).status_code == 403, user
    assert detail(api, contract_id)["status"] == "active"


def at_once(url, tokens, body):
    """POST ``body`` to ``url`` from one thread per token, released together: their (status, body)."""
    barrier, results = threading.Barrier(len(tokens)), []

    def call(token):
        barrier.wait()
        results.append(post(url, token, body))

    threads = [threading.Thread(target=call, args=(token,)) for token in tokens]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return sorted(status for status, _ in results), results


@pytest.mark.skipif(not PG_URL, reason="races are tested on PostgreSQL")
def test_two_people_terminating_at_once_one_wins_the_other_gets_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=90)
    statuses, results = at_once(f"{live_url}/api/v1/contracts/{contract_id}/termination",
                                [api.token("sales"), api.token("admin")],
                                {"effective_on": (today() + timedelta(days=10)).isoformat(), "reason": "提前解除"})
    assert statuses == [200, 409], results
    assert len(events(platform, contract_id, "termination_given")) == 1
    assert waiting_timers(platform, contract_id) == ["termination_effective"]


@pytest.mark.skipif(not PG_URL, reason="races are tested on PostgreSQL")
def test_two_people_renewing_at_once_one_wins_the_other_gets_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=90)
    with platform.db.write() as session:
        second = platform.accounts.create_token(session, "sales")
    statuses, results = at_once(f"{live_url}/api/v1/contracts/{contract_id}/renewal", [api.token("sales"), second], {})
    assert statuses == [201, 409], results
    winner = next(body for status, body in results if status == 201)
    assert detail(api, contract_id)["lifecycle"]["renewed_by"]["id"] == winner["id"]
    assert len(events(platform, contract_id, "renewal_started")) == 1


def behind_a_writer(platform, statement, params, call):
    """Run ``call`` (in a thread) while another transaction has written ``statement`` and not committed yet: the call
    reads the contract as it was, then waits on the row at its own write; the other commits first. Its answer."""
    answers = []
    with platform.db.engine.connect() as other:
        other.execute(text(statement), params)
        worker = threading.Thread(target=lambda: answers.append(call()))
        worker.start()
        time.sleep(1.5)  # the call is past its checks and waits on the row lock
        other.commit()
        worker.join()
    return answers[0]


@pytest.mark.skipif(not PG_URL, reason="row locks: PostgreSQL")
def test_a_termination_checked_before_a_concurrent_one_committed_loses_with_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=90)
    day = (today() + timedelta(days=10)).isoformat()
    status, body = behind_a_writer(
        platform, "UPDATE contract SET terminates_on = :day WHERE id = :id", {"day": day, "id": contract_id},
        lambda: post(f"{live_url}/api/v1/contracts/{contract_id}/termination", api.token("sales"),
                     {"effective_on": day, "reason": "提前解除"}))
    assert status == 409 and body["message"].startswith("合同已被他人同时终止"), body
    assert events(platform, contract_id, "termination_given") == []


@pytest.mark.skipif(not PG_URL, reason="row locks: PostgreSQL")
def test_a_renewal_checked_before_a_concurrent_one_committed_loses_with_409(api, platform, live_url):
    contract_id = active_contract(api, days_left=90)
    other = api.call("POST", "/contracts", "sales", small_contract()).json["id"]
    status, body = behind_a_writer(
        platform, "UPDATE contract SET renewed_by_id = :other WHERE id = :id", {"other": other, "id": contract_id},
        lambda: post(f"{live_url}/api/v1/contracts/{contract_id}/renewal", api.token("sales"), {}))
    assert status == 409 and body["message"].startswith("同一合同的续签已由他人同时发起"), body
    assert detail(api, contract_id)["lifecycle"]["renewed_by"]["id"] == other
    assert events(platform, contract_id, "renewal_started") == []


def test_a_termination_cancels_the_instalments_after_it_and_what_was_due_before_stays_owed(api, platform, as_user):
    contract_id = activate(api, {**technical_service(), "late_fee_rate_per_day": "0.0005"})  # 180,000 twice a year
    effective_on = date(2027, 3, 1)  # the instalments of 2027-06-30 and 2027-12-31 fall due after it
    response = terminate(api, contract_id, effective_on=effective_on.isoformat(), reason="学校撤并")
    assert response.status_code == 200, response.json
    plan = api.call("GET", f"/contracts/{contract_id}/payments", "finance", query_string={"as_of": "2027-01-05"}).json
    assert [(i["seq"], i["status"], i["outstanding"]) for i in plan["instalments"]] == [
        (1, "overdue", "180000.00"), (2, "overdue", "180000.00"), (3, "overdue", "180000.00"),
        (4, "overdue", "180000.00"), (5, "cancelled", "0.00"), (6, "cancelled", "0.00")]
    assert (plan["totals"]["outstanding"], plan["totals"]["amount"], plan["totals"]["cancelled"]) == (
        "720000.00", "720000.00", "360000.00")
    (cancelled,) = events(platform, contract_id, "instalments_cancelled")  # in the termination's transaction
    assert json.loads(cancelled.details) == {"effective_on": "2027-03-01", "instalments": [
        {"instalment": 5, "due_date": "2027-06-30", "amount": "180000.00", "waived": "180000.00"},
        {"instalment": 6, "due_date": "2027-12-31", "amount": "180000.00", "waived": "180000.00"}]}

    refused = api.call("POST", f"/contracts/{contract_id}/payments", "finance", {
        "instalment": 5, "amount": "1.00", "received_on": today().isoformat(), "bank_reference": "B-5"})
    assert refused.status_code == 409 and "已因合同提前终止而取消" in refused.json["message"]
    statement = f"交易日期,金额,流水号,附言\n{today().isoformat()},720000.01,B-ALL,{detail(api, contract_id)['number']}\n"
    too_much = api.call("POST", "/payments/import", "finance", data=statement.encode(), content_type="text/csv")
    assert too_much.status_code == 422  # more than is still owed: the cancelled ones take nothing

    platform.timers.run_due(at=china_midnight(effective_on))
    assert detail(api, contract_id)["status"] == "terminated"
    # finance still sees and collects what the terminated contract owes, marked with its status; the scan no longer
    # reminds of it but flags what is late
    listed = api.call("GET", "/payments/open", "finance", query_string={"within_days": "3650"}).json["items"]
    mine = [(i["seq"], i["contract_status"]) for i in listed if i["contract_id"] == contract_id]
    assert mine == [(1, "terminated"), (2, "terminated"), (3, "terminated"), (4, "terminated")]
    page = as_user("finance").get("/payments?within=90").get_data(as_text=True)
    assert "已提前终止" in page and f"instalment-{contract_id}-4" in page and f"instalment-{contract_id}-5" not in page
    assert platform.payments.scan(china_midnight(date(2027, 6, 25)) + timedelta(hours=9)) == (0, 4)  # not 5's reminder
    with platform.db.read() as session:  # the managers' overdue figures count it too
        assert platform.dashboards.overdue_instalments(session, china_midnight(date(2027, 6, 25))).instalments == 4
    assert api.call("POST", f"/contracts/{contract_id}/payments", "finance", {
        "instalment": 1, "amount": "180000.00", "received_on": today().isoformat(),
        "bank_reference": "B-1"}).status_code == 201


@pytest.mark.skipif(not PG_URL, reason="row locks: PostgreSQL")
def test_a_termination_racing_a_payment_of_an_instalment_it_cancels_loses_with_409(api, platform, live_url):
    contract_id = activate(api, technical_service())
    status, body = behind_a_writer(  # finance records a payment on the last instalment meanwhile
        platform, "UPDATE payment_instalment SET paid = paid + 1, version = version + 1 "
                  "WHERE contract_id = :id AND seq = 6", {"id": contract_id},
        lambda: post(f"{live_url}/api/v1/contracts/{contract_id}/termination", api.token("sales"),
                     {"effective_on": "2027-03-01", "reason": "学校撤并"}))
    assert status == 409 and "刚刚登记了收款" in body["message"], body
    assert detail(api, contract_id)["lifecycle"]["terminates_on"] is None  # nothing of it is kept
    assert events(platform, contract_id, "instalments_cancelled") == []
