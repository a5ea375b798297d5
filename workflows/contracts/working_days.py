"""Working days (工作日) as the State Council's holiday schedule makes them: what an answer limit of N working days means.

The schedule comes from ``chinese_calendar`` (holidays and the weekend days worked in exchange, 调休), which knows the
years announced when its release was made. An administrator's overrides (``WorkingDayOverride`` rows: a date marked a
working day or a day off) win over it: a year the package does not know yet is entered by hand once the State Council
announces it, and a correction needs no release. A date of an unknown year that no override names follows the week
(Monday to Friday); ``unknown_years`` says which years of a computation were guessed that way, so the page can warn.

An answer due "within N working days" of a request received on day D is in time through the whole Nth working day
after D (China dates); it is late from 00:00 China time of the day after (``answer_due_at``).
"""
from datetime import date, datetime, time, timedelta

import chinese_calendar

from ..clock import CHINA

MAX_WORKING_DAYS = 60
MIDNIGHT = time(0, 0, tzinfo=CHINA)


def package_knows(year: int) -> bool:
    """Whether ``chinese_calendar`` holds the official schedule of ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkingCalendar:
    """The official schedule with an administrator's overrides (``{date: True for a working day, False for a day
    off}``)."""

    def __init__(self, overrides=None):
        self.overrides = dict(overrides or {})
        self.unknown_years = set()

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            self.unknown_years.add(day.year)
            return day.weekday() < 5

    def add_working_days(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself never counts: the day a request arrives)."""
        if not 1 <= count <= MAX_WORKING_DAYS:
            raise ValueError(f"a limit of 1 to {MAX_WORKING_DAYS} working days, not {count}")
        while count:
            day += timedelta(days=1)
            count -= self.is_working_day(day)
        return day

    def answer_due_at(self, received_on: date, count: int) -> datetime:
        """When an answer due within ``count`` working days of ``received_on`` is late: 00:00 China time after the
        last working day of the limit."""
        return datetime.combine(self.add_working_days(received_on, count) + timedelta(days=1), MIDNIGHT)
