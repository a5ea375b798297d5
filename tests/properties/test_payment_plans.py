"""Payment plans and the tax split: money stays exact to the fen. Instalments are taken only when they add up to the
total (one falling due after the term is flagged, for finance to review); a periodic plan's payments fall on the same
day of the month (the last day where the month is shorter), inside the term, and add up to the total; net and tax are
the total divided and rounded half-up, adding up exactly."""
import calendar
import copy
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from math import gcd

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.conftest import load_fixture
from tests.properties.budget import HEAVY, PROPERTY
from workflows.contracts.catalog import DEMO_PROVIDERS
from workflows.contracts.money import amount_in_words, split_tax, to_fen
from workflows.contracts.validation import LATEST_YEAR, MAX_INSTALLMENTS, normalize_draft
from workflows.errors import ValidationFailed

PROVIDER = DEMO_PROVIDERS[0]
BASE = load_fixture("contract-technical-service.json")
starts = st.dates(date(2000, 1, 1), date(2090, 12, 31))
LAST_DAY = date(LATEST_YEAR, 12, 31)


def fen_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def draft_with(plan, total_fen, start, end):
    draft = copy.deepcopy(BASE)
    draft.update(items=[{"name": "技术服务"}], total=fen_text(total_fen), payment_plan=plan,
                 term={"start": start.isoformat(), "end": end.isoformat()})
    return draft


def refused_fields(draft):
    with pytest.raises(ValidationFailed) as refused:
        normalize_draft(draft, PROVIDER)
    return set(refused.value.fields)


def in_fen(text: str) -> int:
    assert text == fen_text(int(Decimal(text) * 100)), f"not written to the fen: {text}"
    return int(Decimal(text) * 100)


@st.composite
def instalment_plans(draw):
    """A term, a total and instalments that add up to it, falling due inside the term or up to a year after it."""
    start = draw(starts)
    end = start + timedelta(days=draw(st.integers(1, 3650)))
    count = draw(st.integers(1, 24))
    total = draw(st.integers(count, 10**11))
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=count - 1, max_size=count - 1, unique=True))
                  if count > 1 else [])
    amounts = [high - low for low, high in zip([0, *cuts], [*cuts, total])]
    dues = draw(st.lists(st.dates(start, end + timedelta(days=365)), min_size=count, max_size=count))
    instalments = [{"due_date": due.isoformat(), "amount": fen_text(amount)} for due, amount in zip(dues, amounts)]
    return start, end, total, instalments


@HEAVY
@given(instalment_plans())
def test_instalments_that_add_up_are_the_schedule(plan):
    start, end, total, instalments = plan
    figures = normalize_draft(draft_with({"installments": instalments}, total, start, end), PROVIDER)["figures"]
    schedule = figures["schedule"]
    assert [(entry["due_date"], entry["amount"]) for entry in schedule] == [(i["due_date"], i["amount"])
                                                                            for i in instalments]
    assert sum(in_fen(entry["amount"]) for entry in schedule) == total == in_fen(figures["total"])
    assert all(entry["amount_in_words"] == amount_in_words(Decimal(entry["amount"])) for entry in schedule)
    assert figures["installments_after_term"] == any(i["due_date"] > end.isoformat() for i in instalments)


@HEAVY
@given(instalment_plans(), st.data())
def test_instalments_a_fen_off_are_refused(plan, data):
    start, end, total, instalments = plan
    index = data.draw(st.integers(0, len(instalments) - 1))
    amount = in_fen(instalments[index]["amount"]) + data.draw(st.sampled_from([-1, 1]))
    assume(amount > 0)
    instalments[index]["amount"] = fen_text(amount)
    assert refused_fields(draft_with({"installments": instalments}, total, start, end)) == {"payment_plan.installments"}


def months_after(day: date, months: int, at_month_end=False) -> date:
    """The same day ``months`` later, or that month's last day (counted on the month number, not the way the code
    counts); ``at_month_end``: that month's last day whatever the day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, last if at_month_end else min(day.day, last))


@st.composite
def periodic_plans(draw, every=st.integers(1, 24), days=st.integers(1, 366 * 12)):
    """A term and a periodic plan starting in its first year, often on a 29th to 31st (some months are shorter)."""
    start = draw(starts)
    month = months_after(start.replace(day=1), draw(st.integers(0, 12)))
    day = draw(st.one_of(st.integers(28, 31), st.integers(1, 31)))
    first_due = month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))
    end = min(start + timedelta(days=draw(days)), LAST_DAY)
    every = draw(every)
    amount = draw(st.integers(1, 10**8))
    at_month_end = first_due.day == calendar.monthrange(first_due.year, first_due.month)[1]  # 月末: every due at month end
    dues = []
    while (due := months_after(first_due, every * len(dues), at_month_end)) <= end:
        dues.append(due)
    return start, end, {"every_months": every, "amount": fen_text(amount), "first_due": first_due.isoformat()}, dues


@HEAVY
@given(periodic_plans())
def test_a_periodic_plan_pays_on_its_day_inside_the_term(plan):
    start, end, periodic, dues = plan
    amount = in_fen(periodic["amount"])
    assume(0 < len(dues) <= MAX_INSTALLMENTS)
    figures = normalize_draft(draft_with(periodic, amount * len(dues), start, end), PROVIDER)["figures"]
    schedule = figures["schedule"]
    assert [date.fromisoformat(entry["due_date"]) for entry in schedule] == dues
    assert all(date.fromisoformat(periodic["first_due"]) <= due <= end for due in dues)
    assert dues == sorted(set(dues))
    assert {entry["amount"] for entry in schedule} == {periodic["amount"]}
    assert sum(in_fen(entry["amount"]) for entry in schedule) == in_fen(figures["total"])
    assert figures["installments_after_term"] is False


@HEAVY
@given(periodic_plans(), st.sampled_from([-1, 1]))
def test_a_periodic_plan_that_does_not_add_up_is_refused(plan, off):
    start, end, periodic, dues = plan
    total = in_fen(periodic["amount"]) * len(dues) + off
    assume(total > 0)
    expected = {"payment_plan"} if dues else {"payment_plan.first_due"}
    assert refused_fields(draft_with(periodic, total, start, end)) == expected


@HEAVY
@given(periodic_plans(every=st.just(1), days=st.integers(366 * 11, 366 * 200)))
def test_a_periodic_plan_has_at_most_as_many_payments_as_a_list_of_instalments(plan):
    """A periodic plan is a schedule printed in full: monthly payments over 200 years (2,400 rows) took half a
    minute to lay out as a PDF."""
    start, end, periodic, dues = plan
    assume(len(dues) > MAX_INSTALLMENTS)
    assert refused_fields(draft_with(periodic, in_fen(periodic["amount"]) * len(dues), start, end)) == {"payment_plan"}


rates = st.integers(0, 9999).map(lambda basis_points: Decimal(basis_points).scaleb(-4))


@st.composite
def half_fen_nets(draw):
    """(total, rate) whose net before rounding ends in exactly half a fen: when 1 + rate is a multiple of 32/10000,
    total = j × (1 + rate) / gcd(1 + rate, 2) in fen with j odd gives j × 5^k / 2 fen."""
    denominator = 32 * draw(st.integers(313, 624))  # 10000 × (1 + rate), from 1.0016 to 1.9968
    total_fen = draw(st.integers(0, 10**6)) * 2 + 1
    total_fen *= denominator // gcd(denominator, 20000)
    return Decimal(total_fen).scaleb(-2), Decimal(denominator - 10000).scaleb(-4)


@PROPERTY
@given(st.one_of(st.tuples(st.integers(0, 10**14 - 1).map(lambda fen: Decimal(fen).scaleb(-2)), rates),
                 half_fen_nets()))
def test_net_and_tax_are_rounded_half_up_and_add_up(total_and_rate):
    total, rate = total_and_rate
    total_fen = int(total * 100)
    net, tax = split_tax(total, rate)
    exact = Fraction(total_fen) / (1 + Fraction(rate))  # in fen
    half_up = int(exact + Fraction(1, 2))  # floor(x + ½): ties go up
    assert net == Decimal(half_up).scaleb(-2) and net.as_tuple().exponent == -2
    assert net + tax == total and 0 <= tax <= total


@PROPERTY
@given(half_fen_nets())
def test_half_a_fen_rounds_up(total_and_rate):
    total, rate = total_and_rate
    exact = Fraction(int(total * 100)) / (1 + Fraction(rate))
    assert exact.denominator == 2
    assert split_tax(total, rate)[0] == Decimal(int(exact + Fraction(1, 2))).scaleb(-2)


NOTATIONS = {"plain": "{}", "padded": "{}0", "spaced": " {} "}


@PROPERTY
@given(st.one_of(st.sampled_from([0, 1, 10, 100]), st.integers(0, 10**13)), st.sampled_from(["", "+", "-"]),
       st.sampled_from(["plain", "padded", "spaced", "exponent"]))
@example(0, "-", "plain")
def test_an_amount_is_written_the_one_way(fen, sign, notation):
    """Whatever the sign or notation, an amount's text is its digits to the fen; zero has no sign."""
    body = f"{fen}E-2" if notation == "exponent" else fen_text(fen)
    value = to_fen(NOTATIONS.get(notation, "{}").format(sign + body))
    assert format(value, "f") == ("-" if sign == "-" and fen else "") + fen_text(fen)
