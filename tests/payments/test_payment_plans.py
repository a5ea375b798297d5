"""Payment plan tracking through the service and the API: the schedule written at activation, partial payments and
the late fee to the fen, overpaying refused, lost updates refused, the daily scan's reminders and overdue flags with a
fixed clock, and the bank statement import."""
import json
import threading
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.letters.helpers import activate, network_line, technical_service
from workflows.models import Instalment, OutboxMail, PaymentReceived, WebhookEvent
from workflows.services.payments import SCAN, late_fee

SEED_003_FEE = "0.0005"  # 千分之0.5 a day


@pytest.fixture
def seed_003(api):
    """Seed 003 (180,000 every six months from 2025-06-30 to the end of 2027) with its late fee, active."""
    return activate(api, {**technical_service(), "late_fee_rate_per_day": SEED_003_FEE})


def payments(api, contract_id, user="finance", **query):
    response = api.call("GET", f"/contracts/{contract_id}/payments", user, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def pay(api, contract_id, instalment, amount, received_on, reference, user="finance", **extra):
    return api.call("POST", f"/contracts/{contract_id}/payments", user, {
        "instalment": instalment, "amount": amount, "received_on": received_on, "bank_reference": reference, **extra})


def instalment_rows(platform, contract_id):
    with platform.db.read() as session:
        return session.exec(select(Instalment).where(Instalment.contract_id == contract_id)
                            .order_by(Instalment.seq)).all()


def test_activation_writes_each_instalment_of_the_plan(api, platform, seed_003):
    periodic = [(r.seq, r.due_date, r.amount, r.paid) for r in instalment_rows(platform, seed_003)]
    assert periodic == [(n + 1, due, Decimal("180000.00"), Decimal("0.00")) for n, due in enumerate(
        [date(2025, 6, 30), date(2025, 12, 31), date(2026, 6, 30), date(2026, 12, 31), date(2027, 6, 30),
         date(2027, 12, 31)])]  # every six months, at the month's end as the first one
    seed_000 = activate(api, network_line())  # art. 2.3: two instalments of its own
    rows = [(r.due_date, r.amount) for r in instalment_rows(platform, seed_000)]
    assert rows[:2] == [(date(2022, 12, 31), Decimal("359600.00")), (date(2023, 6, 1), Decimal("90400.00"))]
    # its term ended in 2022 and renews by itself for 12 months (art. 11.1): activated now, it renewed up to the term
    # in force, and each term it added pays as the first did, a year later each time
    effective_to = date.fromisoformat(api.call("GET", f"/contracts/{seed_000}", "sales").json["effective_to"])
    terms = effective_to.year - 2022 + 1
    assert rows[2:] == [(due.replace(year=due.year + n), amount) for n in range(1, terms) for due, amount in rows[:2]]
    listed = payments(api, seed_000, as_of="2023-01-10")
    assert listed["late_fee_rate_per_day"] == "0.03" and listed["as_of"] == "2023-01-10"
    assert listed["late_fee_on"] == "owed"  # 2.3.3: 按照所欠费用每日加收
    first = listed["instalments"][0]
    assert (first["status"], first["days_overdue"], first["outstanding"]) == ("overdue", 10, "359600.00")
    assert first["late_fee"] == "107880.00"  # 359,600 × 3% × 10 days
    assert listed["instalments"][1]["status"] == "scheduled"


def test_partial_payments_and_the_late_fee_to_the_fen(api, platform, seed_003):
    assert pay(api, seed_003, 1, "90000.00", "2025-07-01", "B20250701-01").status_code == 201  # a day late
    second = pay(api, seed_003, 1, "89990.00", "2025-07-02", "B20250702-07")  # two days late
    assert second.status_code == 201, second.json
    assert (second.json["paid"], second.json["outstanding"]) == ("179990.00", "10.00")
    plan = payments(api, seed_003, as_of="2025-07-03")
    assert plan["late_fee_on"] == "contract_total"
    first = plan["instalments"][0]
    # art. 10.2: 每逾期1日…按照合同总费用千分之0.5, on the whole 1,080,000 while any of the instalment is unpaid
    assert first["late_fee"] == "1620.00" and first["status"] == "overdue" and first["days_overdue"] == 3
    assert [(p["amount"], p["received_on"], p["bank_reference"]) for p in first["payments"]] == [
        ("90000.00", "2025-07-01", "B20250701-01"), ("89990.00", "2025-07-02", "B20250702-07")]
    # a network line's 所欠费用: 0.0005 × (90,000 × 1 + 89,990 × 2 + 10 × 3) = 0.0005 × 270,010 = 135.005, half-up
    assert late_fee(Decimal("180000.00"), date(2025, 6, 30), [(date(2025, 7, 1), Decimal("90000.00")),
                                                              (date(2025, 7, 2), Decimal("89990.00"))],
                    Decimal(SEED_003_FEE), date(2025, 7, 3)) == Decimal("135.01")
    assert pay(api, seed_003, 1, "10.00", "2025-07-03", "B20250703-02").status_code == 201
    settled = payments(api, seed_003, as_of="2025-09-01")["instalments"][0]
    assert (settled["status"], settled["late_fee"]) == ("paid", "1620.00")  # paid in full: the fee stops growing
    history = api.call("GET", f"/contracts/{seed_003}/history", "sales").json["items"]
    assert [e["details"]["bank_reference"] for e in history if e["event"] == "payment_recorded"] == [
        "B20250701-01", "B20250702-07", "B20250703-02"]


def test_overpaying_and_bad_input_are_field_errors_that_change_nothing(api, platform, seed_003):
    assert pay(api, seed_003, 2, "100000.00", "2025-12-30", "B1").status_code == 201
    over = pay(api, seed_003, 2, "80000.01", "2026-01-05", "B2")
    assert over.status_code == 422 and over.json["fields"] == {"amount": "超过该期未付金额 80,000.00 元"}
    bad = pay(api, seed_003, 2, 12.5, "yesterday", " ")
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"amount", "received_on", "bank_reference"}
    assert pay(api, seed_003, 2, "1.00", "2026-01-05", "B1").json["fields"] == {"bank_reference": "该银行流水号已登记在这一期"}
    assert pay(api, seed_003, 9, "1.00", "2026-01-05", "B3").json["fields"] == {"instalment": "本合同没有第9期"}
    assert pay(api, seed_003, 2, "1.00", "2999-01-01", "B4").json["fields"] == {"received_on": "收款日期不能晚于今天"}
    assert [r.paid for r in instalment_rows(platform, seed_003)][1] == Decimal("100000.00")
    with platform.db.read() as session:
        assert len(session.exec(select(PaymentReceived)).all()) == 1


def test_only_finance_records_and_a_contract_without_a_plan_is_a_conflict(api, platform, seed_003):
    assert pay(api, seed_003, 1, "1.00", "2025-07-01", "B1", user="sales").status_code == 403
    assert pay(api, seed_003, 1, "1.00", "2025-07-01", "B1", user="admin").status_code == 403
    assert pay(api, seed_003, 1, "1.00", "2025-07-01", "B1", user="customer").status_code == 403
    assert api.call("GET", f"/contracts/{seed_003}/payments", "customer").status_code == 403
    draft = api.call("POST", "/contracts", "sales", technical_service()).json["id"]
    assert pay(api, draft, 1, "1.00", "2025-07-01", "B1").status_code == 409
    assert payments(api, draft)["instalments"] == []


def test_a_stale_version_is_a_conflict_not_a_lost_update(api, platform, seed_003):
    seen = payments(api, seed_003)["instalments"][0]["version"]
    barrier, answers = threading.Barrier(2), []

    def record(reference):
        client = api.client.application.test_client()
        barrier.wait()
        answers.append(client.post(f"/api/v1/contracts/{seed_003}/payments", headers={
            "Authorization": f"Bearer {api.token('finance')}"}, json={
            "instalment": 1, "amount": "60000.00", "received_on": "2025-07-01", "bank_reference": reference,
            "version": seen}).status_code)
    threads = [threading.Thread(target=record, args=(f"R{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201, 409]
    assert instalment_rows(platform, seed_003)[0].paid == Decimal("60000.00")


def test_concurrent_recording_never_loses_a_payment_nor_overpays(api, platform, seed_003):
    """Eight finance clerks record 30,000 each on one instalment of 180,000 at once: every payment accepted is in the
    sum, the sum never passes the instalment, the others are told (409 lost race, or 422 once it is nearly paid)."""
    barrier, answers = threading.Barrier(8), []

    def record(reference):
        client = api.client.application.test_client()
        barrier.wait()
        answers.append(client.post(f"/api/v1/contracts/{seed_003}/payments", headers={
            "Authorization": f"Bearer {api.token('finance')}"}, json={
            "instalment": 1, "amount": "30000.00", "received_on": "2025-07-01", "bank_reference": reference}).status_code)
    threads = [threading.Thread(target=record, args=(f"R{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {201, 409, 422} and answers.count(201) >= 1
    with platform.db.read() as session:
        recorded = session.exec(select(PaymentReceived)).all()
    paid = instalment_rows(platform, seed_003)[0].paid
    assert len(recorded) == answers.count(201) and paid == sum(p.amount for p in recorded) <= Decimal("180000.00")
    assert instalment_rows(platform, seed_003)[0].version == 1 + answers.count(201)


def scan_at(platform, moment):
    """The daily scan as the worker runs it: the recurring run enqueued and the job claimed at ``moment``."""
    platform.jobs.enqueue_recurring(at=moment)
    platform.jobs.run_pending("tests", at=moment, kinds=(SCAN,))


def china(year, month, day, hour=9):
    return datetime(year, month, day, hour - 8, tzinfo=timezone.utc)


def test_the_daily_scan_reminds_then_flags_overdue_once(api, platform, seed_003):
    def mails():
        with platform.db.read() as session:
            return session.exec(select(OutboxMail).where(OutboxMail.kind == "payment_reminder")).all()

    def events():
        with platform.db.read() as session:
            return session.exec(select(WebhookEvent).where(WebhookEvent.kind == "payment.overdue")).all()
    scan_at(platform, china(2025, 6, 22))  # eight days before the first instalment: outside the 7-day window
    assert mails() == []
    scan_at(platform, china(2025, 6, 23))
    assert sorted(m.to_addr for m in mails()) == ["sales@provider.example", "xu.yongli@school.example"]
    assert "第1期" in mails()[0].subject and "2025-06-30" in mails()[0].body
    scan_at(platform, china(2025, 6, 24))  # reminded once
    assert len(mails()) == 2
    pay(api, seed_003, 1, "100000.00", "2025-06-29", "B1")  # partly paid: still owed
    scan_at(platform, china(2025, 6, 30))  # the due date itself is not late
    assert events() == [] and instalment_rows(platform, seed_003)[0].overdue_at is None
    scan_at(platform, china(2025, 7, 1))
    (event,) = events()
    body = json.loads(event.payload)
    assert body["instalment"] == {"seq": 1, "due_date": "2025-06-30", "amount": "180000.00", "paid": "100000.00",
                                  "outstanding": "80000.00", "days_overdue": 1, "late_fee_rate_per_day": "0.0005"}
    assert body["contract"]["id"] == seed_003 and instalment_rows(platform, seed_003)[0].overdue_at is not None
    scan_at(platform, china(2025, 7, 2))
    assert len(events()) == 1  # once per instalment
    history = [e["event"] for e in api.call("GET", f"/contracts/{seed_003}/history", "sales").json["items"]]
    assert history.count("payment_reminder") == 1 and history.count("instalment_overdue") == 1


def test_an_instalment_paid_in_full_is_neither_reminded_nor_overdue(api, platform, seed_003):
    assert pay(api, seed_003, 1, "180000.00", "2025-06-01", "B1").status_code == 201
    assert platform.payments.scan(china(2025, 6, 25)) == (0, 0)
    assert platform.payments.scan(china(2025, 7, 5)) == (0, 0)


@pytest.mark.parametrize("status", ["terminated", "ended"])
def test_a_contract_no_longer_active_is_not_reminded_but_what_it_owes_is_still_flagged_and_listed(api, platform,
                                                                                                  seed_003, status):
    with platform.db.write() as session:  # how it ended is another service's (tests/lifecycle): only the status counts
        session.execute(text("UPDATE contract SET status = :status WHERE id = :id"), {"id": seed_003, "status": status})
    assert platform.payments.scan(china(2025, 6, 25)) == (0, 0)  # no reminder of what falls due
    assert all(r.reminded_at is None for r in instalment_rows(platform, seed_003))
    assert platform.payments.scan(china(2026, 1, 5)) == (0, 2)  # the money is still owed: overdue all the same
    listed = api.call("GET", "/payments/open", "finance", query_string={"as_of": "2026-01-05"}).json["items"]
    assert [(i["contract_id"], i["seq"], i["status"], i["contract_status"]) for i in listed] == [
        (seed_003, 1, "overdue", status), (seed_003, 2, "overdue", status)]
    assert pay(api, seed_003, 1, "180000.00", "2026-01-04", "B-LATE").status_code == 201  # and collected
    listed = api.call("GET", "/payments/open", "finance", query_string={"as_of": "2026-01-05"}).json["items"]
    assert [i["seq"] for i in listed] == [2]  # what is left


def import_csv(api, text, user="finance", encoding="utf-8"):
    return api.call("POST", "/payments/import", user, data=text.encode(encoding), content_type="text/csv")


def test_a_bank_statement_is_matched_by_contract_number_recorded_once_and_all_or_nothing(api, platform, seed_003):
    seed_000 = activate(api, network_line())
    numbers = {c: api.call("GET", f"/contracts/{c}", "finance").json["number"] for c in (seed_003, seed_000)}
    statement = ("交易日期,贷方金额,交易流水号,对方户名,附言,合同编号\n"
                 f"2025-07-05,\"200,000.00\",REF-A,某职业技术学院,技术服务费 {numbers[seed_003]},\n"
                 "2025-07-06,1000.00,REF-B,某公司,货款,\n"
                 f"2025-07-06,500.00,REF-C,某公司,{numbers[seed_003]}/{numbers[seed_000]},\n"
                 f"2023/01/05,359600.00,REF-D,常州市城市管理局,,{numbers[seed_000]}\n")
    answer = import_csv(api, statement)
    assert answer.status_code == 200, answer.json
    report = answer.json
    assert [(r["line"], r["contract_number"], r["instalments"]) for r in report["recorded"]] == [
        (2, numbers[seed_003], [{"instalment": 1, "amount": "180000.00"}, {"instalment": 2, "amount": "20000.00"}]),
        (5, numbers[seed_000], [{"instalment": 1, "amount": "359600.00"}])]
    assert [(r["line"], r["bank_reference"]) for r in report["unmatched"]] == [(3, "REF-B")]
    assert [(r["line"], r["candidates"]) for r in report["ambiguous"]] == [(4, sorted(numbers.values()))]
    assert [r.paid for r in instalment_rows(platform, seed_003)][:3] == [
        Decimal("180000.00"), Decimal("20000.00"), Decimal("0.00")]
    assert instalment_rows(platform, seed_000)[0].paid == Decimal("359600.00")
    plan = payments(api, seed_003)["instalments"]
    assert [(p["bank_reference"], p["source"]) for p in plan[1]["payments"]] == [("REF-A", "import")]

    again = import_csv(api, statement).json  # the same file once more: every matched line is already recorded
    assert again["recorded"] == [] and [r["bank_reference"] for r in again["already_recorded"]] == ["REF-A", "REF-D"]
    assert [r.paid for r in instalment_rows(platform, seed_003)][:2] == [Decimal("180000.00"), Decimal("20000.00")]

    wrong = ("交易日期,金额,流水号,附言\n"
             f"2025-12-20,1000.00,REF-E,{numbers[seed_003]}\n"
             f"2025-12-21,2000000.00,REF-F,{numbers[seed_003]}\n"
             "2025-12-22,abc,REF-G,x\n")
    refused = import_csv(api, wrong)
    assert refused.status_code == 422
    assert refused.json["fields"] == {"lines.4": "金额无法识别：abc"}  # the file is read whole before anything else
    refused = import_csv(api, wrong.rsplit("2025-12-22", 1)[0])
    assert refused.status_code == 422 and list(refused.json["fields"]) == ["lines.3"]
    assert "超过合同" in refused.json["fields"]["lines.3"]
    assert instalment_rows(platform, seed_003)[1].paid == Decimal("20000.00")  # REF-E was not recorded either

    gbk = import_csv(api, f"交易日期,金额,流水号,摘要\n20251220,1000.00,REF-E,{numbers[seed_003]} 第二期\n", encoding="gbk")
    assert gbk.status_code == 200 and [r["bank_reference"] for r in gbk.json["recorded"]] == ["REF-E"]
    assert instalment_rows(platform, seed_003)[1].paid == Decimal("21000.00")


@pytest.mark.parametrize("content, field", [
    ("", "file"), ("日期,金额\n2025-01-01,1.00\n", "file"), ("交易日期,金额,流水号,附言\n", "file"),
    ("交易日期,金额,流水号,附言\n2025-13-01,1.00,R,x\n", "lines.2"),
    ("交易日期,金额,流水号,附言\n2025-01-01,-5.00,R,x\n", "lines.2"),
    ("交易日期,金额,流水号,附言\n2025-01-01,1.005,R,x\n", "lines.2"),
    ("交易日期,金额,流水号,附言\n2025-01-01,1.00,,x\n", "lines.2"),
    ("交易日期,金额,流水号,附言\n2025-01-01,1.00,R,x\n2025-01-02,2.00,R,y\n", "lines.3"),
])
def test_a_statement_that_cannot_be_read_is_a_field_error(api, content, field):
    refused = import_csv(api, content)
    assert refused.status_code == 422 and field in refused.json["fields"], refused.json


def test_only_finance_imports(api):
    assert import_csv(api, "交易日期,金额,流水号,附言\n", user="sales").status_code == 403
    assert import_csv(api, "交易日期,金额,流水号,附言\n", user="customer").status_code == 403


def test_two_scans_at_once_flag_each_instalment_once(api, platform, seed_003):
    """A scan whose lease ran out while it still ran, and its retry elsewhere: each overdue instalment once."""
    barrier, counts = threading.Barrier(2), []

    def scan():
        barrier.wait()
        counts.append(platform.payments.scan(china(2026, 1, 5)))
    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with platform.db.read() as session:
        events = session.exec(select(WebhookEvent).where(WebhookEvent.kind == "payment.overdue")).all()
    assert sorted(json.loads(e.payload)["instalment"]["seq"] for e in events) == [1, 2]
    assert sum(flagged for _, flagged in counts) == 2
