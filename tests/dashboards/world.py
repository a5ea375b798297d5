"""A small world of contracts with fixed timestamps, written straight into the tables the dashboard reads, and the
figures it must show for them (worked out by hand in the comments)."""
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlmodel import select

from workflows.clock import CHINA
from workflows.models import Contract, HistoryEvent, HumanTask, Instalment, ProcessDefinition, ProcessInstance

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=CHINA)  # today is 2026-03-15 in China; the months 2025-04 … 2026-03
TODAY = date(2026, 3, 15)
HOUR = timedelta(hours=1)


def china(*parts):
    return datetime(*parts, tzinfo=CHINA)


def build(platform):
    """Seven contracts, their activations, five legal reviews and a finance review completed in the window (one more
    before it), three open tasks and six instalments. Returns the contracts' ids by name."""
    with platform.db.write() as session:
        definition = session.exec(select(ProcessDefinition.id)).first()
        instance = ProcessInstance(definition_id=definition, business_key="dashboard", serializer_version="1",
                                   state_json="{}")
        session.add(instance)
        contracts = {}
        for name, created, status, total, ends in (
                ("c1", china(2026, 1, 10, 9), "active", "1000.10", TODAY + timedelta(days=20)),
                ("c2", china(2026, 2, 1, 7), "active", "2000.25", TODAY + timedelta(days=45)),  # 01-31 23:00 UTC
                ("c3", china(2026, 3, 1, 0, 30), "legal_review", "500.00", None),
                ("c4", china(2025, 3, 31, 23, 59), "active", "300.33", TODAY + timedelta(days=90)),  # before the window
                ("c5", china(2026, 3, 10), "draft", "10.00", None),
                ("c6", china(2025, 12, 1), "declined", "500.00", TODAY + timedelta(days=5)),  # not in force
                ("c7", china(2024, 6, 1), "active", "80.00", TODAY - timedelta(days=1))):  # ended yesterday
            contract = Contract(number=f"DASH-{name}", template="network_line", title=name, status=status,
                                provider_code="xinxiang", customer_name=f"客户{name}", total=Decimal(total),
                                created_by="sales", created_at=created, effective_to=ends)
            session.add(contract)
            session.flush()
            contracts[name] = contract.id
        for name, at in (("c1", china(2026, 2, 1, 10)), ("c2", china(2026, 2, 28, 23)), ("c4", china(2026, 3, 2)),
                         ("c7", china(2025, 3, 1))):  # c7's activation is before the window
            session.add(HistoryEvent(contract_id=contracts[name], event="contract_activated", actor="system", at=at))

        def task(contract, name, title, created, completed=None, due=None):
            task_id = str(uuid.uuid4())
            session.add(HumanTask(id=task_id, instance_id=instance.id, contract_id=contracts[contract], name=name,
                                  title=title, role="legal", state="completed" if completed else "open",
                                  created_at=created, due_at=due or created + 48 * HOUR, completed_at=completed))
            if completed:
                session.add(HistoryEvent(contract_id=contracts[contract], task_id=task_id, task_name=name,
                                         event="task_completed", actor="legal", decision="approve", at=completed))

        start = china(2026, 1, 5, 9)
        for hours in (4, 1, 10, 3, 2):  # p50 = 3 h; p90 = 4 + 0.6 × (10 − 4) = 7.6 h
            task("c1", "legal_review", "法务审核", start, start + hours * HOUR)
        task("c2", "finance_review", "财务审核", start, start + timedelta(minutes=30))
        task("c4", "legal_review", "法务审核", china(2025, 1, 1), china(2025, 3, 1))  # completed before the window
        task("c3", "legal_review", "法务审核", NOW - 2 * HOUR, due=NOW + 24 * HOUR)  # waited ≤ 1 day
        task("c3", "legal_review", "法务审核", NOW - 5 * 24 * HOUR, due=NOW - 24 * HOUR)  # 3–7 days, overdue
        task("c2", "customer_sign", "客户签署", NOW - 40 * 24 * HOUR, due=NOW - 10 * 24 * HOUR)  # > 30 days, overdue

        for contract, seq, due, amount, paid in (
                ("c1", 1, date(2026, 3, 14), "100.00", "40.00"),  # 1 day overdue, 60.00 owed
                ("c1", 2, date(2026, 1, 1), "200.00", "200.00"),  # paid
                ("c1", 3, TODAY, "50.00", "0.00"),  # due today: not overdue yet
                ("c2", 1, date(2025, 12, 1), "1000.10", "0.00"),  # 104 days overdue
                ("c2", 2, date(2026, 1, 20), "0.33", "0.00"),  # 54 days overdue
                ("c6", 1, date(2025, 12, 1), "500.00", "0.00")):  # of a contract not in force
            session.add(Instalment(contract_id=contracts[contract], seq=seq, due_date=due, amount=Decimal(amount),
                                   paid=Decimal(paid)))
    return contracts
