"""Task service: the inbox of open human tasks and the decisions taken on them.

A user task's lane is the role that may act on it. What a task accepts is declared with
the task in the BPMN as ``spiffworkflow:property`` entries:
``decisions`` (comma-separated, e.g. ``approve,return``), ``comment_required`` (the
decisions that need a comment) and ``due_in`` (an ISO 8601 duration such as ``P2D``), or ``due_at`` (the name of a
process variable holding the deadline as an ISO time, e.g. an amendment's answer due in N working days).

A user task with multi-instance loop characteristics is a step of several approvers (会签: all of them; 或签: any
one, by its completion condition). Each instance's input item names its approver: ``role:<role>`` (a holder of that
role, instead of the lane's) or ``user:<username>`` (that person alone: the row's ``candidate``, held by them from
the start); the rows of one step share its ``step_id``. A task named for someone out of office is named for their
substitute instead (``absences``), with the absent person in ``delegated_by``.
"""
import heapq
from datetime import datetime
from functools import lru_cache
from uuid import UUID

from sqlmodel import select

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..db import Statement, insert_statement
from ..models import HumanTask, User
from ..clock import aware, utcnow
from ..engine.spiff import loop_of
from ..visible_text import hidden_characters_error
from .accounts import ROLES
from .runtime import INSTANCE, INSTANCE_COLUMNS

MAX_COMMENT = 2000
MAX_ROWS = 2**63 - 1  # the largest LIMIT the databases take: a page's reach (offset + limit) is cut to it
TASK = HumanTask.__table__
SELECT_TASK = Statement(f"SELECT {', '.join(c.name for c in TASK.c)} FROM human_task WHERE id = :id", columns=TASK.c)
# the task and its instance's row in one statement: what completing a task reads
SELECT_TASK_AND_INSTANCE = Statement(
    f"SELECT {', '.join('t.' + c.name for c in TASK.c)}, {', '.join('i.' + c for c in INSTANCE_COLUMNS)} "
    "FROM human_task t JOIN process_instance i ON i.id = t.instance_id WHERE t.id = :id",
    columns=[*TASK.c, *(INSTANCE.c[c] for c in INSTANCE_COLUMNS)])
COMPLETE_TASK = Statement("UPDATE human_task SET state = 'completed', completed_at = :now, completed_by = :username, "
                         "decision = :decision WHERE id = :id AND state = 'open'", now=TASK.c.completed_at)
CANCEL_TASKS = Statement("UPDATE human_task SET state = 'cancelled', completed_at = :now WHERE id IN (:ids) AND state = 'open'",
                         lists=["ids"], now=TASK.c.completed_at)
INSERT_TASK = insert_statement(TASK)
REOPEN_TASK = Statement("UPDATE human_task SET state = 'open', assignee = candidate, delegated_by = NULL, completed_at = NULL, "
                        "completed_by = NULL, decision = NULL, escalated_at = NULL, escalated_to = NULL, "
                        "created_at = :created_at, due_at = :due_at WHERE id = :id",
                        created_at=TASK.c.created_at, due_at=TASK.c.due_at)
CANCEL_UNCLAIMED = Statement("UPDATE human_task SET state = 'cancelled', completed_at = :now "
                             "WHERE id IN (:ids) AND state = 'open' AND (assignee IS NULL OR assignee = candidate)",
                             lists=["ids"],
                             now=TASK.c.completed_at)
COUNT_BY_ROLE = Statement("SELECT role, count(*) FROM human_task WHERE state = :state AND role IN (:roles) AND candidate IS NULL "
                          "GROUP BY role",
                          lists=["roles"])
DEFAULT_DUE_IN = "P7D"  # a user task whose diagram sets no due_in still gets a deadline
ASSIGN_TASK = Statement("UPDATE human_task SET assignee = :assignee, delegated_by = :delegated_by "
                       "WHERE id = :id AND state = 'open' "
                       "AND (assignee = :expected OR (assignee IS NULL AND :expected IS NULL))")
HAND_ON_NAMED = Statement("UPDATE human_task SET candidate = :to, assignee = :to, delegated_by = :delegated_by "
                          "WHERE id = :id AND state = 'open' AND candidate = :expected")
STEP_TASKS = Statement(f"SELECT {', '.join(c.name for c in TASK.c)} FROM human_task WHERE step_id IN (:ids) "
                       "ORDER BY created_at, role, candidate, id", columns=TASK.c, lists=["ids"])


def task_properties(task_spec):
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {})


def split_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def task_due_at(task, created):
    """A new task's deadline: the moment the process variable its ``due_at`` property names holds (an ISO time the
    process computed, e.g. N working days), else ``due_in`` (a duration) after it opened."""
    properties = task_properties(task.task_spec)
    named = (properties.get("due_at") or "").strip()
    if named and isinstance(task.data.get(named), str):
        return aware(datetime.fromisoformat(task.data[named]))
    return due_from(created, properties.get("due_in") or DEFAULT_DUE_IN)


def is_for(task, user):
    """Whether the task waits for ``user``: its named approver's alone, else any holder of its role; and the
    supervisor it was escalated to once overdue (超时升级)."""
    if task.escalated_to is not None and task.escalated_to == user.username:
        return True
    return task.candidate == user.username if task.candidate else task.role in user.role_set


def assignment(task):
    """(role, candidate, step_id) of a new ready user task: its lane's role, unless it is one approver of a
    multi-instance step whose input item names a role or a person (see the module's docstring)."""
    spec, parent, loop = task.task_spec, task.parent, loop_of(task)
    lane = spec.lane or ""
    if loop is None:
        return lane, None, None
    item = loop.input_item.get(task) if loop.input_item is not None else None
    kind, _, who = item.partition(":") if isinstance(item, str) else ("", "", "")
    if kind == "role" and who in ROLES:
        return who, None, str(parent.id)
    if kind == "user" and who:
        return lane, who, str(parent.id)
    return lane, None, str(parent.id)


def substitution(row, absent, absence):
    """The history entry of a task named for ``absent`` that went to their substitute (``row``: the task's)."""
    return {"event": "task_substituted", "actor": row["candidate"], "on_behalf_of": absent, "task_id": row["id"],
            "task_name": row["name"], "details": {"title": row["title"], "from": absent, "to": row["candidate"],
                                                  "absence": absence.id}}


def due_from(created, duration):
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    return created + TimerEventDefinition.get_timedelta_from_start(parsed, created)


class TaskService:
    def __init__(self, runtime, history):
        self.runtime = runtime  # tasks complete through the runtime
        self.history = history
        self.guards = []  # callables(session, task, decision) that may refuse a decision: declared by the platform
        self.absences = None  # AbsenceService: who a task named for someone away goes to (set by the platform)

    # --- queries -------------------------------------------------------------
    def query(self, session, roles=None, assignee=None, contract_id=None, state="open", limit=50, offset=0,
              for_user=None, named=None, escalated_to=None):
        """Tasks by due date. With one role and state the (state, role, due_at, id, candidate) index yields the page
        directly. ``for_user`` (a username): the roles' tasks named for nobody, and those named for that user;
        ``named`` (a username): only those named for them; ``escalated_to`` (a username): only the overdue tasks
        escalated to them (升级给我), whatever their role."""
        if for_user is not None:  # two parts, each read in its index's order, merged
            reach = min(limit + offset, MAX_ROWS)
            parts = [self.query(session, roles, assignee, contract_id, state, reach, 0),
                     self.query(session, None, assignee, contract_id, state, reach, 0, named=for_user)]
            return list(heapq.merge(*parts, key=lambda task: (task.due_at, task.id)))[offset:offset + limit]
        filters = {"state": state, "roles": sorted(roles) if roles is not None else None, "assignee": assignee,
                   "contract_id": contract_id, "named": named, "escalated_to": escalated_to}
        used = tuple(name for name, value in filters.items() if value is not None)
        return _task_query(used).rows(session, {**{n: filters[n] for n in used}, "limit": limit, "offset": offset})

    def count(self, session, roles, state="open"):
        """Tasks per role, named for nobody (those named for a person are theirs, not the role's)."""
        return dict(COUNT_BY_ROLE.rows(session, {"state": state, "roles": sorted(roles)}))

    def steps(self, session, step_ids):
        """The rows of multi-instance steps (会签/或签), by step id: who decided what, who is still to decide."""
        rows = STEP_TASKS.rows(session, {"ids": sorted(set(step_ids))}) if step_ids else []
        grouped = {}
        for row in rows:
            grouped.setdefault(row.step_id, []).append(row)
        return grouped

    def get(self, session, task_id, statement=SELECT_TASK):
        row = statement.first(session, {"id": str(task_id)}) if _is_uuid(task_id) else None
        if row is None:
            raise NotFound(f"no task {task_id}")
        return row

    # --- claiming ------------------------------------------------------------
    def claim(self, session, task_id, user):
        task = self.open_for(session, task_id, user)
        if task.assignee and task.assignee != user.username:
            raise Conflict(f"the task is already claimed by {task.assignee}")
        task = self._set_assignee(session, task, user.username)
        self.history.record(session, "task_claimed", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name)
        return task

    def unclaim(self, session, task_id, user):
        task = self.open_for(session, task_id, user)
        if task.candidate:
            raise Conflict("a task for a named approver stays with them: delegate it to hand it on")
        if task.assignee != user.username and "admin" not in user.role_set:
            raise Forbidden("only the holder of a task or an admin can release it")
        task = self._set_assignee(session, task, None)
        self.history.record(session, "task_unclaimed", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name)
        return task

    def delegate(self, session, task_id, user, to_username, comment=""):
        """Hand a task to another holder of its role (out of office); history keeps both names."""
        task = self._held_open_task(session, task_id, user, "only the holder of a task or an admin can delegate it")
        original = task.assignee or user.username
        task, delegate = self._hand_on(session, task, to_username, delegated_by=original)
        self.history.record(session, "task_delegated", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name, on_behalf_of=original,
                            comment=comment, details={"from": original, "to": delegate.username})
        return task

    def transfer(self, session, task_id, user, to_username, reason, for_user=None):
        """转办: hand the task over to a named holder of its role, who then decides in their own name (``delegate``
        keeps the first holder as the one decided for); history names both. A task named for a person handed to
        someone out of office goes to their substitute, who decides for them; ``for_user``: the one it is handed on
        for (their own tasks, to their substitute)."""
        task = self._held_open_task(session, task_id, user, "only the holder of a task or an admin can hand it over")
        reason = self.required_text(reason)
        original = task.assignee or user.username
        named, absence = self.named_for(session, str(to_username)) if task.candidate else (to_username, None)
        task, to = self._hand_on(session, task, named, delegated_by=to_username if absence else for_user)
        self.history.record(session, "task_transferred", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name, comment=reason,
                            details={"title": task.title, "from": original, "to": to.username})
        if absence is not None:
            self.history.record(session, **substitution(task._asdict(), to_username, absence),
                                contract_id=task.contract_id, instance_id=task.instance_id)
        return task, to

    def named_for(self, session, username, at=None):
        """(who a task named for ``username`` goes to now, the absence that sent it on or None)."""
        if self.absences is None:
            return username, None
        return self.absences.substitute_for(session, username, at)

    def _held_open_task(self, session, task_id, user, refusal):
        """An open task the user holds or may take (or any, for an admin): what may be handed on."""
        task = self.get(session, task_id)
        if task.state != "open":
            raise Conflict(f"the task was already {task.state}")
        if "admin" not in user.role_set and (not is_for(task, user) or task.assignee not in (None, user.username)):
            raise Forbidden(refusal)
        return task

    def _hand_on(self, session, task, to_username, delegated_by):
        """(the task, the user it went to): a role's task to another holder of the role; a task named for one person
        to any other member of staff, who is then the one named."""
        to = session.exec(select(User).where(User.username == to_username, User.active)).first()
        if task.candidate:
            if to is None or not to.role_set - {"customer"} or to.username == task.candidate:
                raise ValidationFailed("choose another active member of staff",
                                       {"to": f"no other active member of staff {to_username!r}"})
            if HAND_ON_NAMED.execute(session, {"id": task.id, "to": to.username, "expected": task.candidate,
                                               "delegated_by": delegated_by}) != 1:
                raise Conflict("the task changed at the same moment; reload and try again")
            return task._replace(candidate=to.username, assignee=to.username, delegated_by=delegated_by), to
        if to is None or task.role not in to.role_set or to.username == task.assignee:
            raise ValidationFailed("choose another active user who holds the task's role",
                                   {"to": f"no other active user {to_username!r} with the role {task.role}"})
        return self._set_assignee(session, task, to.username, delegated_by=delegated_by), to

    def required_text(self, text, field="reason"):
        """A required free text (a reason, a comment): trimmed, at most ``MAX_COMMENT`` characters, no hidden ones."""
        text = text.strip() if isinstance(text, str) else ""
        problem = ("required" if not text else f"at most {MAX_COMMENT} characters" if len(text) > MAX_COMMENT
                   else hidden_characters_error(text, multiline=True))
        if problem:
            raise ValidationFailed(f"the {field} is not valid", {field: problem})
        return text

    def cancel_unclaimed(self, session, tasks):
        """Cancel open tasks nobody holds, or none (Conflict): the row lock the update takes makes a claim at the same
        moment either come first (and this refuses) or find the task cancelled."""
        changed = CANCEL_UNCLAIMED.execute(session, {"ids": sorted(t.id for t in tasks), "now": utcnow()})
        if changed != len(tasks):
            raise Conflict("a reviewer took the task up at the same moment; it can no longer be withdrawn")

    def _set_assignee(self, session, task, username, delegated_by=None):
        changed = ASSIGN_TASK.execute(session, {"id": task.id, "assignee": username, "expected": task.assignee,
                                                "delegated_by": delegated_by})
        if changed != 1:
            raise Conflict("the task changed at the same moment; reload and try again")
        return task._replace(assignee=username, delegated_by=delegated_by)

    def form(self, session, task):
        """What the diagram declares for this user task: its decisions and which of them need a comment."""
        spec = self.runtime.task_spec(session, task.instance_id, task.name)
        properties = task_properties(spec) if spec is not None else {}
        return {"decisions": split_list(properties.get("decisions")),
                "comment_required": split_list(properties.get("comment_required")),
                "signature": (properties.get("signature") or "").strip()}  # customer | provider: needs a signature

    # --- completing ----------------------------------------------------------
    def complete(self, session, task_id, user, decision, comment="", data=None, details=None):
        """Validate the decision against the task's declared form, then advance the process.

        ``data`` are process variables the use case hands over (the figures routing needs, with every decision);
        callers from outside pass decision and comment alone, so nobody can inject variables. ``details`` are kept
        with the decision in the history (e.g. the SHA-256 of the document decided on).
        """
        task = self.check(session, task_id, user, decision, SELECT_TASK_AND_INSTANCE)
        return self.advance(session, task, user.username, decision, comment, data, details)

    def advance(self, session, task, username, decision, comment="", data=None, details=None):
        """Complete the step's task (a row of ``SELECT_TASK_AND_INSTANCE``) as ``username`` and run the process on,
        without asking who may: :meth:`complete` asked, or an added reviewer's decision stands for the step's."""
        step = self.runtime.restore(session, task.instance_id, task, username)
        spiff_task = step.workflow.get_task_from_id(UUID(task.id))
        if spiff_task is None or spiff_task.state != TaskState.READY:
            raise Conflict("the task is no longer waiting for a decision")
        decision, comment = self._validate(task_properties(spiff_task.task_spec), decision, comment)
        now = utcnow()
        step.decisions.append({"id": task.id, "now": now, "username": username, "decision": decision})
        task = task._replace(state="completed", completed_at=now, completed_by=username, decision=decision)
        step.events.append({"event": "task_completed", "actor": username, "task_id": task.id, "task_name": task.name,
                            "decision": decision, "comment": comment, "on_behalf_of": task.delegated_by,
                            "details": {"title": task.title, "role": task.role, **(details or {})}})
        self.runtime.run_task(session, step, spiff_task.id, {**(data or {}), "decision": decision, "comment": comment})
        return task

    def validate(self, session, task, decision, comment):
        """(decision, comment) checked against what the diagram declares on the task's step; ValidationFailed if not."""
        spec = self.runtime.task_spec(session, task.instance_id, task.name)
        return self._validate(task_properties(spec) if spec is not None else {}, decision, comment)

    def _validate(self, properties, decision, comment):
        allowed = split_list(properties.get("decisions"))
        errors = {}
        if not isinstance(decision, str) or decision not in allowed:
            errors["decision"] = f"must be one of: {', '.join(allowed)}"
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            errors["comment"] = "must be text"
            comment = ""
        comment = comment.strip()
        if len(comment) > MAX_COMMENT:
            errors["comment"] = f"at most {MAX_COMMENT} characters"
        elif hidden := hidden_characters_error(comment, multiline=True):
            errors["comment"] = hidden
        elif decision in split_list(properties.get("comment_required")) and not comment:
            errors["comment"] = f"a comment is required to {decision}"
        if errors:
            raise ValidationFailed("the decision is not valid for this task", errors)
        return decision, comment

    def check(self, session, task_id, user, decision, statement=SELECT_TASK):
        """The task, if ``user`` may make ``decision`` on it now: open, in their role, not held by someone else, and
        every guard agrees. A signing act asks before its slow work; :meth:`complete` asks again inside the step."""
        task = self.open_for(session, task_id, user, statement)
        if task.assignee and task.assignee != user.username and task.escalated_to != user.username:
            raise Forbidden(f"the task is claimed by {task.assignee}")
        for guard in self.guards:
            guard(session, task, decision)
        return task

    def open_for(self, session, task_id, user, statement=SELECT_TASK):
        """The task, if it waits for a decision and is for ``user`` (their role's, or named for them); Forbidden or
        Conflict otherwise."""
        task = self.get(session, task_id, statement)
        if not is_for(task, user):
            raise Forbidden(f"this task is for {task.candidate}" if task.candidate
                            else f"this task belongs to the {task.role} role")
        if task.state == "suspended":
            raise Conflict("the process stopped on an error and waits for an administrator: "
                           + (self.runtime.error_of(session, task.instance_id) or "unknown error"))
        if task.state != "open":
            raise Conflict(f"the task was already {task.state}" + (f" by {task.completed_by}" if task.completed_by else ""))
        return task

    # --- keeping the inbox in step ---------------------------------------------
    def sync(self, session, step, pipeline):
        """Mark decided rows completed, insert rows for new ready user tasks, cancel rows whose task is gone (e.g. a
        timer interrupted it); all sent in the step's pipeline.

        The open rows of an instance are exactly its ready user tasks before the step, so the
        difference is computed from the workflow alone, without reading the rows back.
        """
        for decided in step.decisions:
            pipeline.send(COMPLETE_TASK, decided, expect_one="the task was completed by someone else at the same moment")
        ready = {str(t.id): t for t in step.ready}
        gone = step.ready_before - set(ready) - step.completed_task_ids
        if gone:
            pipeline.send(CANCEL_TASKS, {"ids": sorted(gone), "now": utcnow()})
        created = utcnow()
        new_rows, reopened = [], []
        for task_id, task in ready.items():
            if task_id in step.ready_before:
                continue
            spec = task.task_spec
            role, candidate, step_id = assignment(task)
            named, absence = self.named_for(session, candidate, created) \
                if candidate and task_id not in step.reopened else (candidate, None)
            row = {"id": task_id, "instance_id": step.instance_id, "contract_id": step.contract_id,
                   "name": spec.bpmn_id or spec.name, "title": spec.bpmn_name or spec.name,
                   "role": role, "state": "open", "assignee": named, "created_at": created,
                   "due_at": task_due_at(task, created),
                   "completed_at": None, "completed_by": None, "decision": None,
                   "delegated_by": candidate if absence else None, "candidate": named, "step_id": step_id,
                   "escalated_at": None, "escalated_to": None}
            (reopened if task_id in step.reopened else new_rows).append(row)
            if absence is not None:
                step.events.append(substitution(row, candidate, absence))
        if new_rows:
            INSERT_TASK.execute_many(session, new_rows)
        for row in reopened:  # a task the engine was reset to keeps its id: its row waits again
            pipeline.send(REOPEN_TASK, {"id": row["id"], "created_at": created, "due_at": row["due_at"]})
        step.new_tasks = new_rows + reopened


@lru_cache(maxsize=32)
def _task_query(filters):
    """The inbox statement for one combination of filters (fixed SQL fragments, values bound)."""
    clauses = {"state": "state = :state", "roles": "role IN (:roles) AND candidate IS NULL",
               "assignee": "assignee = :assignee", "contract_id": "contract_id = :contract_id",
               "named": "candidate = :named", "escalated_to": "escalated_to = :escalated_to"}
    where = " AND ".join(clauses[name] for name in filters) or "1 = 1"
    sql = f"SELECT {', '.join(c.name for c in TASK.c)} FROM human_task WHERE {where} ORDER BY due_at, id LIMIT :limit OFFSET :offset"
    return Statement(sql, columns=TASK.c, lists=["roles"] if "roles" in filters else ())


def _is_uuid(value):
    try:
        UUID(str(value))
        return True
    except ValueError:
        return False


def task_as_dict(task):
    return {
        "id": task.id, "name": task.name, "title": task.title, "role": task.role, "state": task.state,
        "contract_id": task.contract_id, "assignee": task.assignee, "created_at": task.created_at.isoformat(),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
        "completed_by": task.completed_by, "decision": task.decision, "delegated_by": task.delegated_by,
        "candidate": task.candidate, "step_id": task.step_id,
        "escalated_at": task.escalated_at.isoformat() if task.escalated_at else None, "escalated_to": task.escalated_to,
    }
