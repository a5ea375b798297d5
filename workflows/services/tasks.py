"""Task service: the inbox of open human tasks and the decisions taken on them.

A user task's lane is the role that may act on it. What a task accepts is declared with
the task in the BPMN as ``spiffworkflow:property`` entries:
``decisions`` (comma-separated, e.g. ``approve,return``), ``comment_required`` (the
decisions that need a comment) and ``due_in`` (an ISO 8601 duration such as ``P2D``).
"""
from datetime import timedelta
from uuid import UUID

from sqlalchemy import func
from sqlmodel import select
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import HumanTask, utcnow

MAX_COMMENT = 2000


def task_properties(task_spec):
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {})


def split_list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def due_from(created, duration):
    if not duration:
        return None
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    return created + TimerEventDefinition.get_timedelta_from_start(parsed, created)


class TaskService:
    def __init__(self, history):
        self.history = history
        self.runtime = None  # set by Engine; tasks complete through the runtime

    # --- queries -------------------------------------------------------------
    def query(self, session, roles=None, assignee=None, contract_id=None, state="open", limit=50, offset=0):
        statement = select(HumanTask)
        if state:
            statement = statement.where(HumanTask.state == state)
        if roles is not None:
            statement = statement.where(HumanTask.role.in_(sorted(roles)))
        if assignee is not None:
            statement = statement.where(HumanTask.assignee == assignee)
        if contract_id is not None:
            statement = statement.where(HumanTask.contract_id == contract_id)
        statement = statement.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
        return list(session.exec(statement.limit(limit).offset(offset)))

    def count(self, session, roles, state="open"):
        statement = (select(HumanTask.role, func.count()).where(HumanTask.state == state, HumanTask.role.in_(sorted(roles)))
                     .group_by(HumanTask.role))
        return dict(session.exec(statement).all())

    def get(self, session, task_id):
        task = session.get(HumanTask, str(task_id)) if _is_uuid(task_id) else None
        if task is None:
            raise NotFound(f"no task {task_id}")
        return task

    # --- claiming ------------------------------------------------------------
    def claim(self, session, task_id, user):
        task = self._open_task_for(session, task_id, user)
        if task.assignee and task.assignee != user.username:
            raise Conflict(f"the task is already claimed by {task.assignee}")
        task.assignee = user.username
        self.history.record(session, "task_claimed", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name)
        return task

    def unclaim(self, session, task_id, user):
        task = self._open_task_for(session, task_id, user)
        if task.assignee != user.username and "admin" not in user.role_set:
            raise Forbidden("only the holder of a task or an admin can release it")
        task.assignee = None
        self.history.record(session, "task_unclaimed", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name)
        return task

    # --- completing ----------------------------------------------------------
    def complete(self, session, task_id, user, decision, comment="", data=None):
        """Validate the decision against the task's declared form, then advance the process.

        ``data`` is for domain services only (e.g. the figures routing needs at submit);
        the web layer passes decision and comment alone, so callers cannot inject variables.
        """
        task = self._open_task_for(session, task_id, user)
        if task.assignee and task.assignee != user.username:
            raise Forbidden(f"the task is claimed by {task.assignee}")
        instance, workflow, context = self.runtime.load(session, task.instance_id, user.username)
        spiff_task = workflow.get_task_from_id(UUID(task.id))
        if spiff_task is None or spiff_task.state != TaskState.READY:
            raise Conflict("the task is no longer waiting for a decision")
        properties = task_properties(spiff_task.task_spec)
        decision, comment = self._validate(properties, decision, comment)
        task.state, task.completed_at, task.completed_by, task.decision = "completed", utcnow(), user.username, decision
        self.history.record(session, "task_completed", user.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name,
                            decision=decision, comment=comment, details={"title": task.title, "role": task.role})
        self.runtime.run_task(session, instance, workflow, context, spiff_task.id,
                              {**(data or {}), "decision": decision, "comment": comment}, task.contract_id)
        return task

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
        elif decision in split_list(properties.get("comment_required")) and not comment:
            errors["comment"] = f"a comment is required to {decision}"
        if errors:
            raise ValidationFailed("the decision is not valid for this task", errors)
        return decision, comment

    def _open_task_for(self, session, task_id, user):
        task = self.get(session, task_id)
        if task.role not in user.role_set:
            raise Forbidden(f"this task belongs to the {task.role} role")
        if task.state != "open":
            raise Conflict(f"the task was already {task.state}" + (f" by {task.completed_by}" if task.completed_by else ""))
        return task

    # --- keeping the inbox in step ---------------------------------------------
    def sync(self, session, instance, workflow, contract_id):
        """Insert rows for new ready user tasks; cancel rows whose task is gone (e.g. a timer interrupted it)."""
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        open_rows = session.exec(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "open")).all()
        for row in open_rows:
            if row.id not in ready:
                row.state, row.completed_at = "cancelled", utcnow()
        known = {row.id for row in open_rows}
        for task_id, task in ready.items():
            if task_id in known:
                continue
            created = utcnow()
            spec = task.task_spec
            session.add(HumanTask(
                id=task_id, instance_id=instance.id, contract_id=contract_id, name=spec.bpmn_id or spec.name,
                title=spec.bpmn_name or spec.name, role=spec.lane or "", created_at=created,
                due_at=due_from(created, task_properties(spec).get("due_in")),
            ))


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
        "completed_by": task.completed_by, "decision": task.decision,
    }
