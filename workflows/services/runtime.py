"""Runtime: start process instances, load them, run engine steps, save them.

One state change is one database transaction: load the instance row (its ``version``
column is the optimistic lock), change the workflow, run engine steps, save the state,
bring the task rows in step, append history. Nothing is saved when a step fails, so a
SpiffWorkflow task left in ERROR never reaches the database.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from ..errors import Conflict, DomainError, NotFound
from ..models import ProcessInstance, utcnow
from ..engine.spiff import SERIALIZER_VERSION, SpecCache, dump_workflow, load_workflow, new_workflow, script_engine


class ProcessFailed(DomainError):
    """A script, condition or decision in the diagram failed; the instance is marked as erroring."""

    code = "process_error"


@dataclass
class StepContext:
    """What one step's scripts asked for (e.g. a reminder), recorded as history in the same transaction."""

    actor: str
    effects: list = field(default_factory=list)

    def functions(self):
        return {"remind_customer": lambda: self.effects.append(("customer_reminder", {}))}


class RuntimeService:
    def __init__(self, repository, tasks, history):
        self.repository = repository
        self.tasks = tasks
        self.history = history
        self.specs = SpecCache()
        self.step_listeners = []  # callables(session, instance, workflow) run inside each step's transaction

    def start(self, session, key, business_key, contract_id, data, actor):
        definition = self.repository.latest(session, key)
        context = StepContext(actor)
        workflow = new_workflow(self.specs.get(definition), script_engine(context.functions()))
        workflow.data.update(data)
        workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
        instance = ProcessInstance(definition_id=definition.id, business_key=str(business_key),
                                   serializer_version=SERIALIZER_VERSION, state_json="{}")
        session.add(instance)
        session.flush()
        self.history.record(session, "process_started", actor, contract_id=contract_id, instance_id=instance.id,
                            details={"definition": definition.key, "version": definition.version})
        self._advance(session, instance, workflow, context, contract_id)
        return instance

    def load(self, session, instance_id, actor):
        instance = session.get(ProcessInstance, instance_id)
        if instance is None:
            raise NotFound(f"no process instance {instance_id}")
        context = StepContext(actor)
        definition = self.repository.get(session, instance.definition_id)
        workflow = load_workflow(instance.state_json, instance.serializer_version, definition,
                                 self.specs.get(definition), script_engine(context.functions()))
        return instance, workflow, context

    def run_task(self, session, instance, workflow, context, task_id, data, contract_id):
        """Complete one ready user task with data, then run the engine until it waits again."""
        task = workflow.get_task_from_id(task_id)
        task.set_data(**data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise ProcessFailed(_describe(exc)) from exc
        self._advance(session, instance, workflow, context, contract_id)

    def fire_due_timers(self, session, instance, workflow, context, at, contract_id):
        """Fire every timer due at ``at``. The sweeper's clock, not the wall clock, decides what is due."""
        fired = []
        for task in waiting_timers(workflow):
            due = timer_due(task)
            if due is not None and due <= at:
                definition = task.task_spec.event_definition
                if isinstance(definition, CycleTimerEventDefinition):
                    value = dict(task._get_internal_data("event_value"))
                    value["next"] = datetime.now(timezone.utc).isoformat()
                    task._set_internal_data(event_value=value)
                else:
                    task._set_internal_data(event_fired=True)
                fired.append(task)
        if not fired:
            return []
        workflow.refresh_waiting_tasks()
        for task in fired:
            self.history.record(session, "timer_fired", context.actor, contract_id=contract_id, instance_id=instance.id,
                                task_id=str(task.id), task_name=task.task_spec.bpmn_name or task.task_spec.name)
        self._advance(session, instance, workflow, context, contract_id)
        return fired

    def _advance(self, session, instance, workflow, context, contract_id):
        try:
            workflow.do_engine_steps()
        except SpiffWorkflowException as exc:
            raise ProcessFailed(_describe(exc)) from exc
        now = utcnow()
        instance.state_json = dump_workflow(workflow)
        instance.serializer_version = SERIALIZER_VERSION
        instance.updated_at = now
        instance.next_timer_at = next_timer_at(workflow)
        if workflow.is_completed():
            instance.status = "completed"
            instance.completed_at = now
        self.tasks.sync(session, instance, workflow, contract_id)
        for event, details in context.effects:
            self.history.record(session, event, "system", contract_id=contract_id, instance_id=instance.id,
                                details=details)
        context.effects.clear()
        for listener in self.step_listeners:
            listener(session, instance, workflow)
        try:
            session.flush()
        except StaleDataError as exc:
            raise Conflict("this contract was changed by someone else at the same moment; reload and try again") from exc

    def mark_failed(self, db, instance_id, message):
        """Record a failed step in its own transaction (the step itself was rolled back)."""
        with db.write() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is not None:
                instance.status = "error"
                instance.error = message[:2000]


def waiting_timers(workflow):
    return [task for task in workflow.get_tasks(state=TaskState.WAITING)
            if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)]


def timer_due(task):
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):  # a cycle: the next occurrence
        value = value.get("next") if value.get("cycles") != 0 else None
    if not value:
        return None
    due = datetime.fromisoformat(value)
    return due if due.tzinfo else due.replace(tzinfo=timezone.utc)


def next_timer_at(workflow):
    dues = [due for due in map(timer_due, waiting_timers(workflow)) if due is not None]
    return min(dues) if dues else None


def _describe(exc):
    task = getattr(exc, "task", None)
    where = f" at {task.task_spec.bpmn_id or task.task_spec.name} ({task.task_spec.bpmn_name or ''})" if task else ""
    return f"the process failed{where}: {exc}"
