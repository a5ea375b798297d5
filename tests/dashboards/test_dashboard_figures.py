"""The dashboard's figures on a world of known contracts (tests/dashboards/world.py), on SQLite and PostgreSQL."""
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from tests.dashboards.world import NOW, build
from workflows.errors import Forbidden
from workflows.models import HumanTask, ProcessDefinition, ProcessInstance
from workflows.services.dashboards import Month, OverdueInstalments, StepCycle, StepWaiting

pytestmark = pytest.mark.db


@pytest.fixture
def dashboard(platform, users):
    contracts = build(platform)
    with platform.db.read() as session:
        return contracts, platform.dashboards.overview(session, users["finance"], NOW)


def test_contracts_by_status_and_month_with_the_value_signed(dashboard):
    _, figures = dashboard
    assert figures.by_status == (("active", 4), ("declined", 1), ("draft", 1), ("legal_review", 1))
    assert figures.total == 7
    months = {month.month: month for month in figures.months}
    assert list(months)[0] == "2025-04" and list(months)[-1] == "2026-03" and len(months) == 12
    assert months["2025-12"] == Month("2025-12", 1, 0, Decimal("0.00"))
    assert months["2026-01"] == Month("2026-01", 1, 0, Decimal("0.00"))
    # c2 was created 01-31 23:00 UTC, February in China; c1 and c2 activated in February, c4 in March
    assert months["2026-02"] == Month("2026-02", 1, 2, Decimal("3000.35"))
    assert months["2026-03"] == Month("2026-03", 2, 1, Decimal("300.33"))
    assert months["2025-04"] == Month("2025-04", 0, 0, Decimal("0.00"))  # c4 was created a minute before the window


def test_cycle_time_per_step_p50_and_p90(dashboard):
    _, figures = dashboard
    assert figures.cycle_times == (StepCycle("legal_review", "法务审核", 5, 3 * 3600.0, 7.6 * 3600),
                                   StepCycle("finance_review", "财务审核", 1, 1800.0, 1800.0))


def test_where_contracts_wait_now_and_overdue_tasks(dashboard):
    contracts, figures = dashboard
    assert figures.waiting == (StepWaiting("legal_review", "法务审核", 2, 1, (1, 0, 1, 0, 0)),
                               StepWaiting("customer_sign", "客户签署", 1, 1, (0, 0, 0, 0, 1)))
    assert [(task.contract_id, task.step, task.number) for task in figures.longest_waiting] == [
        (contracts["c2"], "customer_sign", "DASH-c2"), (contracts["c3"], "legal_review", "DASH-c3"),
        (contracts["c3"], "legal_review", "DASH-c3")]
    assert figures.longest_waiting[0].customer_name == "客户c2"


def test_overdue_instalments_and_expiring_contracts(dashboard):
    _, figures = dashboard
    assert figures.overdue_instalments == OverdueInstalments(
        3, 2, Decimal("1060.43"), ((1, Decimal("60.00")), (1, Decimal("0.33")), (0, Decimal("0.00")),
                                   (1, Decimal("1000.10"))))
    assert figures.expiring == ((30, 1), (60, 2), (90, 3))


def test_only_staff_who_steer_the_work_see_it(platform, users):
    with platform.db.read() as session:
        with pytest.raises(Forbidden):
            platform.dashboards.overview(session, users["signatory"], NOW)
        for name in ("sales", "legal", "finance", "admin"):
            assert platform.dashboards.overview(session, users[name], NOW).total == 0


def straightforward_percentile(values, p):
    """percentile_cont as its definition reads: the value at 0-based position (n − 1)·p of the sorted values, linear
    between its two neighbours."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * p
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def test_cycle_times_match_a_straightforward_computation(platform, users):
    """Steps with 1, 2 and 57 completions of durations to the millisecond, a step completed only before the window and
    another only after ``now``, tasks still open: each step's p50/p90 as computed from the durations in Python."""
    rng = random.Random(7)
    durations = {"legal_review": [rng.randrange(1, 400_000_000) / 1000 for _ in range(57)],
                 "finance_review": [rng.randrange(1, 9_000_000) / 1000 for _ in range(2)], "customer_sign": [3600.5]}
    with platform.db.write() as session:
        definition = session.exec(select(ProcessDefinition.id)).first()
        instance = ProcessInstance(definition_id=definition, business_key="cycle", serializer_version="1", state_json="{}")
        session.add(instance)
        session.flush()

        def task(name, created, completed=None):
            session.add(HumanTask(id=str(uuid.uuid4()), instance_id=instance.id, contract_id=1, name=name,
                                  title=f"{name} title", role="legal", state="completed" if completed else "open",
                                  created_at=created, due_at=created, completed_at=completed))

        for name, seconds in durations.items():
            for value in seconds:
                completed = NOW - timedelta(days=rng.randrange(1, 300), seconds=rng.randrange(86400))
                task(name, completed - timedelta(seconds=value), completed)
            task(name, NOW - timedelta(days=1))  # open: not counted
        task("provider_countersign", NOW - timedelta(days=600), NOW - timedelta(days=500))  # before the window
        task("archive", NOW - timedelta(days=1), NOW + timedelta(hours=1))  # after now
    with platform.db.read() as session:
        figures = platform.dashboards.overview(session, users["legal"], NOW)
    expected = {name: (len(values), *(straightforward_percentile(values, p) for p in (0.5, 0.9)))
                for name, values in durations.items()}
    found = {step.step: (step.completed, step.p50_seconds, step.p90_seconds) for step in figures.cycle_times}
    assert found.keys() == expected.keys()
    for name, (completed, p50, p90) in expected.items():
        assert found[name] == (completed, pytest.approx(p50, abs=0.002), pytest.approx(p90, abs=0.002))
    assert {step.step: step.title for step in figures.cycle_times} == {name: f"{name} title" for name in durations}
    assert [step.step for step in figures.cycle_times] == sorted(durations, key=lambda name: -expected[name][2])
