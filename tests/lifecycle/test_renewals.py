"""Renewals: the auto-renewal at the term's end (timers fired at fixed moments), notices of non-renewal before and
after the deadline, and the renewal draft prefilled from an active contract with its links both ways."""
import json
from datetime import timedelta

from tests.letters.helpers import SECURITY_VALUES, customer_signs, document_html, fill, letters
from tests.lifecycle.helpers import (CUSTOMER_MAIL, SALES_MAIL, activate, activate_draft, active_contract, china_midnight, detail,
                                     draft_with_term, events, instance_status, mails, today, waiting_timers,
                                     webhook_events)
from tests.process.test_lifecycle import small_contract
from sqlmodel import select

from workflows.contracts.term import date_shift, renewed_end
from workflows.models import Instalment


def instalments(platform, contract_id):
    with platform.db.read() as session:
        return [(row.seq, row.due_date, row.amount) for row in session.exec(
            select(Instalment).where(Instalment.contract_id == contract_id).order_by(Instalment.seq))]


def test_an_auto_renewing_contract_extends_its_term_at_the_end_date_and_tells_both_sides(api, platform):
    contract_id = active_contract(api, days_left=120, auto_renew_months=12, notice_days=90)
    end = today() + timedelta(days=120)
    assert waiting_timers(platform, contract_id) == ["renewal_notice"]
    assert platform.timers.run_due(at=china_midnight(end - timedelta(days=90))) == 0  # 09:00 on the deadline day
    assert platform.timers.run_due(at=china_midnight(end - timedelta(days=90)) + timedelta(hours=9)) == 1
    assert sorted(m.to_addr for m in mails(platform, contract_id, "renewal_notice")) == [SALES_MAIL, CUSTOMER_MAIL]
    assert "发起续签" in next(m.body for m in mails(platform, contract_id, "renewal_notice") if m.to_addr == SALES_MAIL)
    assert waiting_timers(platform, contract_id) == ["term_end"]

    term_over = china_midnight(end + timedelta(days=1))
    assert platform.timers.run_due(at=term_over - timedelta(seconds=1)) == 0  # the last day is still the old term
    before = instalments(platform, contract_id)
    assert before  # the plan written at activation
    assert platform.timers.run_due(at=term_over) == 1
    new_end = renewed_end(end, 12)
    start = end - timedelta(days=365)
    shift = date_shift(start, end + timedelta(days=1))  # the added term pays as the first did, a term later
    assert instalments(platform, contract_id) == before + [
        (len(before) + n + 1, shift(due), amount) for n, (_, due, amount) in enumerate(before)]
    contract = detail(api, contract_id)
    assert (contract["status"], contract["effective_to"]) == ("active", new_end.isoformat())
    assert contract["lifecycle"]["notice_deadline"] == (new_end - timedelta(days=90)).isoformat()
    (renewed,) = events(platform, contract_id, "contract_renewed")
    assert json.loads(renewed.details)["previous_end"] == end.isoformat()
    assert sorted(m.to_addr for m in mails(platform, contract_id, "contract_renewed")) == [SALES_MAIL, CUSTOMER_MAIL]
    kind, payload = webhook_events(platform, contract_id)[-1]
    body = json.loads(payload)
    assert kind == "contract.renewed" and body["effective_to"] == new_end.isoformat()
    assert body["contract"]["term"]["end"] == new_end.isoformat()
    # the next term waits for its own notice day, at 09:00 China time
    assert waiting_timers(platform, contract_id) == ["renewal_notice"]
    with platform.db.read() as session:
        due = platform.runtime.next_timer(session, platform.contracts.instance(session, contract_id).id)
    assert due == china_midnight(new_end - timedelta(days=90)) + timedelta(hours=9)


def test_a_notice_of_non_renewal_before_the_deadline_ends_the_contract_at_the_term_end(api, platform):
    contract_id = active_contract(api, days_left=120, auto_renew_months=12, notice_days=90)
    end = today() + timedelta(days=120)
    assert detail(api, contract_id, "customer")["lifecycle"]["notice_deadline"] == (end - timedelta(days=90)).isoformat()
    response = api.call("POST", f"/contracts/{contract_id}/non-renewal", "customer", {"comment": "学校改用自建网络"})
    assert response.status_code == 200, response.json
    assert response.json["lifecycle"]["non_renewal"]["party"] == "customer"
    (notice,) = events(platform, contract_id, "non_renewal_notice")
    assert notice.comment == "学校改用自建网络" and json.loads(notice.details)["party"] == "customer"
    assert sorted(m.to_addr for m in mails(platform, contract_id, "non_renewal_notice")) == [SALES_MAIL, CUSTOMER_MAIL]
    kind, payload = webhook_events(platform, contract_id)[-1]  # written with the notice, for downstream systems
    body = json.loads(payload)
    assert kind == "contract.non_renewal_notified" and json.loads(notice.details)["webhook_event"] > 0
    assert {key: body[key] for key in ("party", "comment", "term_end", "deadline")} == {
        "party": "customer", "comment": "学校改用自建网络", "term_end": end.isoformat(),
        "deadline": (end - timedelta(days=90)).isoformat()}
    assert body["contract"]["id"] == contract_id and body["contract"]["term"]["end"] == end.isoformat()
    again = api.call("POST", f"/contracts/{contract_id}/non-renewal", "sales")
    assert again.status_code == 409 and "已于" in again.json["message"]

    assert platform.timers.run_due(at=china_midnight(end + timedelta(days=1))) == 2  # the notice day, then the end
    contract = detail(api, contract_id)
    assert (contract["status"], contract["status_title"], contract["effective_to"]) == ("ended", "已期满终止",
                                                                                        end.isoformat())
    assert events(platform, contract_id, "contract_renewed") == [] and events(platform, contract_id, "term_ended")
    assert [kind for kind, _ in webhook_events(platform, contract_id)] == [
        "contract.activated", "contract.non_renewal_notified", "contract.expired"]
    assert sorted(m.to_addr for m in mails(platform, contract_id, "term_ended")) == [SALES_MAIL, CUSTOMER_MAIL]
    assert instance_status(platform, contract_id) == "completed" and waiting_timers(platform, contract_id) == []
    assert detail(api, contract_id, "customer")["status"] == "ended"  # the customer still sees its contract


def test_a_notice_of_non_renewal_after_the_deadline_is_refused_and_the_contract_renews(api, platform):
    contract_id = active_contract(api, days_left=30, auto_renew_months=12, notice_days=90)
    end = today() + timedelta(days=30)
    for user in ("sales", "customer"):
        response = api.call("POST", f"/contracts/{contract_id}/non-renewal", user)
        assert response.status_code == 409, response.json
        assert (end - timedelta(days=90)).isoformat() in response.json["message"]
    assert events(platform, contract_id, "non_renewal_notice") == []
    assert [kind for kind, _ in webhook_events(platform, contract_id)] == ["contract.activated"]  # a refusal: none
    assert platform.timers.run_due(at=china_midnight(end + timedelta(days=1))) == 1
    assert detail(api, contract_id)["effective_to"] == renewed_end(end, 12).isoformat()


def test_a_contract_that_does_not_renew_by_itself_takes_no_notice_and_expires_at_its_end(api, platform):
    contract_id = active_contract(api, days_left=60)
    end = today() + timedelta(days=60)
    response = api.call("POST", f"/contracts/{contract_id}/non-renewal", "sales")
    assert response.status_code == 409 and "不在自动续展" in response.json["message"]
    platform.timers.run_due(at=china_midnight(end + timedelta(days=1)))
    assert detail(api, contract_id)["status"] == "ended"
    assert instance_status(platform, contract_id) == "completed"


def test_a_renewal_draft_is_prefilled_from_the_active_contract_and_linked_both_ways(api, platform):
    start, end = today() - timedelta(days=200), today() + timedelta(days=165)
    draft = draft_with_term(start, end, auto_renew_months=0, notice_days=30)
    draft["payment_plan"] = {"installments": [{"due_date": (start + timedelta(days=59)).isoformat(), "amount": "40000.00"},
                                              {"due_date": end.isoformat(), "amount": "60000.00"}]}
    contract_id = activate(api, draft)
    old = detail(api, contract_id)
    response = api.call("POST", f"/contracts/{contract_id}/renewal", "sales")
    assert response.status_code == 201, response.json
    renewal = response.json
    assert response.headers["Location"].endswith(f"/contracts/{renewal['id']}")
    assert renewal["status"] == "draft" and renewal["number"] != old["number"]
    data, before = renewal["data"], old["data"]
    assert data["term"] == {**before["term"], "start": (end + timedelta(days=1)).isoformat(),
                            "end": (end + timedelta(days=1) + (end - start)).isoformat()}
    shift = (end + timedelta(days=1)) - start
    assert [i["due_date"] for i in data["payment_plan"]["installments"]] == [
        (start + timedelta(days=59) + shift).isoformat(), (end + shift).isoformat()]
    for same in ("customer", "items", "service_types", "title", "project_name", "provider"):
        assert data[same] == before[same], same
    assert data["figures"]["total"] == before["figures"]["total"] == "100000.00"
    assert [l["code"] for l in renewal["letters"]] == [l["code"] for l in old["letters"]]
    assert renewal["lifecycle"]["renewal_of"] == {"id": contract_id, "number": old["number"], "status": "active"}
    assert detail(api, contract_id)["lifecycle"]["renewed_by"] == {"id": renewal["id"], "number": renewal["number"],
                                                                   "status": "draft"}
    assert events(platform, contract_id, "renewal_started") and events(platform, renewal["id"], "renewal_drafted")
    assert api.tasks("sales", renewal["id"])[0]["name"] == "prepare_draft"  # the same approval process
    second = api.call("POST", f"/contracts/{contract_id}/renewal", "sales")
    assert second.status_code == 409 and renewal["number"] in second.json["message"]


def test_whole_month_terms_renew_by_months_and_keep_month_end_payments(api, platform):
    year = today().year + 1
    draft = small_contract()
    draft["term"] = {"start": f"{year}-01-01", "end": f"{year}-12-31", "auto_renew_months": 0, "notice_days": 0}
    draft["payment_plan"] = {"every_months": 6, "amount": "50000.00", "first_due": f"{year}-06-30"}
    contract_id = activate(api, draft)
    renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json
    term = renewal["data"]["term"]
    assert (term["start"], term["end"]) == (f"{year + 1}-01-01", f"{year + 1}-12-31")
    assert [p["due_date"] for p in renewal["data"]["figures"]["schedule"]] == [f"{year + 1}-06-30", f"{year + 1}-12-31"]


def test_an_active_renewal_stops_the_old_contract_renewing_by_itself(api, platform):
    end = today() + timedelta(days=120)
    contract_id = activate(api, draft_with_term(end - timedelta(days=365), end, 12, 30))
    renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json
    activate_draft(api, renewal["id"])  # the same approval and signing as any draft
    platform.timers.run_due(at=china_midnight(end + timedelta(days=1)))
    assert detail(api, contract_id)["status"] == "ended"  # the renewal took over: no second term of the old one
    assert events(platform, contract_id, "contract_renewed") == []


def test_who_may_renew_and_give_notice(api, platform):
    contract_id = active_contract(api, days_left=200, auto_renew_months=12, notice_days=30)
    for user in ("legal", "finance", "signatory", "customer", "admin"):
        assert api.call("POST", f"/contracts/{contract_id}/renewal", user).status_code == 403, user
    for user in ("legal", "finance", "signatory"):
        assert api.call("POST", f"/contracts/{contract_id}/non-renewal", user).status_code == 403, user
    draft = api.call("POST", "/contracts", "sales", small_contract()).json
    assert api.call("POST", f"/contracts/{draft['id']}/renewal", "sales").status_code == 409  # not active
    assert api.call("POST", f"/contracts/{contract_id}/non-renewal", "admin").status_code == 200


def test_a_contract_activated_after_its_term_ended_renews_once_up_to_the_term_in_force(api, platform):
    end = today() - timedelta(days=400)
    contract_id = activate(api, draft_with_term(end - timedelta(days=365), end, auto_renew_months=12, notice_days=30))
    api.run_jobs()  # the worker fires what is due: the notice and the end of the term long gone
    (renewed,) = events(platform, contract_id, "contract_renewed")
    covering = renewed_end(renewed_end(end, 12), 12)
    assert json.loads(renewed.details) | {"webhook_event": 0} == {
        "previous_end": end.isoformat(), "effective_to": covering.isoformat(), "months": 24, "webhook_event": 0}
    assert detail(api, contract_id)["status"] == "active" and covering >= today()
    assert [kind for kind, _ in webhook_events(platform, contract_id)] == ["contract.activated", "contract.renewed"]


def test_a_renewal_s_letters_start_from_the_values_the_customer_filled_in_the_renewed_contract(api, platform):
    end = today() + timedelta(days=120)
    contract_id = activate(api, draft_with_term(end - timedelta(days=365), end))
    (filled,) = [item for item in letters(api, contract_id)["items"] if item["code"] == "information_security"]
    assert filled["values"] == SECURITY_VALUES
    renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json
    assert [(item["code"], item["status"], item["values"]) for item in letters(api, renewal["id"])["items"]] == [
        ("information_security", "required", {})]  # pinned for review, blank as reviewers read them
    assert api.call("POST", f"/contracts/{renewal['id']}/submit", "sales").status_code == 200
    api.decide("legal", renewal["id"], "approve")
    if api.tasks("finance", renewal["id"]):
        api.decide("finance", renewal["id"], "approve")
    assert [(item["code"], item["status"], item["values"]) for item in letters(api, renewal["id"], "customer")["items"]] \
        == [("information_security", "filled", SECURITY_VALUES)]
    (prefilled,) = events(platform, renewal["id"], "letters_prefilled")
    assert json.loads(prefilled.details) == {"renewal_of_id": contract_id, "number": detail(api, contract_id)["number"],
                                             "letters": [{"letter": "information_security", "complete": True,
                                                          "fields": sorted(SECURITY_VALUES)}]}
    # the customer may change them, and signs the renewal's letters anew
    changed = {**SECURITY_VALUES, "security_officer_name": "李明"}
    assert fill(api, renewal["id"], "information_security", changed).status_code == 200
    api.run_jobs()
    assert "李明" in document_html(api, renewal["id"])
    assert customer_signs(api, renewal["id"]).status_code == 200
    assert [(item["status"], item["values"]) for item in letters(api, renewal["id"])["items"]] == [("signed", changed)]
    assert letters(api, contract_id)["items"][0]["values"] == SECURITY_VALUES  # the renewed contract's are its own


def test_a_renewal_for_another_customer_starts_with_blank_letters(api, platform):
    end = today() + timedelta(days=120)
    contract_id = activate(api, draft_with_term(end - timedelta(days=365), end))
    renewal = api.call("POST", f"/contracts/{contract_id}/renewal", "sales").json
    other = {**renewal["data"]["customer"], "name": "长垣市第二中学", "credit_code": "91410700747429956F"}
    assert api.call("PATCH", f"/contracts/{renewal['id']}", "sales", {"customer": other}).status_code == 200, \
        "the draft takes another customer"
    assert api.call("POST", f"/contracts/{renewal['id']}/submit", "sales").status_code == 200
    api.decide("legal", renewal["id"], "approve")
    if api.tasks("finance", renewal["id"]):
        api.decide("finance", renewal["id"], "approve")
    security = next(item for item in letters(api, renewal["id"])["items"] if item["code"] == "information_security")
    assert (security["status"], security["values"]) == ("attached", {})
    assert events(platform, renewal["id"], "letters_prefilled") == []
