"""A contract's term and what follows from it: the notice deadline, the moments the process waits for, the term an
auto-renewal adds and the term a renewal contract follows on with. Pure rules over dates (China dates, the way the
contract prints them); the services decide who may act on them.

- The term runs from ``start`` through ``end``, both days included; it is over at 00:00 China time the day after.
- Notice (of non-renewal, or of termination) must be given ``notice_days`` ahead: a notice of non-renewal on the
  deadline day ``end - notice_days`` at the latest; a termination takes effect ``notice_days`` after it is given at
  the earliest. The renewal notice mail goes out at 09:00 on the deadline day (the last day notice can be given).
"""
import calendar
import re
from datetime import date, datetime, time, timedelta

from ..clock import CHINA
from .validation import add_months

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RENEWAL_NOTICE_HOUR = time(9, 0, tzinfo=CHINA)
MIDNIGHT = time(0, 0, tzinfo=CHINA)


def read_day(value, missing):
    """A date written YYYY-MM-DD, as a form or the API sends it: (the date, None), or (None, what is wrong: ``missing``
    when it is not written so, else that it is no date)."""
    if not isinstance(value, str) or not ISO_DAY.match(value.strip()):
        return None, missing
    try:
        return date.fromisoformat(value.strip()), None
    except ValueError:
        return None, "不是有效的日期"


def notice_deadline(end: date, notice_days: int) -> date:
    """The last day a notice of non-renewal reaches the other side in time."""
    return end - timedelta(days=notice_days)


def renewal_notice_at(end: date, notice_days: int) -> datetime:
    return datetime.combine(notice_deadline(end, notice_days), RENEWAL_NOTICE_HOUR)


def term_ends_at(end: date) -> datetime:
    """When the term is over: the start of the day after its last day, China time."""
    return datetime.combine(end + timedelta(days=1), MIDNIGHT)


def takes_effect_at(day: date) -> datetime:
    """A termination effective on ``day`` ends the contract at the start of that day, China time."""
    return datetime.combine(day, MIDNIGHT)


def earliest_termination(today: date, notice_days: int) -> date:
    return today + timedelta(days=notice_days)


def renewed_end(end: date, months: int) -> date:
    """The last day of the term an auto-renewal of ``months`` adds: a term ending on a month's last day renews to a
    month's last day (2022-12-31 + 12 → 2023-12-31; 2023-02-28 + 12 → 2024-02-29)."""
    return _keep_month_end(end, add_months(end, months))


def following_term(start: date, end: date, last_day: date) -> tuple[date, date]:
    """The term a renewal contract follows on with: from the day after ``last_day`` (the last day of the term in
    force), as long as the contract's own term ``start``–``end`` (in whole months when it was, else in days)."""
    new_start = last_day + timedelta(days=1)
    months = _whole_months(start, end + timedelta(days=1))
    if months:
        return new_start, add_months(new_start, months) - timedelta(days=1)
    return new_start, new_start + (end - start)


def date_shift(old_start: date, new_start: date):
    """The function that moves a date of the old term (a payment's due date) to the same place in the new one: by
    whole months when the terms start that far apart (a month's last day stays one), else by days."""
    months = _whole_months(old_start, new_start)
    if months:
        return lambda day: _keep_month_end(day, add_months(day, months))
    return lambda day: day + (new_start - old_start)


def _whole_months(start: date, stop: date) -> int:
    """The number of months from ``start`` to ``stop`` when it is whole (0 otherwise)."""
    months = (stop.year - start.year) * 12 + stop.month - start.month
    return months if months > 0 and add_months(start, months) == stop else 0


def _keep_month_end(day: date, moved: date) -> date:
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        return moved.replace(day=calendar.monthrange(moved.year, moved.month)[1])
    return moved
