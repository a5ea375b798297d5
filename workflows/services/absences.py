"""Out of office (外出) and substitutes (代理).

A member of staff sets a period away and names a substitute who may do the same work (holds each of their work
roles). A task named for them that arrives meanwhile (the approval matrix's approver of a 会签/或签 step, an added
reviewer of 加签, the new approver of 转办) is named for the substitute instead, who decides for them: the task row
keeps the absent person in ``delegated_by`` (shown 王五（代 张三）) and history records ``task_substituted``. A
substitute away too hands on to theirs (a chain: A → B → C gives C); a chain that comes back (A → B → A) has nobody
present on it and leaves the task with the one first named, as does one that reaches an account no longer active.
Role tasks (named for nobody) are untouched.

When a period ends, what was handed on stays with the substitute; ``hand_on`` moves the tasks already open for the
absent person to their substitute now, by 转办, so that history has one kind of entry for it.
"""
from datetime import datetime

from sqlmodel import select

from ..clock import CHINA, aware, utcnow
from ..db import Statement
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Absence, User
from ..visible_text import hidden_characters_error

AWAY_AT = Statement("SELECT id, substitute, starts_at FROM absence WHERE username = :username AND starts_at <= :at "
                    "AND ends_at > :at AND (ended_at IS NULL OR ended_at > :at)", at=Absence.__table__.c.starts_at,
                    columns=[Absence.__table__.c.id, Absence.__table__.c.substitute, Absence.__table__.c.starts_at])
ACTIVE_ROLES = Statement("SELECT roles FROM app_user WHERE username = :username AND active")
WORK_ROLES = ("sales", "legal", "finance", "provider")  # what a substitute must hold of the absent person's roles
MAX_REASON = 500
MAX_CHAIN = 20  # substitutes of substitutes followed at most (a longer chain stops where it got)
HAND_ON_LIMIT = 500  # open tasks one hand-on moves


def effective_end(absence):
    """When the period ends: its end, or the moment it was ended early."""
    return min(aware(absence.ends_at), aware(absence.ended_at)) if absence.ended_at else aware(absence.ends_at)


def absence_status(absence, now):
    """upcoming | current | ended (its time passed, or it was ended early)."""
    if effective_end(absence) <= now or absence.ended_at is not None and aware(absence.ended_at) <= aware(absence.starts_at):
        return "ended"
    return "current" if aware(absence.starts_at) <= now else "upcoming"


def absence_as_dict(absence, now=None):
    now = now or utcnow()
    return {"id": absence.id, "username": absence.username, "substitute": absence.substitute,
            "starts_at": aware(absence.starts_at).isoformat(), "ends_at": aware(absence.ends_at).isoformat(),
            "ended_at": aware(absence.ended_at).isoformat() if absence.ended_at else None, "reason": absence.reason,
            "created_at": aware(absence.created_at).isoformat(), "version": absence.version,
            "status": absence_status(absence, now)}


def work_roles(user):
    return {role for role in WORK_ROLES if role in user.role_set}


class AbsenceService:
    def __init__(self, db, history, tasks, notifications):
        self.db = db
        self.history = history
        self.tasks = tasks
        self.notifications = notifications

    # --- reading ------------------------------------------------------------------------------------------------------
    def list(self, actor, username, include_past=False):
        """The user's periods, current and upcoming first by start (with ``include_past``, the ended ones after)."""
        with self.db.read() as session:
            self._may_manage(session, actor, username)
            return self.periods(session, username, include_past)

    def periods(self, session, username, include_past=False):
        now = utcnow()
        rows = session.exec(select(Absence).where(Absence.username == username).order_by(Absence.starts_at,
                                                                                          Absence.id)).all()
        live = [a for a in rows if absence_status(a, now) != "ended"]
        return live + ([a for a in reversed(rows) if absence_status(a, now) == "ended"] if include_past else [])

    def eligible_substitutes(self, session, username):
        """Active staff other than the user holding each of the user's work roles (any staff for one who has none),
        by name."""
        user = self._user(session, username)
        needed = work_roles(user)
        people = session.exec(select(User).where(User.active, User.username != username)).all()
        return sorted((p for p in people if work_roles(p) and needed <= p.role_set),
                      key=lambda p: (p.display_name or p.username, p.username))

    def away_at(self, session, username, at):
        """The user's period covering ``at`` (its ``id``, ``substitute``, ``starts_at``), or None. Driver-level: a
        step asks inside its pipeline."""
        return AWAY_AT.first(session, {"username": username, "at": at})

    def substitute_for(self, session, username, at=None):
        """(the person a task named for ``username`` goes to at ``at``, the absence that sent it away or None):
        substitutes of substitutes followed; a loop, or an account no longer active on the way, leaves the task with
        ``username`` (see the module's docstring)."""
        at = at or utcnow()
        seen, current, first = [username], username, None
        for _ in range(MAX_CHAIN):
            absence = self.away_at(session, current, at)
            if absence is None:
                return current, first
            first = first or absence
            nxt = absence.substitute
            if nxt in seen or not self._active_staff(session, nxt):
                return username, None
            seen.append(nxt)
            current = nxt
        return current, first

    # --- changing -----------------------------------------------------------------------------------------------------
    def set(self, actor, username, substitute, starts_at, ends_at, reason=""):
        """A new period away; field-level errors change nothing."""
        with self.db.write() as session:
            user = self._may_manage(session, actor, username, lock=True)
            values = self._validated(session, user, substitute, starts_at, ends_at, reason)
            absence = Absence(username=user.username, **values)
            session.add(absence)
            session.flush()
            self._record(session, "absence_set", actor, absence)
            return absence

    def update(self, actor, username, absence_id, version, substitute, starts_at, ends_at, reason=""):
        """Change a period not over yet (compare-and-set on the ``version`` the caller saw: 409 if it moved)."""
        with self.db.write() as session:
            user = self._may_manage(session, actor, username, lock=True)
            absence = self._absence(session, username, absence_id)
            if absence_status(absence, utcnow()) == "ended":
                raise Conflict("this period is over: set a new one")
            if not isinstance(version, int) or isinstance(version, bool):
                raise ValidationFailed("send the version you saw", {"version": "required: a whole number"})
            if version != absence.version:
                raise Conflict("the period was changed by someone else; reload and try again",
                               {"version": f"now {absence.version}"})
            values = self._validated(session, user, substitute, starts_at, ends_at, reason, absence.id)
            for name, value in values.items():
                setattr(absence, name, value)
            absence.version += 1
            session.add(absence)
            self._record(session, "absence_changed", actor, absence)
            return absence

    def end(self, actor, username, absence_id):
        """End a period now (an upcoming one does not start). Tasks already handed on stay with the substitute."""
        with self.db.write() as session:
            self._may_manage(session, actor, username, lock=True)
            absence = self._absence(session, username, absence_id)
            if absence_status(absence, utcnow()) == "ended":
                raise Conflict("this period is already over")
            absence.ended_at = utcnow()
            absence.version += 1
            session.add(absence)
            self._record(session, "absence_ended", actor, absence)
            return absence

    def hand_on(self, actor, username, reason="外出代理"):
        """转办 of the tasks open and named for ``username`` to their substitute: of the period they are away in now,
        else of the next one. Returns (the substitute, the tasks handed on)."""
        with self.db.write() as session:
            self._may_manage(session, actor, username, lock=True)
            now = utcnow()
            period = self.away_at(session, username, now) or next(iter(self.periods(session, username)), None)
            if period is None:
                raise Conflict("set an out-of-office period and a substitute first")
            to, _ = self.substitute_for(session, period.substitute, max(now, aware(period.starts_at)))
            if to == username:
                raise Conflict("the substitute is away too, and their substitute is you: choose another substitute")
            open_tasks = self.tasks.query(session, named=username, limit=HAND_ON_LIMIT)
            handed = []
            for task in open_tasks:
                task, person = self.tasks.transfer(session, task.id, actor, to, reason, for_user=username)
                self.tell(session, person, task)
                handed.append(task)
            return to, handed

    def tell(self, session, person, task):
        """Mail a substitute the task handed to them for someone away (a job, in the caller's transaction)."""
        absent = self._user(session, task.delegated_by)
        name = (absent.display_name if absent is not None else "") or task.delegated_by
        self.notifications.enqueue(session, "task_substituted", person.email, f"[签约] 代理待办：{task.title}",
                                   f"{person.display_name or person.username}，您好：\n\n{name} 外出期间，待办"
                                   f"「{task.title}」由您代为办理。\n\n{self.notifications.base_url}/tasks/{task.id}\n",
                                   task.contract_id)

    # --- rules ----------------------------------------------------------------------------------------------------------
    def _may_manage(self, session, actor, username, lock=False):
        """The user whose periods these are, if ``actor`` is that user or an admin; 404 for a name that is nobody."""
        if actor.username != username and "admin" not in actor.role_set:
            raise Forbidden("only the user themselves or an admin sets their out-of-office periods")
        query = select(User).where(User.username == str(username))
        user = session.exec(query.with_for_update() if lock else query).first()
        if user is None or not user.role_set - {"customer"}:
            raise NotFound(f"no member of staff {username!r}")
        return user

    def _validated(self, session, user, substitute, starts_at, ends_at, reason, absence_id=None):
        errors, now = {}, utcnow()
        starts = _moment(starts_at, "starts_at", errors)
        ends = _moment(ends_at, "ends_at", errors)
        if starts and ends and ends <= starts:
            errors["ends_at"] = "must be after the start"
        elif ends and ends <= now:
            errors["ends_at"] = "must be in the future"
        eligible = {p.username for p in self.eligible_substitutes(session, user.username)}
        if substitute == user.username:
            errors["substitute"] = "someone other than yourself"
        elif not isinstance(substitute, str) or substitute not in eligible:
            errors["substitute"] = "an active member of staff who holds your roles"
        reason = reason.strip() if isinstance(reason, str) else ""
        if len(reason) > MAX_REASON:
            errors["reason"] = f"at most {MAX_REASON} characters"
        elif problem := hidden_characters_error(reason):
            errors["reason"] = problem
        if starts and ends and "ends_at" not in errors:
            clash = next((a for a in self.periods(session, user.username) if a.id != absence_id
                          and aware(a.starts_at) < ends and starts < effective_end(a)), None)
            if clash is not None:
                errors["starts_at"] = (f"overlaps the period from {aware(clash.starts_at).astimezone(CHINA):%Y-%m-%d %H:%M}"
                                       f" to {effective_end(clash).astimezone(CHINA):%Y-%m-%d %H:%M}")
        if errors:
            raise ValidationFailed("the out-of-office period is not valid", errors)
        return {"substitute": substitute, "starts_at": starts, "ends_at": ends, "reason": reason}

    def _record(self, session, event, actor, absence):
        self.history.record(session, event, actor.username, on_behalf_of=absence.username, comment=absence.reason,
                            details={"absence": absence.id, "to": absence.substitute,
                                     "starts_at": aware(absence.starts_at).isoformat(),
                                     "ends_at": effective_end(absence).isoformat()})

    @staticmethod
    def _absence(session, username, absence_id):
        absence = session.get(Absence, absence_id) if isinstance(absence_id, int) else None
        if absence is None or absence.username != username:
            raise NotFound(f"no out-of-office period {absence_id}")
        return absence

    @staticmethod
    def _user(session, username):
        return session.exec(select(User).where(User.username == username)).first()

    @staticmethod
    def _active_staff(session, username):
        roles = ACTIVE_ROLES.scalar(session, {"username": username})
        return roles is not None and any(role in WORK_ROLES for role in roles.split(","))


def _moment(value, field, errors):
    """An aware moment from an ISO 8601 time; one without an offset is China time (what people type)."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        errors[field] = "an ISO 8601 time, e.g. 2027-01-04T09:00 (China time unless it names its offset)"
        return None
    return moment.replace(tzinfo=CHINA) if moment.tzinfo is None else moment
