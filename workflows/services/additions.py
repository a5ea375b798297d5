"""加签: a step's reviewer asks another reviewer, before or after their own decision.

Who else a reviewer asks is decided case by case, so it stays out of the diagram and out of the engine's state: the
added reviewer gets a ``human_task`` row of their own (the same inbox, page, claim and history as any task), linked
by a ``task_addition`` row to the step's task, which stays ready in the engine. While the addition is open a task
guard refuses every decision on the step, and adding moves the instance's version, so a decision that read the step
before loses with a 409. The added reviewer decides with the step's own form: ``return`` is the step's return, in
their name; ``approve`` gives the step back to its reviewer (before), or, when the reviewer approved on adding
(after), completes the step with that approval, so the process moves on only once both approved.
"""
from uuid import uuid4

from sqlalchemy.exc import IntegrityError

from ..clock import utcnow
from ..db import Statement
from ..errors import Conflict, ValidationFailed
from ..models import HumanTask, TaskAddition
from .tasks import (COMPLETE_TASK, DEFAULT_DUE_IN, INSERT_TASK, SELECT_TASK_AND_INSTANCE, due_from, substitution,
                    task_properties)

POSITIONS = ("before", "after")
REVIEWER_ROLES = ("legal", "finance", "sales", "provider")  # the roles an added reviewer's task can be filed under
# what a task row is to additions, in one statement (every decision asks): an added reviewer's task, or a step waiting
RELATED = Statement("SELECT a.id, a.step_task_id, a.open_step, a.position, a.added_by, t.assignee FROM task_addition a "
                    "JOIN human_task t ON t.id = a.id WHERE a.id = :id OR a.open_step = :id")
CLOSE_ADDITION = Statement("UPDATE task_addition SET open_step = NULL WHERE id = :id AND open_step IS NOT NULL")
CANCEL_LEFT_BEHIND = Statement("UPDATE human_task SET state = 'cancelled', completed_at = :now WHERE state = 'open' "
                               "AND id IN (SELECT id FROM task_addition WHERE open_step IN (:ids))", lists=["ids"],
                               now=HumanTask.__table__.c.completed_at)
CLOSE_LEFT_BEHIND = Statement("UPDATE task_addition SET open_step = NULL WHERE open_step IN (:ids)", lists=["ids"])


class AdditionService:
    def __init__(self, tasks, runtime, history):
        self.tasks = tasks
        self.runtime = runtime
        self.history = history

    def of(self, session, task_id, version=None):
        """The addition a task row is the added reviewer's work of, or None (a step of the diagram)."""
        return next((row for row in self._related(session, task_id, version) if row.id == str(task_id)), None)

    def _related(self, session, task_id, version=None):
        """The additions a task is, or waits for; read once per transaction and task (the guard asks again).
        ``version``: the instance's version read with the task. Rows kept under another one are read again: a step
        saved on version N must see every addition committed before N was read (an addition moves the version)."""
        known = session.info.setdefault("task_additions", {})
        kept = known.get(str(task_id))
        if kept is None or (version is not None and kept[0] != version):
            kept = known[str(task_id)] = (version, RELATED.rows(session, {"id": str(task_id)}))
        return kept[1]

    def add(self, session, step, actor, reviewer, position, reason, details=None):
        """The added reviewer's task for ``step`` (a row of ``SELECT_TASK_AND_INSTANCE`` the actor may decide now)."""
        if position not in POSITIONS:
            raise ValidationFailed("add the reviewer before or after you", {"position": "before or after"})
        roles = [r for r in REVIEWER_ROLES if r in reviewer.role_set]
        if not roles or reviewer.username == actor.username:
            raise ValidationFailed("choose another reviewer", {"reviewer": "another active member of staff"})
        now = utcnow()
        spec = self.runtime.task_spec(session, step.instance_id, step.name)
        named, absence = self.tasks.named_for(session, reviewer.username, now)  # away: their substitute's
        if named == actor.username:
            raise ValidationFailed("choose another reviewer", {"reviewer": "away, and their substitute is you"})
        row = {"id": str(uuid4()), "instance_id": step.instance_id, "contract_id": step.contract_id, "name": step.name,
               "title": f"{step.title}（加签）", "role": step.role if step.role in roles else roles[0], "state": "open",
               "assignee": named, "created_at": now,
               "due_at": due_from(now, task_properties(spec).get("due_in") or DEFAULT_DUE_IN),
               "completed_at": None, "completed_by": None, "decision": None,
               "delegated_by": reviewer.username if absence else None,
               "candidate": named, "step_id": None,  # named for the added reviewer: theirs alone
               "escalated_at": None, "escalated_to": None}
        INSERT_TASK.execute_many(session, [row])
        session.add(TaskAddition(id=row["id"], step_task_id=step.id, open_step=step.id, position=position,
                                 added_by=actor.username, reason=reason, created_at=now))
        session.info.pop("task_additions", None)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict("another reviewer was added to this step at the same moment") from exc
        self.runtime.touch(session, step.instance_id, step.version)
        self.history.record(session, "reviewer_added", actor.username, contract_id=step.contract_id,
                            instance_id=step.instance_id, task_id=step.id, task_name=step.name, comment=reason,
                            decision="approve" if position == "after" else None,
                            details={"title": step.title, "position": position, "to": reviewer.username,
                                     "task": row["id"], **(details or {})})
        if absence is not None:
            self.history.record(session, **substitution(row, reviewer.username, absence), contract_id=step.contract_id,
                                instance_id=step.instance_id)
        return self.tasks.get(session, row["id"])

    def waiting_on(self, session, task_id):
        """The open addition a step waits for (its ``assignee`` is the added reviewer), or None."""
        return next((row for row in self._related(session, task_id) if row.open_step == str(task_id)), None)

    def refuse_while_waiting(self, session, task, decision):
        """Task guard: a step waits for the reviewer added to it."""
        waiting = next((row for row in self._related(session, task.id, getattr(task, "version", None))
                        if row.open_step == str(task.id)), None)
        if waiting is not None:
            raise Conflict(f"the step waits for the opinion of the reviewer added to it ({waiting.assignee})")

    def decide(self, session, actor, task, addition, decision, comment, data=None, details=None):
        """The added reviewer's approve or return (``task``: their row, which they may decide now)."""
        decision, comment = self.tasks.validate(session, task, decision, comment)
        if decision not in ("approve", "return"):
            raise ValidationFailed("an added reviewer approves or returns", {"decision": "approve or return"})
        now = utcnow()
        if COMPLETE_TASK.execute(session, {"id": task.id, "now": now, "username": actor.username,
                                           "decision": decision}) != 1 \
                or CLOSE_ADDITION.execute(session, {"id": addition.id}) != 1:
            raise Conflict("the task was decided by someone else at the same moment")
        session.info.pop("task_additions", None)
        self.history.record(session, "task_completed", actor.username, contract_id=task.contract_id,
                            instance_id=task.instance_id, task_id=task.id, task_name=task.name, decision=decision,
                            comment=comment, details={"title": task.title, "role": task.role, "added_by": addition.added_by,
                                                      "position": addition.position, **(details or {})})
        if decision == "return" or addition.position == "after":
            step = self.tasks.get(session, addition.step_task_id, SELECT_TASK_AND_INSTANCE)
            by = actor.username if decision == "return" else addition.added_by
            self.tasks.advance(session, step, by, decision, comment if decision == "return" else "", data,
                               {**(details or {}), "added_reviewer": actor.username})
        return task._replace(state="completed", completed_at=now, completed_by=actor.username, decision=decision)

    def cancel_left_behind(self, session, step):
        """Step listener: an added reviewer's open task goes when its step left without a decision (a timer, a
        migration); a decided step never has one (the guard)."""
        left = step.ready_before - {str(t.id) for t in step.ready} - step.completed_task_ids
        if left:
            CANCEL_LEFT_BEHIND.execute(session, {"ids": sorted(left), "now": utcnow()})
            CLOSE_LEFT_BEHIND.execute(session, {"ids": sorted(left)})
            session.info.pop("task_additions", None)
