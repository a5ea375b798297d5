"""Payment plan tracking: an active contract's instalments, reminders, overdue flags, payments received, late fees.

- The schedule is written in the activation's transaction (``create_schedule``, called by ``activate_contract``): one
  instalment per row of the version's computed schedule (the plan's instalments, or every N months over the term).
- A daily scan (a recurring job, ``SCAN`` at 09:00 China time) mails a reminder ``reminder_days`` before an
  instalment falls due to the contract's account manager and the customer's contact, and flags an instalment overdue
  the day after its due date while it is not fully paid: once, with the ``payment.overdue`` event (webhook) and a
  history entry. Reminders are for contracts whose status is ``active`` only: a terminated or ended contract stops its
  reminders. Money it still owes is still owed: its open instalments stay on finance's list (marked with the
  contract's status), take payments and are flagged overdue like any other.
- An early termination cancels, in its own transaction, the instalments falling due on or after its effective date
  (the contract no longer runs then) that are not fully paid (``cancel_from``): they are no longer owed, nothing is
  reminded or flagged for them and they take no payment; the history lists them. Those due before it stay owed.
- Finance (role ``finance``) records payments received: partial payments, never more than an instalment still owes
  (a field error). Recording is one conditional update of the instalment's ``version``: a writer that read an older
  version gets a 409 instead of overwriting what another recorded meanwhile.
- A bank statement (CSV) is imported all or nothing: each credit line is matched to a contract by the contract number
  it names (its memo or a contract number column) and spread over the contract's oldest open instalments; a line
  whose bank reference is already recorded for its contract is skipped, so importing a file twice records it once.
  Unmatched and ambiguous lines are reported for finance to settle by hand; any line in error records nothing.
- The late fee is the contract's daily rate on what its template's article says (``TEMPLATES[...]["late_fee_on"]``):
  on each amount for each day it was paid late, and on what is still owed up to the day asked about (a network line:
  所欠费用); or on the contract's total for each day the instalment stayed unpaid (a technical service: 合同总费用).
  Rounded half-up to the fen per instalment.
"""
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from ..actors import is_staff
from ..clock import aware, china_time, utcnow
from ..contracts.catalog import TEMPLATES
from ..contracts.money import FEN, format_yuan, to_fen
from ..contracts.term import date_shift, renewed_end
from ..errors import Conflict, Forbidden, ValidationFailed
from ..models import Contract, Instalment, PaymentReceived

SCAN = "payments.scan"
SCAN_AT = time(9, 0)  # China time, as the renewal notice
SCAN_POLICY = {"max_attempts": 3, "backoff": timedelta(minutes=5)}
OVERDUE_EVENT = "payment.overdue"
FINANCE = "finance"
ACTIVE = "active"
OWING = ("active", "terminated", "ended")  # contracts whose open instalments are owed: activated, whatever came after
ZERO = Decimal("0.00")
MAX_REFERENCE = 100
MAX_STATEMENT_BYTES = 2_000_000
MAX_STATEMENT_LINES = 5000
# the columns of a bank statement, by the names Chinese banks' exports and integrations give them
COLUMNS = {
    "date": ("交易日期", "入账日期", "日期", "date", "received_on"),
    "amount": ("贷方金额", "收入金额", "金额", "amount"),
    "reference": ("交易流水号", "银行流水号", "流水号", "reference", "bank_reference"),
    "memo": ("附言", "摘要", "用途", "备注", "memo"),
    "contract_number": ("合同编号", "合同号", "contract_number"),
}
CONTRACT_NUMBER_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{4,39}")  # a candidate contract number within a memo
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Payment:
    amount: Decimal
    received_on: date
    bank_reference: str
    source: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class InstalmentState:
    """An instalment as of a day: what is owed, whether it is overdue, and the late fee accrued."""

    contract_id: int
    number: str
    customer_name: str
    seq: int
    due_date: date
    amount: Decimal
    paid: Decimal
    version: int
    status: str  # paid | cancelled | overdue | due_soon | scheduled
    days_overdue: int
    late_fee: Decimal | None  # None: the contract defines no late fee
    overdue_at: datetime | None
    reminded_at: datetime | None
    payments: list = field(default_factory=list)
    contract_status: str = ACTIVE
    cancelled_at: datetime | None = None

    @property
    def outstanding(self):
        return ZERO if self.cancelled_at is not None else self.amount - self.paid


@dataclass(frozen=True)
class ContractPayments:
    contract_id: int
    number: str
    status: str
    late_fee_rate_per_day: Decimal | None
    late_fee_on: str  # owed | contract_total: what the template's article charges the daily rate on
    as_of: date
    instalments: list

    @property
    def totals(self):
        rows = self.instalments
        fees = [row.late_fee for row in rows if row.late_fee is not None]
        return {"amount": sum((r.amount for r in rows if r.cancelled_at is None), ZERO),
                "paid": sum((r.paid for r in rows), ZERO),
                "outstanding": sum((r.outstanding for r in rows), ZERO),
                "overdue": sum((r.outstanding for r in rows if r.status == "overdue"), ZERO),
                "cancelled": sum((r.amount - r.paid for r in rows if r.cancelled_at is not None), ZERO),
                "late_fee": sum(fees, ZERO) if self.late_fee_rate_per_day is not None else None}


@dataclass
class StatementLine:
    line: int
    received_on: date
    amount: Decimal
    reference: str
    memo: str
    contract_number: str

    def as_dict(self):
        return {"line": self.line, "received_on": self.received_on.isoformat(), "amount": format(self.amount, "f"),
                "bank_reference": self.reference, "memo": self.memo}


@dataclass
class ImportReport:
    recorded: list = field(default_factory=list)
    already_recorded: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)
    ambiguous: list = field(default_factory=list)

    def as_dict(self):
        return {"recorded": self.recorded, "already_recorded": self.already_recorded, "unmatched": self.unmatched,
                "ambiguous": self.ambiguous}


def late_fee(amount, due_date, payments, rate, as_of):
    """The daily ``rate`` on each amount for each day after ``due_date`` it was paid late, and on what is still owed
    for each day up to ``as_of``; half-up to the fen. ``payments`` are (received_on, amount)."""
    late_days = Decimal(0)
    owed = amount
    for received_on, paid in payments:
        owed -= paid
        late_days += paid * max((received_on - due_date).days, 0)
    late_days += owed * max((as_of - due_date).days, 0)
    return (late_days * rate).quantize(FEN, rounding=ROUND_HALF_UP)


def late_fee_on_total(total, amount, due_date, payments, rate, as_of):
    """The daily ``rate`` on the contract's ``total`` for each day after ``due_date`` until the instalment was paid in
    full (or up to ``as_of`` while it is not); half-up to the fen."""
    owed, settled_on = amount, None
    for received_on, paid in payments:
        owed -= paid
        if owed <= 0:
            settled_on = received_on
            break
    days_late = max(((settled_on or as_of) - due_date).days, 0)
    return (total * days_late * rate).quantize(FEN, rounding=ROUND_HALF_UP)


def china_today(at=None):
    return china_time(at or utcnow()).date()


class PaymentService:
    def __init__(self, db, contracts, history, notifications, webhooks, accounts, reminder_days=7):
        self.db = db
        self.contracts = contracts
        self.history = history
        self.notifications = notifications
        self.webhooks = webhooks
        self.accounts = accounts
        self.reminder_days = reminder_days  # PAYMENT_REMINDER_DAYS

    # --- the schedule, written at activation -------------------------------------------------------------------------
    def create_schedule(self, session, contract_id, data):
        """The contract's instalments from its version's computed schedule, in the activation's transaction (once)."""
        if session.exec(select(Instalment.id).where(Instalment.contract_id == contract_id).limit(1)).first():
            return
        for seq, due in enumerate(data["figures"]["schedule"], start=1):
            session.add(Instalment(contract_id=contract_id, seq=seq, due_date=date.fromisoformat(due["due_date"]),
                                   amount=Decimal(due["amount"])))
        session.flush()

    def extend_schedule(self, session, contract_id, data, previous_end, periods, months):
        """An auto-renewal's instalments, in its transaction: the contract's schedule again for each of ``periods``
        terms of ``months`` added after ``previous_end``, each due date moved to the same place in the new term (the
        renewal runs on the contract's own terms, 按原合同条款)."""
        start = date.fromisoformat(data["term"]["start"])
        seq = session.exec(select(func.max(Instalment.seq)).where(Instalment.contract_id == contract_id)).one() or 0
        period_end = previous_end
        for _ in range(periods):
            shift = date_shift(start, period_end + timedelta(days=1))
            for due in data["figures"]["schedule"]:
                seq += 1
                session.add(Instalment(contract_id=contract_id, seq=seq, amount=Decimal(due["amount"]),
                                       due_date=shift(date.fromisoformat(due["due_date"]))))
            period_end = renewed_end(period_end, months)
        session.flush()

    def reschedule(self, session, contract_id, data):
        """An amendment changed what is paid when, in its transaction: instalments nothing was paid on give way to the
        amended schedule's instalments due after the last one paid on (paid ones stay as recorded). A payment recorded
        at the same moment on an instalment given way is refused (its version no longer matches: 409)."""
        session.flush()
        session.execute(Instalment.__table__.delete().where(Instalment.contract_id == contract_id,
                                                             Instalment.paid == 0))
        kept = session.exec(select(func.max(Instalment.seq), func.max(Instalment.due_date))
                            .where(Instalment.contract_id == contract_id)).one()
        seq, last_paid_due = kept[0] or 0, kept[1]
        for due in data["figures"]["schedule"]:
            day = date.fromisoformat(due["due_date"])
            if last_paid_due is None or day > last_paid_due:
                seq += 1
                session.add(Instalment(contract_id=contract_id, seq=seq, due_date=day, amount=Decimal(due["amount"])))
        session.flush()

    # --- reading ----------------------------------------------------------------------------------------------------
    def schedule(self, session, actor, contract_id, as_of=None):
        """A contract's instalments as of a day (China's today by default), with their payments and late fees."""
        self._require_staff(actor)
        contract = self.contracts.get(session, contract_id)
        rate = self._rate(session, contract)
        rows = list(session.exec(select(Instalment).where(Instalment.contract_id == contract.id)
                                 .order_by(Instalment.seq)))
        payments = self._payments(session, [row.id for row in rows])
        day = as_of or china_today()
        return ContractPayments(contract.id, contract.number, contract.status, rate,
                                TEMPLATES[contract.template]["late_fee_on"], day,
                                [self._state(row, contract, rate, payments.get(row.id, []), day) for row in rows])

    def open_instalments(self, session, actor, within_days=None, as_of=None, contract_id=None):
        """The instalments still owed (not fully paid, not cancelled) due within ``within_days`` (default: the reminder
        window), overdue ones included, earliest due first: finance's list. A terminated or ended contract's are on it
        too, with its status: what it owes is still owed. For one contract: all it still owes."""
        self._require_staff(actor)
        day = as_of or china_today()
        horizon = day + timedelta(days=self.reminder_days if within_days is None else within_days)
        query = select(Instalment, Contract).join(Contract, Contract.id == Instalment.contract_id).where(
            col(Contract.status).in_(OWING), *owed())
        query = query.where(Instalment.due_date <= horizon) if contract_id is None else \
            query.where(Instalment.contract_id == contract_id)
        found = session.exec(query.order_by(Instalment.due_date, Instalment.contract_id, Instalment.seq)).all()
        payments = self._payments(session, [row.id for row, _ in found])
        rates = {}
        for _, contract in found:
            if contract.id not in rates:
                rates[contract.id] = self._rate(session, contract)
        return [self._state(row, contract, rates[contract.id], payments.get(row.id, []), day) for row, contract in found]

    def _state(self, row, contract, rate, payments, day):
        owed = row.amount - row.paid if row.cancelled_at is None else ZERO
        late = owed > 0 and day > row.due_date
        status = ("paid" if row.paid >= row.amount else "cancelled" if row.cancelled_at is not None
                  else "overdue" if late else "due_soon" if (row.due_date - day).days <= self.reminder_days
                  else "scheduled")
        fee = None if rate is None else ZERO if row.cancelled_at is not None else self._late_fee(
            contract, row, [(p.received_on, p.amount) for p in payments], rate, day)
        return InstalmentState(contract.id, contract.number, contract.customer_name, row.seq, row.due_date, row.amount,
                               row.paid, row.version, status, (day - row.due_date).days if late else 0, fee,
                               row.overdue_at, row.reminded_at, payments, contract.status, row.cancelled_at)

    @staticmethod
    def _late_fee(contract, row, payments, rate, day):
        if TEMPLATES[contract.template]["late_fee_on"] == "contract_total":
            return late_fee_on_total(contract.total, row.amount, row.due_date, payments, rate, day)
        return late_fee(row.amount, row.due_date, payments, rate, day)

    def _rate(self, session, contract):
        rate = self.contracts.version_data(session, contract.id, contract.current_version).get("late_fee_rate_per_day")
        return Decimal(rate) if rate is not None else None

    @staticmethod
    def _payments(session, instalment_ids):
        by_instalment = {}
        if instalment_ids:
            for row in session.exec(select(PaymentReceived).where(col(PaymentReceived.instalment_id).in_(instalment_ids))
                                    .order_by(PaymentReceived.received_on, PaymentReceived.id)):
                by_instalment.setdefault(row.instalment_id, []).append(Payment(
                    row.amount, row.received_on, row.bank_reference, row.source, row.recorded_by, row.recorded_at))
        return by_instalment

    # --- recording a payment ----------------------------------------------------------------------------------------
    def record(self, actor, contract_id, body):
        """Finance records money received for one instalment: ``{"instalment": seq, "amount", "received_on",
        "bank_reference", "version"?}``. ``version`` (the instalment's, as the caller saw it) makes a stale form a 409.
        Returns the instalment's state after the payment."""
        self._require_finance(actor)
        if not isinstance(body, dict):
            raise ValidationFailed("send the payment as a JSON object", {"": "expected an object"})
        if not isinstance(contract_id, int):  # a form that lost its contract
            raise ValidationFailed("the payment names no contract", {"contract_id": "必填"})
        with self.db.write() as session:
            contract = self.contracts.get(session, contract_id)
            row = self._instalment_for(session, contract.id, body.get("instalment"))
            errors = {}
            amount, received_on, reference = self._payment_fields(body, errors)
            if amount is not None and amount > row.amount - row.paid:
                errors["amount"] = f"超过该期未付金额 {format_yuan(row.amount - row.paid)} 元"
            if reference and session.exec(select(PaymentReceived.id).where(
                    PaymentReceived.instalment_id == row.id, PaymentReceived.bank_reference == reference)).first():
                errors["bank_reference"] = "该银行流水号已登记在这一期"
            seen = _whole(body.get("version"))
            if body.get("version") not in (None, "") and seen is None:
                errors["version"] = "应为整数"
            if errors:
                raise ValidationFailed("the payment cannot be recorded", errors)
            if seen is not None and seen != row.version:
                raise Conflict("该分期刚刚登记了另一笔收款，请刷新页面核对后再登记")
            if row.cancelled_at is not None:
                raise Conflict(f"合同 {contract.number} 第{row.seq}期已因合同提前终止而取消，不再收款")
            self._pay(session, contract, [(row, amount)], received_on, reference, "manual", actor.username)
            return self._state(row, contract, self._rate(session, contract),
                               self._payments(session, [row.id]).get(row.id, []), china_today())

    def _instalment_for(self, session, contract_id, given):
        seq = _whole(given)
        if seq is None:
            raise ValidationFailed("name the instalment by its number", {"instalment": "应为分期序号（整数）"})
        row = session.exec(select(Instalment).where(Instalment.contract_id == contract_id, Instalment.seq == seq)).first()
        if row is None:
            if not session.exec(select(Instalment.id).where(Instalment.contract_id == contract_id).limit(1)).first():
                raise Conflict("该合同尚未生效，没有可登记收款的分期")
            raise ValidationFailed("no such instalment", {"instalment": f"本合同没有第{seq}期"})
        return row

    @staticmethod
    def _payment_fields(body, errors):
        """(amount, received_on, bank_reference) from a form or JSON body; problems go to ``errors`` by field."""
        amount = received_on = None
        try:
            amount = to_fen(body.get("amount"))
            if amount <= 0:
                errors["amount"], amount = "应大于0", None
        except ValueError:
            errors["amount"] = "应为金额，如 90000.00"
        try:
            received_on = date.fromisoformat(body.get("received_on")) if isinstance(body.get("received_on"), str) else None
        except ValueError:
            pass
        if received_on is None:
            errors["received_on"] = "应为日期，如 2025-07-01"
        elif received_on > china_today():
            errors["received_on"], received_on = "收款日期不能晚于今天", None
        reference = body.get("bank_reference")
        reference = reference.strip() if isinstance(reference, str) else ""
        if not reference:
            errors["bank_reference"] = "必填"
        elif len(reference) > MAX_REFERENCE or CONTROL.search(reference):
            errors["bank_reference"] = f"最多{MAX_REFERENCE}个字符，不含控制字符"
        return amount, received_on, reference

    def _pay(self, session, contract, allocations, received_on, reference, source, username):
        """Add ``allocations`` [(instalment row as read, amount)] of one bank transfer: each instalment's version must
        still be the one read, else someone recorded meanwhile (409, and the whole transaction rolls back)."""
        for row, amount in allocations:
            changed = session.execute(update(Instalment).where(
                Instalment.id == row.id, Instalment.version == row.version, Instalment.paid + amount <= Instalment.amount,
                col(Instalment.cancelled_at).is_(None))
                .values(paid=Instalment.paid + amount, version=Instalment.version + 1)
                .execution_options(synchronize_session=False)).rowcount
            if changed != 1:
                raise Conflict(f"合同 {contract.number} 第{row.seq}期刚刚登记了另一笔收款，请刷新后重试")
            session.add(PaymentReceived(instalment_id=row.id, contract_id=contract.id, amount=amount,
                                        received_on=received_on, bank_reference=reference, source=source,
                                        recorded_by=username))
            set_committed_value(row, "paid", row.paid + amount)  # as the update left it, without a second update
            set_committed_value(row, "version", row.version + 1)
        session.flush()
        self.history.record(session, "payment_recorded", username, contract_id=contract.id, details={
            "bank_reference": reference, "received_on": received_on.isoformat(), "source": source,
            "instalments": [{"instalment": row.seq, "amount": format(amount, "f")} for row, amount in allocations]})

    # --- importing a bank statement ------------------------------------------------------------------------------------
    def import_statement(self, actor, content):
        """Record every matched line of a bank statement (CSV bytes) in one transaction; see the module's docstring.
        Returns the ``ImportReport``; a ``ValidationFailed`` naming each bad line (``lines.<n>``) records nothing."""
        self._require_finance(actor)
        lines = parse_statement(content)
        report, errors = ImportReport(), {}
        with self.db.write() as session:
            numbers = {token for line in lines for token in _candidate_numbers(line)}
            contracts = {c.number: c for c in session.exec(select(Contract).where(col(Contract.number).in_(numbers)))} \
                if numbers else {}
            open_rows, recorded_refs, planned, taken = {}, {}, [], {}
            for line in lines:
                matches = sorted({token for token in _candidate_numbers(line) if token in contracts})
                if len(matches) > 1:
                    report.ambiguous.append({**line.as_dict(), "candidates": matches})
                    continue
                if not matches:
                    report.unmatched.append({**line.as_dict(), "reason": "未找到合同编号"})
                    continue
                contract = contracts[matches[0]]
                if contract.id not in open_rows:
                    open_rows[contract.id] = list(session.exec(select(Instalment).where(
                        Instalment.contract_id == contract.id).order_by(Instalment.due_date, Instalment.seq)))
                    recorded_refs[contract.id] = set(session.exec(select(PaymentReceived.bank_reference).where(
                        PaymentReceived.contract_id == contract.id)))
                if not open_rows[contract.id]:
                    report.unmatched.append({**line.as_dict(), "contract_number": contract.number,
                                             "reason": "该合同没有收款计划（尚未生效）"})
                    continue
                summary = {**line.as_dict(), "contract_id": contract.id, "contract_number": contract.number}
                if line.reference in recorded_refs[contract.id]:
                    report.already_recorded.append(summary)
                    continue
                recorded_refs[contract.id].add(line.reference)
                allocations = _allocate(open_rows[contract.id], line.amount, taken)
                if allocations is None:
                    errors[f"lines.{line.line}"] = f"金额 {format_yuan(line.amount)} 超过合同 {contract.number} 的未付金额"
                    continue
                planned.append((contract, line, allocations))
                report.recorded.append({**summary, "instalments": [{"instalment": row.seq, "amount": format(amount, "f")}
                                                                    for row, amount in allocations]})
            if errors:
                raise ValidationFailed("the statement was not imported: correct these lines and import it again",
                                       errors)
            for contract, line, allocations in planned:
                self._pay(session, contract, allocations, line.received_on, line.reference, "import", actor.username)
        return report

    # --- an early termination ----------------------------------------------------------------------------------------
    def cancel_from(self, session, contract_id, day, actor, now):
        """Cancel the contract's instalments falling due on or after ``day`` (a termination's effective date) that are
        not fully paid, in the termination's transaction; each one's ``version`` goes up, so a payment recorded against
        what was read before is a 409. Returns the history details (None: nothing to cancel)."""
        rows = list(session.exec(select(Instalment).where(
            Instalment.contract_id == contract_id, Instalment.due_date >= day, *owed()).order_by(Instalment.seq)))
        for row in rows:
            if session.execute(update(Instalment).where(Instalment.id == row.id, Instalment.version == row.version)
                               .values(cancelled_at=now, version=Instalment.version + 1)
                               .execution_options(synchronize_session=False)).rowcount != 1:
                raise Conflict(f"第{row.seq}期刚刚登记了收款，请刷新后重试")
        if not rows:
            return None
        details = {"effective_on": day.isoformat(), "instalments": [
            {"instalment": row.seq, "due_date": row.due_date.isoformat(), "amount": format(row.amount, "f"),
             "waived": format(row.amount - row.paid, "f")} for row in rows]}
        self.history.record(session, "instalments_cancelled", actor, contract_id=contract_id, at=now, details=details)
        return details

    # --- the daily scan: reminders and overdue flags -------------------------------------------------------------------
    def run_scan(self, job):
        """``payments.scan`` (daily, ``register_recurring``): reminders and overdue flags as of the run's day. A second
        try finds what the first wrote (``reminded_at``, ``overdue_at``) and writes nothing twice."""
        return self.scan(aware(job.started_at))

    def scan(self, at=None):
        """Remind of the instalments due within ``reminder_days`` (of active contracts only) and flag the overdue ones
        (of any contract that still owes them), in one transaction as of ``at``; returns (reminders, newly overdue)."""
        now = at or utcnow()
        today = china_today(now)
        with self.db.write() as session:
            due = session.exec(select(Instalment, Contract).join(Contract, Contract.id == Instalment.contract_id).where(
                Contract.status == ACTIVE, *owed(), col(Instalment.reminded_at).is_(None),
                Instalment.due_date >= today, Instalment.due_date <= today + timedelta(days=self.reminder_days))
                .order_by(Instalment.id)).all()
            reminded = sum(self._remind(session, row, contract, now) for row, contract in due)
            late = session.exec(select(Instalment, Contract).join(Contract, Contract.id == Instalment.contract_id).where(
                col(Contract.status).in_(OWING), *owed(), col(Instalment.overdue_at).is_(None),
                Instalment.due_date < today).order_by(Instalment.id)).all()
            flagged = sum(self._flag_overdue(session, row, contract, now, today) for row, contract in late)
        return reminded, flagged

    def _claim(self, session, row, column, now):
        """Set ``column`` (reminded_at, overdue_at) once, while the instalment is still owed: False when another run
        (or a payment in full) came first."""
        return session.execute(update(Instalment).where(
            Instalment.id == row.id, getattr(Instalment, column).is_(None), *owed())
            .values({column: now}).execution_options(synchronize_session=False)).rowcount == 1

    def _remind(self, session, row, contract, now):
        if not self._claim(session, row, "reminded_at", now):
            return False
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        owner = self.accounts.find(session, contract.created_by)
        contact = (data["customer"].get("contact") or {}).get("email", "")
        owed = format_yuan(row.amount - row.paid)
        subject = f"[签约] 付款提醒：{contract.number} 第{row.seq}期 {owed} 元将于 {row.due_date.isoformat()} 到期"
        body = (f"您好：\n\n合同《{contract.title}》（{contract.number}）第{row.seq}期款项将于 {row.due_date.isoformat()} 到期，"
                f"应付 {format_yuan(row.amount)} 元，尚未支付 {owed} 元。请按合同约定按时付款。\n\n"
                f"Instalment {row.seq} of contract {contract.number} ({owed} CNY outstanding) is due on "
                f"{row.due_date.isoformat()}.\n")
        for to in sorted({address for address in ((owner.email if owner else ""), contact) if address}):
            self.notifications.enqueue(session, "payment_reminder", to, subject, body, contract.id)
        self.history.record(session, "payment_reminder", "system", contract_id=contract.id, at=now, details={
            "instalment": row.seq, "due_date": row.due_date.isoformat(), "outstanding": format(row.amount - row.paid, "f")})
        return True

    def _flag_overdue(self, session, row, contract, now, today):
        if not self._claim(session, row, "overdue_at", now):
            return False
        rate = self._rate(session, contract)
        outstanding = row.amount - row.paid
        payload = {"event": OVERDUE_EVENT, "contract": {
            "id": contract.id, "number": contract.number, "title": contract.title,
            "customer": {"name": contract.customer_name, "credit_code": contract.customer_credit_code}},
            "instalment": {"seq": row.seq, "due_date": row.due_date.isoformat(), "amount": format(row.amount, "f"),
                           "paid": format(row.paid, "f"), "outstanding": format(outstanding, "f"),
                           "days_overdue": (today - row.due_date).days,
                           "late_fee_rate_per_day": format(rate, "f") if rate is not None else None},
            "overdue_at": now.isoformat()}
        event_id = self.webhooks.enqueue(session, OVERDUE_EVENT, contract.id, payload)
        self.history.record(session, "instalment_overdue", "system", contract_id=contract.id, at=now, details={
            "instalment": row.seq, "due_date": row.due_date.isoformat(), "outstanding": format(outstanding, "f"),
            "webhook_event": event_id})
        return True

    # --- who may act --------------------------------------------------------------------------------------------------
    @staticmethod
    def _require_staff(actor):
        if not is_staff(actor):
            raise Forbidden("payment plans are for the provider's staff")

    @staticmethod
    def _require_finance(actor):
        if not is_staff(actor) or FINANCE not in actor.role_set:
            raise Forbidden("only finance records payments received")


def owed():
    """The conditions of an instalment still owed: not fully paid and not cancelled."""
    return Instalment.paid < Instalment.amount, col(Instalment.cancelled_at).is_(None)


def _whole(value):
    """A whole number from JSON or a form field (its digits), else None."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 9:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def _allocate(rows, amount, taken):
    """Spread ``amount`` over the instalments still owed, earliest due first, after what earlier lines of the file
    ``taken`` (instalment id -> amount; updated); None, taking nothing, when it is more than they owe."""
    allocations, left = [], amount
    for row in rows:
        owing = row.amount - row.paid - taken.get(row.id, ZERO) if row.cancelled_at is None else ZERO
        if left > 0 and owing > 0:
            part = min(owing, left)
            allocations.append((row, part))
            left -= part
    if left > 0:
        return None
    for row, part in allocations:
        taken[row.id] = taken.get(row.id, ZERO) + part
    return allocations


def _candidate_numbers(line):
    return set(CONTRACT_NUMBER_LIKE.findall(f"{line.contract_number} {line.memo}"))


def parse_statement(content):
    """The credit lines of a bank statement CSV (UTF-8, with or without BOM, or GB18030 as Chinese banks export it);
    ``ValidationFailed`` naming the file or each bad line."""
    if not isinstance(content, bytes | bytearray) or not content.strip():
        raise ValidationFailed("send the bank statement as a CSV file", {"file": "文件为空"})
    if len(content) > MAX_STATEMENT_BYTES:
        raise ValidationFailed("the statement is too large", {"file": f"文件不能超过 {MAX_STATEMENT_BYTES // 1000} KB"})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationFailed("the statement is not text", {"file": "应为 UTF-8 或 GBK 编码的 CSV 文件"}) from None
    if "\x00" in text:
        raise ValidationFailed("the statement is not text", {"file": "应为 CSV 文本文件"})
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) > MAX_STATEMENT_LINES + 1:
        raise ValidationFailed("the statement has too many lines", {"file": f"最多 {MAX_STATEMENT_LINES} 行"})
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    where = {key: next((header.index(name) for name in names if name in header), None) for key, names in COLUMNS.items()}
    missing = [COLUMNS[key][0] for key in ("date", "amount", "reference") if where[key] is None]
    if where["memo"] is None and where["contract_number"] is None:
        missing.append(f"{COLUMNS['memo'][0]}或{COLUMNS['contract_number'][0]}")
    if missing:
        raise ValidationFailed("the statement lacks columns", {"file": "缺少列：" + "、".join(missing)})
    lines, errors, seen = [], {}, set()
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        cell = {key: (cells[index].strip() if index is not None and index < len(cells) else "")
                for key, index in where.items()}
        problem, parsed = _statement_line(number, cell)
        if problem is None and parsed.reference in seen:
            problem = "银行流水号在文件中重复"
        if problem:
            errors[f"lines.{number}"] = problem
            continue
        seen.add(parsed.reference)
        lines.append(parsed)
    if errors:
        raise ValidationFailed("the statement was not imported: correct these lines and import it again", errors)
    if not lines:
        raise ValidationFailed("the statement has no lines", {"file": "文件中没有收款记录"})
    return lines


def _statement_line(number, cell):
    """(problem, None) or (None, StatementLine) for one row's cells."""
    received_on = _statement_date(cell["date"])
    if received_on is None:
        return f"交易日期无法识别：{cell['date'][:20]}", None
    if received_on > china_today():
        return "交易日期晚于今天", None
    try:
        amount = to_fen(cell["amount"].replace(",", "").replace("¥", "").replace("￥", ""))
    except ValueError:
        return f"金额无法识别：{cell['amount'][:20]}", None
    if amount <= 0:
        return "金额应大于0（只导入收款）", None
    reference = cell["reference"]
    if not reference or len(reference) > MAX_REFERENCE or CONTROL.search(reference):
        return "银行流水号缺失或过长", None
    return None, StatementLine(number, received_on, amount, reference, cell["memo"][:500], cell["contract_number"][:100])


def _statement_date(text):
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return datetime.strptime(text[:10] if pattern != "%Y%m%d" else text[:8], pattern).date()
        except ValueError:
            continue
    return None
