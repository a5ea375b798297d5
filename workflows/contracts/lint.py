"""Pre-review checks on a normalized contract: findings a reviewer should see, not errors that block saving.

Each rule is a small generator registered with `@rule(code, severity)`; it yields
(field, message_zh, message_en) and the registry turns that into a `Finding`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from workflows.contracts.catalog import NETWORK_ACCESS_LETTER, SECURITY_LETTER, SERVICE_TYPES
from workflows.contracts.money import format_yuan

WARNING = "warning"
INFO = "info"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    field: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class LintContext:
    """Thresholds that belong to the organisation, not to the contract."""

    finance_threshold: Decimal = Decimal("500000")
    max_late_fee_rate_per_day: Decimal = Decimal("0.001")
    mandated_letters: list[str] = field(default_factory=list)
    today: date | None = None  # China's date when the check runs; None: checks against the calendar are skipped


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    check: Callable[[dict, LintContext], Iterator[tuple[str, str, str]]]

    def run(self, normalized: dict, context: LintContext) -> list[Finding]:
        return [Finding(self.code, self.severity, *found) for found in self.check(normalized, context)]


RULES: list[Rule] = []


def rule(code: str, severity: str):
    """Register a check under a stable code the UI and the audit trail can refer to."""

    def register(check):
        RULES.append(Rule(code, severity, check))
        return check

    return register


def lint(normalized: dict, context: LintContext | None = None) -> list[Finding]:
    context = context or LintContext()
    return [finding for each in RULES for finding in each.run(normalized, context)]


@rule("contact_inconsistent", WARNING)
def contact_inconsistent(contract, context):
    """An article naming another liaison than the header's contact leaves notices going to the wrong person."""
    designated = contract["designated_contacts"]
    contacts = {"customer": contract["customer"]["contact"]["name"], "provider": contract["provider_contact"]["name"]}
    for side, contact_name in contacts.items():
        if designated[side] and contact_name and designated[side] != contact_name:
            yield (
                f"designated_contacts.{side}",
                f"条款指定的项目联系人“{designated[side]}”与首部联系人“{contact_name}”不一致",
                f"The liaison named in the articles ({designated[side]}) differs from the "
                f"header contact ({contact_name})",
            )


@rule("installment_after_term", WARNING)
def installment_after_term(contract, context):
    """A payment due after the term relies on renewal; if the customer lets it lapse, it may never be due."""
    term_end = contract["term"]["end"]
    late = [entry["due_date"] for entry in contract["figures"]["schedule"] if entry["due_date"] > term_end]
    if late:
        dates = "、".join(late)
        yield (
            "payment_plan",
            f"付款日 {dates} 晚于服务期结束日 {term_end}",
            f"Payment(s) due {', '.join(late)} fall after the term ends on {term_end}",
        )


@rule("term_already_ended", WARNING)
def term_already_ended(contract, context):
    """A term that ended before the contract is even signed is almost always a copied old contract (a renewal whose
    dates were not moved on): the services it promises can no longer be given."""
    term_end = contract["term"]["end"]
    if context.today is not None and term_end < context.today.isoformat():
        yield (
            "term.end",
            f"服务期已于 {term_end} 结束（今天是 {context.today.isoformat()}）：请核对服务期，续签合同应顺延期限",
            f"The term already ended on {term_end} (today is {context.today.isoformat()}): check the dates; a renewal "
            f"should follow on",
        )


@rule("late_fee_excessive", WARNING)
def late_fee_excessive(contract, context):
    """Courts cut damages seen as excessive, so an extreme rate is unenforceable and reads as unfair."""
    rate = contract.get("late_fee_rate_per_day")
    if rate is None or Decimal(rate) <= context.max_late_fee_rate_per_day:
        return
    daily, cap = _percent(Decimal(rate)), _percent(context.max_late_fee_rate_per_day)
    yearly = f"{Decimal(rate) * 365 * 100:.0f}%"
    yield (
        "late_fee_rate_per_day",
        f"逾期违约金每日 {daily}（年化约 {yearly}）过高：违约金超过实际损失30%的，法院一般认定为过分高于损失"
        f"并予调减（民法典第585条、合同编通则解释第65条）；实务中常以LPR的4倍为参照。建议不高于每日 {cap}",
        f"Late fee of {daily} per day (about {yearly} a year) is excessive: courts usually reduce damages "
        f"exceeding actual loss by more than 30% (Civil Code art. 585, SPC interpretation on contracts "
        f"art. 65), often using 4x LPR as a reference. Suggest at most {cap} per day",
    )


@rule("discount_applied", INFO)
def discount_applied(contract, context):
    """Fees below the standard price need the discount approval to be on file."""
    figures = contract["figures"]
    if figures["has_discount"]:
        discount = format_yuan(Decimal(figures["discount_total"]))
        yield (
            "one_time_fees",
            f"一次性费用低于标准资费，优惠合计 {discount} 元（按单位计）",
            f"One-time fees are below the standard price; discount totals {discount} yuan per unit",
        )


@rule("total_above_finance_threshold", INFO)
def total_above_finance_threshold(contract, context):
    """Large contracts need the finance department's review."""
    total = Decimal(contract["figures"]["total"])
    if total > context.finance_threshold:
        threshold = format_yuan(context.finance_threshold)
        yield (
            "total",
            f"合同总价 {format_yuan(total)} 元超过 {threshold} 元，需财务审核",
            f"Total {format_yuan(total)} yuan exceeds {threshold} yuan and needs finance review",
        )


@rule("missing_mandated_letters", WARNING)
def missing_mandated_letters(contract, context):
    """The letter rule table is data an admin edits; flag a table that stops asking for what regulation requires."""
    expected = [SECURITY_LETTER]
    if any(SERVICE_TYPES[code]["network_access"] for code in contract["service_types"]):
        expected.insert(0, NETWORK_ACCESS_LETTER)
    missing = [letter for letter in expected if letter not in context.mandated_letters]
    if missing:
        yield (
            "service_types",
            f"承诺书规则未要求签署：{'、'.join(missing)}，请管理员检查规则表",
            f"The letter rules do not require {', '.join(missing)} for these services; ask an admin to check the rule table",
        )


def _percent(rate: Decimal) -> str:
    return f"{format((rate * 100).normalize(), 'f')}%"
