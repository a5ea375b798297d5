"""The managers' dashboard: figures over all contracts, aggregated in the database (one query per panel; SQLite's
percentiles are interpolated here), so that a view costs about the same at 100,000 contracts as at 100
(bench/dashboards.py measures it).

- Contracts by status (whatever statuses exist), and per month of the last ``MONTHS`` months (China time): how many
  were created, how many became active, and the value signed (the totals of those activated, summed in fen: exact on
  SQLite, whose NUMERIC is a float, as on PostgreSQL).
- Cycle time per step: from a user task's creation to its completion, for the tasks completed in the same months; p50
  and p90 interpolated as PostgreSQL's ``percentile_cont`` does (SQLite has none: the durations are sorted and
  interpolated here). Read from the task's inbox row, which holds both instants (its ``completed_at`` is the instant
  of its ``task_completed`` history event, written in the same step): index-only, where joining each completion
  event to its task took 300 ms at 100,000 contracts.
- Where contracts wait now: open tasks per step by age, those past their due time, and the longest waiting.
- Instalments overdue (due before today, still owed: not fully paid nor cancelled, of active, terminated or ended
  contracts, as ``PaymentService`` flags them) by days overdue, and active contracts whose term ends within 30, 60 or
  90 days.

Who may look: the staff who steer the work (sales, legal, finance, administrators); not the provider's signatories.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, cast, func, literal_column, select, true
from sqlmodel import col

from ..clock import CHINA, china_time, utcnow
from ..contracts.money import FEN
from ..errors import Forbidden
from ..models import Contract, HistoryEvent, HumanTask, Instalment
from .payments import ACTIVE, OWING, owed

VIEWERS = frozenset({"sales", "legal", "finance", "admin"})
MONTHS = 12
PERCENTILES = (0.5, 0.9)
WAIT_BUCKETS = (1, 3, 7, 30)  # days an open task has waited: ≤1, 1–3, 3–7, 7–30, >30
OVERDUE_BUCKETS = (30, 60, 90)  # days an instalment is overdue: 1–30, 31–60, 61–90, >90
EXPIRY_WINDOWS = (30, 60, 90)  # days until an active contract's term ends
LONGEST_WAITING = 10
ACTIVATED = "contract_activated"
OPEN = HumanTask.state == literal_column("'open'")  # written out: a partial index serves a constant, not a parameter


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM, China time
    created: int
    activated: int
    value_signed: Decimal


@dataclass(frozen=True)
class StepCycle:
    step: str  # the task's name in the diagram
    title: str  # what the diagram calls it (法务审核)
    completed: int
    p50_seconds: float
    p90_seconds: float


@dataclass(frozen=True)
class StepWaiting:
    step: str
    title: str
    open: int
    overdue: int
    by_age: tuple  # counts per WAIT_BUCKETS band, the last one "longer"


@dataclass(frozen=True)
class WaitingTask:
    contract_id: int
    number: str
    customer_name: str
    step: str
    title: str
    waiting_since: datetime
    due_at: datetime


@dataclass(frozen=True)
class OverdueInstalments:
    instalments: int
    contracts: int
    outstanding: Decimal
    by_days: tuple  # (count, outstanding) per OVERDUE_BUCKETS band, the last one "longer"


@dataclass(frozen=True)
class Dashboard:
    as_of: datetime
    by_status: tuple  # (status, count), most first
    months: tuple
    cycle_times: tuple
    waiting: tuple
    longest_waiting: tuple
    overdue_instalments: OverdueInstalments
    expiring: tuple  # (days, active contracts whose term ends within them)

    @property
    def total(self):
        return sum(count for _, count in self.by_status)


def month_starts(now, count=MONTHS):
    """The first instants (UTC) of the last ``count`` China months up to ``now``'s, and of the next one."""
    local = china_time(now)
    year, month = local.year, local.month
    starts = []
    for back in range(count - 1, -2, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        starts.append(datetime(y, m + 1, 1, tzinfo=CHINA))
    return starts


def interpolate(low, high, position):
    """``percentile_cont``'s value between the neighbours at a fractional 0-based ``position``."""
    if high is None:
        return float(low)
    return float(low) + (position - int(position)) * (float(high) - float(low))


def bands(value, bounds, now_side):
    """CASE expressions counting rows per band of ``value`` against cut-offs, newest band first."""
    edges = [now_side(bound) for bound in bounds]
    conditions = [value >= edges[0]] + [and_(value < edges[i - 1], value >= edges[i]) for i in range(1, len(edges))]
    conditions.append(value < edges[-1])
    return conditions


class DashboardService:
    def overview(self, session, actor, now=None):
        """Every panel, read in the caller's transaction."""
        self.require_viewer(actor)
        now = now or utcnow()
        return Dashboard(as_of=now, by_status=self.by_status(session), months=self.months(session, now),
                         cycle_times=self.cycle_times(session, now), waiting=self.waiting(session, now),
                         longest_waiting=self.longest_waiting(session),
                         overdue_instalments=self.overdue_instalments(session, now),
                         expiring=self.expiring(session, now))

    @staticmethod
    def require_viewer(actor):
        if not (actor.role_set & VIEWERS):
            raise Forbidden("the dashboard is for sales, legal, finance and administrators")

    # --- the panels, one query each (bench/dashboards.py times them one by one) -------------------------------------
    def by_status(self, session):
        count = func.count().label("count")
        rows = session.execute(select(Contract.status, count).group_by(Contract.status).order_by(count.desc(),
                                                                                                  Contract.status))
        return tuple((row.status, row.count) for row in rows)

    def months(self, session, now):
        """Created, activated and value signed per China month, the oldest first."""
        starts = month_starts(now)
        labels = [china_time(start).strftime("%Y-%m") for start in starts[:-1]]

        def month_of(column):
            return case(*[(column < start, index) for index, start in enumerate(starts[1:])])

        created = dict(session.execute(
            select(month_of(Contract.created_at).label("month"), func.count())
            .where(Contract.created_at >= starts[0], Contract.created_at < starts[-1]).group_by("month")).all())
        activated = {row.month: row for row in session.execute(
            select(month_of(HistoryEvent.at).label("month"), func.count().label("count"),
                   func.sum(cast(func.round(Contract.total * 100), BigInteger)).label("fen"))
            .join(Contract, Contract.id == HistoryEvent.contract_id)
            .where(HistoryEvent.event == ACTIVATED, HistoryEvent.at >= starts[0], HistoryEvent.at < starts[-1])
            .group_by("month"))}
        return tuple(Month(label, created.get(index, 0), activated[index].count if index in activated else 0,
                           (Decimal(int(activated[index].fen)) * FEN if index in activated else Decimal("0.00")))
                     for index, label in enumerate(labels))

    def cycle_times(self, session, now):
        """p50 and p90 of the time from a task's creation to its completion, per step, over the tasks completed in the
        last ``MONTHS`` months; the slowest step (by p90) first.

        Step by step over ix_human_task_name_completed: the steps are found by a loose index scan (one probe per step,
        where DISTINCT reads every task), each step's range of completions is read from the index alone, and each
        step's durations are sorted on their own (one sort of every completion by step spilled to disk on
        PostgreSQL: 47 ms → 16 ms at 100,000 contracts). SQLite has no percentile: its durations come back and are
        interpolated here as ``percentile_cont`` does (its window functions took 254 ms; this takes about 50 ms)."""
        since = month_starts(now)[0]
        in_window = and_(HumanTask.completed_at >= since, HumanTask.completed_at < now)
        steps = self._steps()
        latest_title = (select(HumanTask.title).where(HumanTask.name == steps.c.name, in_window)
                        .order_by(HumanTask.completed_at.desc()).limit(1).scalar_subquery())
        if session.connection().dialect.name == "postgresql":
            seconds = func.date_part("epoch", HumanTask.completed_at - HumanTask.created_at)
            per_step = (select(func.count().label("n"),
                               *[func.percentile_cont(p).within_group(seconds).label(f"p{int(p * 100)}")
                                 for p in PERCENTILES])
                        .where(HumanTask.name == steps.c.name, in_window).lateral("per_step"))
            rows = session.execute(select(steps.c.name, latest_title.label("title"), per_step.c.n, per_step.c.p50,
                                          per_step.c.p90)
                                   .join_from(steps, per_step, true()).where(steps.c.name.is_not(None), per_step.c.n > 0))
            found = [StepCycle(row.name, row.title, row.n, float(row.p50), float(row.p90)) for row in rows]
        else:
            found = self._cycle_times_here(session, in_window, dict(session.execute(
                select(steps.c.name, latest_title).where(steps.c.name.is_not(None))).all()))
        return tuple(sorted(found, key=lambda step: (-step.p90_seconds, step.step)))

    @staticmethod
    def _steps():
        """The names of the steps with a completed task, one index probe each: the least name, then the least after
        each one (NULL ends)."""
        completed = HumanTask.completed_at.is_not(None)
        steps = select(func.min(HumanTask.name).label("name")).where(completed).cte("step", recursive=True)
        following = select(func.min(HumanTask.name)).where(completed, HumanTask.name > steps.c.name).scalar_subquery()
        return steps.union_all(select(following).where(steps.c.name.is_not(None)))

    @staticmethod
    def _cycle_times_here(session, in_window, titles):
        """SQLite: each completion's duration in seconds, sorted per step here and interpolated as PostgreSQL's
        ``percentile_cont`` does (the neighbours rounded to the millisecond: julianday's arithmetic is not exact)."""
        seconds = (func.julianday(HumanTask.completed_at) - func.julianday(HumanTask.created_at)) * 86400
        durations = {}
        for name, value in session.execute(select(HumanTask.name, seconds).where(in_window)):
            durations.setdefault(name, []).append(value)
        steps = []
        for name, values in durations.items():
            values.sort()
            n = len(values)
            p50, p90 = (interpolate(round(values[int(position)], 3),
                                    round(values[int(position) + 1], 3) if int(position) + 1 < n else None, position)
                        for position in ((n - 1) * p for p in PERCENTILES))
            steps.append(StepCycle(name, titles[name], n, p50, p90))
        return steps

    def waiting(self, session, now):
        """Open tasks per step: how many, how many past their due time, by how long they have waited; most first. Read
        from ix_human_task_open alone (SQLite scanned every task otherwise: 20-40 ms at 100,000 contracts)."""
        age_bands = bands(HumanTask.created_at, WAIT_BUCKETS, lambda days: now - timedelta(days=days))
        rows = session.execute(
            select(HumanTask.name, func.max(HumanTask.title).label("title"), func.count().label("open"),
                   func.sum(case((HumanTask.due_at < now, 1), else_=0)).label("overdue"),
                   *[func.sum(case((condition, 1), else_=0)) for condition in age_bands])
            .where(OPEN).group_by(HumanTask.name))
        steps = [StepWaiting(row.name, row.title, row.open, row.overdue, tuple(row[4:])) for row in rows]
        return tuple(sorted(steps, key=lambda step: (-step.open, step.step)))

    def longest_waiting(self, session):
        rows = session.execute(
            select(Contract.id, Contract.number, Contract.customer_name, HumanTask.name, HumanTask.title,
                   HumanTask.created_at, HumanTask.due_at)
            .join(Contract, Contract.id == HumanTask.contract_id).where(HumanTask.state == "open")
            .order_by(HumanTask.created_at, HumanTask.id).limit(LONGEST_WAITING))
        return tuple(WaitingTask(*row) for row in rows)

    def overdue_instalments(self, session, now):
        today = china_time(now).date()
        outstanding = cast(func.round((Instalment.amount - Instalment.paid) * 100), BigInteger)
        day_bands = bands(Instalment.due_date, OVERDUE_BUCKETS, lambda days: today - timedelta(days=days))
        columns = [func.count().label("n"), func.count(func.distinct(Instalment.contract_id)).label("contracts"),
                   func.sum(outstanding).label("fen")]
        for condition in day_bands:
            columns += [func.sum(case((condition, 1), else_=0)), func.sum(case((condition, outstanding), else_=0))]
        row = session.execute(
            select(*columns).join(Contract, Contract.id == Instalment.contract_id)
            .where(Instalment.due_date < today, *owed(), col(Contract.status).in_(OWING))).one()
        figures = [int(value or 0) for value in row[3:]]
        return OverdueInstalments(row.n, row.contracts, Decimal(int(row.fen or 0)) * FEN,
                                  tuple((figures[i], Decimal(figures[i + 1]) * FEN) for i in range(0, len(figures), 2)))

    def expiring(self, session, now):
        """Active contracts whose term ends within each window (counted from today, China time; each includes the
        shorter ones)."""
        today = china_time(now).date()
        ends = [today + timedelta(days=days) for days in EXPIRY_WINDOWS]
        row = session.execute(
            select(*[func.sum(case((Contract.effective_to <= end, 1), else_=0)) for end in ends])
            .where(Contract.status == ACTIVE, Contract.effective_to >= today, Contract.effective_to <= ends[-1])).one()
        return tuple((days, int(count or 0)) for days, count in zip(EXPIRY_WINDOWS, row))
