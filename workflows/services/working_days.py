"""The working-day calendar deadlines count on, and the administrator's overrides of it (``/admin/working-days``).

``chinese_calendar`` carries the official schedule of the years its release knows; an administrator marks single dates
a working day or a day off (a year announced after the release, a correction). See ``contracts.working_days``.
"""
from sqlmodel import select

from ..clock import china_time, utcnow
from ..contracts.term import read_day
from ..contracts.working_days import WorkingCalendar, package_knows
from ..errors import NotFound, ValidationFailed
from ..models import WorkingDayOverride
from ..visible_text import hidden_characters_error

NOTE_LENGTH = 100
YEARS_SHOWN = 2  # this year and the next: the years a deadline given today can reach


class WorkingDayService:
    def __init__(self, db, access):
        self.db = db
        self.access = access

    def calendar(self, session):
        """The official schedule with every override, for one computation."""
        rows = session.exec(select(WorkingDayOverride.day, WorkingDayOverride.is_working_day)).all()
        return WorkingCalendar(dict(rows))

    def overview(self, session):
        """What the admin page shows: the overrides, newest date first, and which of this year and the next the
        package knows (a year it does not know counts Monday to Friday, apart from the overrides)."""
        this_year = china_time(utcnow()).year
        overrides = list(session.exec(select(WorkingDayOverride).order_by(WorkingDayOverride.day.desc())))
        return {"overrides": overrides,
                "years": [{"year": year, "official": package_knows(year),
                           "overrides": sum(1 for row in overrides if row.day.year == year)}
                          for year in range(this_year, this_year + YEARS_SHOWN)]}

    def set_override(self, actor, day, is_working_day, note=""):
        """Mark a date a working day or a day off (replacing an earlier word on it); administrators only."""
        self.access.require_role(actor, "admin")
        day, is_working_day, note = _override_input(day, is_working_day, note)
        with self.db.write() as session:
            row = session.get(WorkingDayOverride, day)
            if row is None:
                row = WorkingDayOverride(day=day, is_working_day=is_working_day, note=note, created_by=actor.username)
            else:
                row.is_working_day, row.note, row.created_by, row.created_at = is_working_day, note, actor.username, utcnow()
            session.add(row)
            return row

    def remove_override(self, actor, day):
        self.access.require_role(actor, "admin")
        day, _, _ = _override_input(day, True, "")
        with self.db.write() as session:
            row = session.get(WorkingDayOverride, day)
            if row is None:
                raise NotFound(f"no override on {day.isoformat()}")
            session.delete(row)


def _override_input(day, is_working_day, note):
    fields = {}
    parsed, problem = read_day(day, "请填写日期（YYYY-MM-DD）")
    if problem:
        fields["day"] = problem
    if not isinstance(is_working_day, bool):
        fields["is_working_day"] = "请选择：工作日或休息日"
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > NOTE_LENGTH:
        fields["note"] = f"最多 {NOTE_LENGTH} 字"
    elif problem := hidden_characters_error(note):
        fields["note"] = problem
    if fields:
        raise ValidationFailed("the override needs a date and whether it is a working day", fields)
    return parsed, is_working_day, note
