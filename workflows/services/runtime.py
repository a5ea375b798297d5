"""Runtime: start process instances, load them, run engine steps, save them.

One state change is one database transaction: load the instance row (its ``version``
column is the optimistic lock), change the workflow, run engine steps, save the state,
bring the task rows in step, append history. Nothing is saved when a step fails, so a
SpiffWorkflow task left in ERROR never reaches the database; the runtime itself then records
the incident in a transaction of its own, whichever entry point ran the step.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition
from SpiffWorkflow.util.task import TaskState

from ..db import Pipeline, Statement, after_commit, after_rollback, insert_statement
from ..errors import Conflict, DomainError, NotFound
from ..models import ProcessInstance
from ..clock import utcnow
from ..engine.spiff import (SERIALIZER_VERSION, SpecCache, StateTooLarge, WorkflowCache, dump_workflow, load_workflow,
                            drop_instance_item, new_workflow, script_engine, user_task_spec)

INSTANCE = ProcessInstance.__table__
INSTANCE_COLUMNS = ("definition_id", "business_key", "version", "state_json", "serializer_version", "status")
LOAD_INSTANCE = Statement(f"SELECT {', '.join(INSTANCE_COLUMNS)} FROM process_instance WHERE id = :id")
INSERT_INSTANCE = insert_statement(INSTANCE, exclude=("id",), returning="id")
SAVE_INSTANCE = Statement(
    "UPDATE process_instance SET state_json = :state_json, serializer_version = :serializer_version, "
    "status = :status, updated_at = :updated_at, completed_at = :completed_at, next_timer_at = :next_timer_at, "
    "version = :version + 1 WHERE id = :id AND version = :version",
    updated_at=INSTANCE.c.updated_at, completed_at=INSTANCE.c.completed_at, next_timer_at=INSTANCE.c.next_timer_at)
TOUCH_INSTANCE = Statement("UPDATE process_instance SET version = version + 1, updated_at = :now "
                           "WHERE id = :id AND version = :version AND status = 'running'", now=INSTANCE.c.updated_at)
NEXT_TIMER = Statement("SELECT next_timer_at FROM process_instance WHERE id = :id AND status = 'running'",
                       columns=(INSTANCE.c.next_timer_at,))
TIMER = "process.timer"  # a timer is a job due when the timer is (Camunda): one per instance, at its next timer
INSTANCE_DEFINITION = Statement("SELECT definition_id FROM process_instance WHERE id = :id")
MARK_FAILED = Statement("UPDATE process_instance SET status = 'error', error = :error, version = version + 1, "
                        "updated_at = :now WHERE id = :id AND status = 'running'", now=INSTANCE.c.updated_at)
RESUME_INSTANCE = Statement("UPDATE process_instance SET status = 'running', error = '', version = version + 1, "
                            "updated_at = :now WHERE id = :id AND status = 'error'", now=INSTANCE.c.updated_at)
INSTANCE_ERROR = Statement("SELECT business_key, status, error FROM process_instance WHERE id = :id")
ERRORING_FOR_KEY = Statement("SELECT id, error FROM process_instance WHERE business_key = :key AND status = 'error'")
# an erroring instance's open tasks leave every inbox until it runs again
SUSPEND_TASKS = Statement("UPDATE human_task SET state = 'suspended' WHERE instance_id = :id AND state = 'open'")
REOPEN_TASKS = Statement("UPDATE human_task SET state = 'open' WHERE instance_id = :id AND state = 'suspended'")


class ProcessFailed(DomainError):
    """A script, condition or decision in the diagram failed; the runtime marks the instance as erroring."""

    code = "process_error"


@dataclass
class Step:
    """One state change of one instance: the loaded workflow and what the step will write."""

    instance_id: int | None
    definition_id: int
    business_key: str
    version: int
    workflow: object
    actor: str
    contract_id: int | None
    ready_before: frozenset = frozenset()
    events: list = field(default_factory=list)  # history rows written with the step
    completed_task_ids: set = field(default_factory=set)
    decisions: list = field(default_factory=list)  # task rows to mark completed: {id, now, username, decision}
    reopened: set = field(default_factory=set)  # completed tasks the engine was reset to: their rows open again
    ready: list = field(default_factory=list)  # ready user tasks once the engine waits again
    timers: list = field(default_factory=list)  # waiting timer events, likewise
    new_tasks: list = field(default_factory=list)  # task rows this step created (for listeners)
    session: object = None  # the step's transaction, for functions that read or write the database
    providers: dict = field(default_factory=dict)  # name -> callable(step, *args): functions other services add
    completed: bool = False  # the workflow finished (as of the last survey)

    @property
    def of_contract(self):
        """Whether this is the contract's own process (approval, signing, its term), not another process about the
        contract (an amendment's): the contract's status, invitation and document follow only its own."""
        return self.contract_id is not None and self.business_key == str(self.contract_id)

    def survey(self):
        """One pass over the task tree for what the step writes (each get_tasks walks the whole tree)."""
        self.ready, self.timers = [], []
        for task in self.workflow.get_tasks_iterator(state=TaskState.READY | TaskState.WAITING):
            if task.state == TaskState.READY and task.task_spec.manual:
                self.ready.append(task)
            elif task.state == TaskState.WAITING and is_timer(task):
                self.timers.append(task)
        self.completed = self.workflow.is_completed()

    def functions(self):
        """What scripts in the diagram may call; each records its effect as history in the same transaction.

        Services add their own through ``RuntimeService.functions`` (e.g. ``activation_check``); they receive the step.
        """
        functions = {"remind_customer": lambda: self.events.append({"event": "customer_reminder", "actor": "system"})}
        for name, function in self.providers.items():
            functions[name] = (lambda f: lambda *args: f(self, *args))(function)
        return functions


class RuntimeService:
    def __init__(self, db, repository, history, jobs):
        self.db = db
        self.repository = repository
        self.history = history
        self.jobs = jobs
        self.tasks = None  # the inbox (TaskService) keeps its rows in step with each save: set by the platform
        self.specs = SpecCache()
        self.workflows = WorkflowCache()
        self.step_listeners = []  # callables(session, step) run inside each step's transaction
        self.functions = {}  # name -> callable(step, *args): more functions the diagram's scripts may call
        # callable(session, contract_id) -> dict: the data an instance lifted into a subprocess of a newer version
        # needs that its own version never set (``migration``; the platform's: the term's moments)
        self.lift_data = None

    def start(self, session, key, business_key, contract_id, data, actor):
        definition = self.repository.latest(session, key)
        step = Step(None, definition.id, str(business_key), 0, None, actor, contract_id, session=session,
                    providers=self.functions)
        step.workflow = new_workflow(self.specs.get(definition), script_engine(step.functions()))
        step.workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
        step.events.append({"event": "process_started", "actor": actor,
                            "details": {"definition": definition.key, "version": definition.version}})
        self._advance(step)
        self._save(session, step)
        return step

    def load(self, session, instance_id, actor):
        row = LOAD_INSTANCE.first(session, {"id": instance_id})
        if row is None:
            raise NotFound(f"no process instance {instance_id}")
        return self.restore(session, instance_id, row, actor)

    def restore(self, session, instance_id, row, actor):
        """The step for an instance row already read (``INSTANCE_COLUMNS``, e.g. joined to the task being completed)."""
        if row.status != "running":
            raise Conflict(f"the process has {row.status}")
        definition = self.repository.get(session, row.definition_id)
        key = row.business_key
        step = Step(instance_id, row.definition_id, key, row.version, None, actor, contract_of(key), session=session,
                    providers=self.functions)
        engine = script_engine(step.functions())
        cached = self.workflows.take(instance_id, row.version)
        if cached is None:
            step.workflow = load_workflow(row.state_json, row.serializer_version, definition, self.specs.get(definition),
                                          engine)
            step.survey()
        else:  # the workflow as the last committed step left it, with that step's survey
            step.workflow, step.ready, step.timers, step.completed = cached
        step.workflow.script_engine = engine
        step.ready_before = frozenset(str(t.id) for t in step.ready)
        return step

    def snapshot(self, session, instance_id):
        """The instance's workflow as last saved, to read (e.g. the steps it passed), never to run: restored anew, so
        the cached one stays for the next step."""
        row = LOAD_INSTANCE.first(session, {"id": instance_id})
        if row is None:
            raise NotFound(f"no process instance {instance_id}")
        definition = self.repository.get(session, row.definition_id)
        return load_workflow(row.state_json, row.serializer_version, definition, self.specs.get(definition),
                             script_engine({}))

    def task_spec(self, session, instance_id, task_name):
        """A task's spec from the instance's definition version (cached; no workflow is restored)."""
        row = INSTANCE_DEFINITION.first(session, {"id": instance_id})
        if row is None:
            return None
        spec, _ = self.specs.get(self.repository.get(session, row[0]))
        return user_task_spec(spec, task_name)

    def run_task(self, session, step, task_id, data):
        """Complete one ready user task with data, then run the engine until it waits again."""
        task = step.workflow.get_task_from_id(task_id)
        task.set_data(**data)
        drop_instance_item(task)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise self._failed(step, exc) from exc
        step.completed_task_ids.add(str(task_id))
        self._advance(step)
        self._save(session, step)

    def reset(self, session, step, task_id):
        """Take the instance back to a user task it completed (回退, 撤回), then run it until it waits: SpiffWorkflow
        drops every task that came after it and makes it ready again under its own id (its inbox row reopens); what
        was open after it (the step that sent it back) is cancelled as any task that leaves. The timers of the
        dropped tasks (a review's 审核超时) leave the engine's waiting events too: SpiffWorkflow keeps them there, and
        they would be updated with no parent (the instance's timer job then finds no timer, or a later one)."""
        try:
            dropped = step.workflow.reset_from_task_id(task_id)
        except SpiffWorkflowException as exc:
            raise self._failed(step, exc) from exc
        for task in dropped:
            step.workflow.event_manager.remove_task(task)
        step.reopened.add(str(task_id))
        self._advance(step)
        self._save(session, step)

    def touch(self, session, instance_id, version):
        """A new version of a running instance without an engine step, when something outside the diagram now
        gates one of its tasks (加签): a step that read the older version then fails with a conflict."""
        if TOUCH_INSTANCE.execute(session, {"id": instance_id, "version": version, "now": utcnow()}) != 1:
            raise Conflict("this contract was changed by someone else at the same moment; reload and try again")

    def fire_due_timers(self, session, step, at):
        """Fire every timer due at ``at``. The sweeper's clock, not the wall clock, decides what is due."""
        fired = []
        for task in step.timers:
            due = timer_due(task)
            if due is not None and due <= at:
                if isinstance(task.task_spec.event_definition, CycleTimerEventDefinition):
                    value = dict(task._get_internal_data("event_value"))
                    value["next"] = datetime.now(timezone.utc).isoformat()
                    task._set_internal_data(event_value=value)
                else:
                    task._set_internal_data(event_fired=True)
                fired.append(task)
                step.events.append({"event": "timer_fired", "actor": step.actor, "task_id": str(task.id),
                                    "task_name": task.task_spec.bpmn_name or task.task_spec.name})
        if fired:
            step.workflow.refresh_waiting_tasks()
            self._advance(step)
            self._save(session, step)
        return fired

    def signal(self, session, step, name, payload, at):
        """Deliver the BPMN signal ``name`` (its ``payload`` becomes the catching event's variable) and run the engine;
        what catches it, and what follows, is the diagram's. A timer the signal leads to that is due at ``at`` already
        fires in the same step. Conflict when nothing in the instance waits for the signal now."""
        try:
            step.workflow.send_event(BpmnEvent(SignalEventDefinition(name), payload=payload))
        except WorkflowException as exc:
            raise Conflict(f"the process is not waiting for {name} (it has moved past the step that takes it, or runs "
                           "on a diagram version without it)") from exc
        self._advance(step)
        step.survey()
        if not self.fire_due_timers(session, step, at):
            self._save(session, step)

    @staticmethod
    def waits_for(step, name):
        """Whether something in the instance waits for the BPMN signal (or message) ``name`` now."""
        return any(event.name == name for event in step.workflow.waiting_events())

    def _advance(self, step):
        try:
            step.workflow.do_engine_steps()
        except SpiffWorkflowException as exc:
            raise self._failed(step, exc) from exc

    def _failed(self, step, exc):
        """The error for the caller; once the step's transaction has rolled back, the incident is recorded (an
        instance that never saved, one failing at its start, has nothing to mark)."""
        message = _describe(exc)
        if step.instance_id is not None:
            after_rollback(step.session, lambda: self.mark_failed(step.instance_id, message))
        return ProcessFailed(message)

    def _save(self, session, step):
        """Write the step: the versioned instance row and the task rows (sent together), then listeners and history."""
        now = utcnow()
        step.survey()
        try:
            state_json = dump_workflow(step.workflow)
        except StateTooLarge as exc:
            raise self._failed(step, exc) from exc
        values = {"state_json": state_json, "serializer_version": SERIALIZER_VERSION,
                  "status": "completed" if step.completed else "running", "updated_at": now,
                  "completed_at": now if step.completed else None, "next_timer_at": next_timer_at(step.timers)}
        with Pipeline(session) as pipeline:
            if step.instance_id is None:
                step.instance_id = INSERT_INSTANCE.scalar(session, {
                    **values, "definition_id": step.definition_id, "business_key": step.business_key, "version": 1,
                    "error": "", "created_at": now})
            else:
                pipeline.send(SAVE_INSTANCE, {**values, "id": step.instance_id, "version": step.version},
                              expect_one="this contract was changed by someone else at the same moment; reload and try again")
            self.tasks.sync(session, step, pipeline)
        if values["status"] == "running":
            self.schedule_timer(session, step.instance_id, step.contract_id, values["next_timer_at"])
        step.version += 1
        survey = (step.workflow, step.ready, step.timers, step.completed)
        after_commit(session, lambda: self.workflows.put(step.instance_id, step.version, survey))
        for listener in self.step_listeners:  # listeners may read step.events and append their own
            listener(session, step)
        self.history.record_many(session, step.events, contract_id=step.contract_id, instance_id=step.instance_id, at=now)
        step.events = []

    def schedule_timer(self, session, instance_id, contract_id, due):
        """Make sure the instance's timer job is due at ``due`` (its next timer; nothing when None), in the caller's
        transaction. One job per instance (its dedupe key): a timer moved earlier moves the queued job earlier; one
        moved later leaves the job early, and its run finds nothing due and schedules the later one."""
        if due is not None:
            self.jobs.enqueue(session, TIMER, {"instance_id": instance_id}, contract_id=contract_id,
                              dedupe_key=f"{TIMER}:{instance_id}", run_at=due)

    def next_timer(self, session, instance_id):
        """When the running instance's next timer is due (None: no timer, or not running)."""
        return NEXT_TIMER.scalar(session, {"id": instance_id})

    def mark_failed(self, instance_id, message):
        """Record a failed step in its own transaction (the step itself was rolled back): the instance is erroring,
        its open tasks are suspended, and it waits for an admin to resume it or to migrate it to a fixed version."""
        with self.db.write() as session:
            if MARK_FAILED.execute(session, {"id": instance_id, "error": message[:2000], "now": utcnow()}) != 1:
                return  # already erroring (or gone): the first failure is the one on record
            SUSPEND_TASKS.execute(session, {"id": instance_id})
            key = INSTANCE_ERROR.first(session, {"id": instance_id}).business_key
            self.history.record(session, "process_failed", "system", contract_id=contract_of(key),
                                instance_id=instance_id, details={"error": message[:2000]})

    def incident(self, session, business_key):
        """The erroring instance of a business key (a contract), as {instance_id, error}, or None."""
        row = ERRORING_FOR_KEY.first(session, {"key": str(business_key)})
        return {"instance_id": row.id, "error": row.error} if row else None

    def error_of(self, session, instance_id):
        row = INSTANCE_ERROR.first(session, {"id": instance_id})
        return row.error if row is not None and row.status == "error" else None

    def resume(self, session, instance_id, actor, reason=""):
        """Run an erroring instance again from its last saved state (the failed step was never saved): its tasks
        reopen, and the decision that failed can be taken again, e.g. once what a script called works again."""
        row = INSTANCE_ERROR.first(session, {"id": instance_id})
        if row is None:
            raise NotFound(f"no process instance {instance_id}")
        if RESUME_INSTANCE.execute(session, {"id": instance_id, "now": utcnow()}) != 1:
            raise Conflict(f"the process is {row.status}, not erroring")
        REOPEN_TASKS.execute(session, {"id": instance_id})
        key = row.business_key
        # its timers waited while it was erroring (the timer job found it so and stopped): they run again
        self.schedule_timer(session, instance_id, contract_of(key), self.next_timer(session, instance_id))
        self.history.record(session, "process_resumed", actor, contract_id=contract_of(key),
                            instance_id=instance_id, comment=reason, details={"error": row.error})


def contract_of(business_key):
    """The contract a process instance is about: its business key is the contract's id, or starts with it (an
    amendment's process: ``<contract id>:amendment:<number>``)."""
    head = business_key.split(":", 1)[0]
    return int(head) if head.isdigit() else None


def is_timer(task):
    return isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)


def timer_due(task):
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):  # a cycle: the next occurrence
        value = value.get("next") if value.get("cycles") != 0 else None
    if not value:
        return None
    due = datetime.fromisoformat(value)
    return due if due.tzinfo else due.replace(tzinfo=timezone.utc)


def next_timer_at(timers):
    dues = [due for due in map(timer_due, timers) if due is not None]
    return min(dues) if dues else None


def _describe(exc):
    task = getattr(exc, "task", None)
    where = f" at {task.task_spec.bpmn_id or task.task_spec.name} ({task.task_spec.bpmn_name or ''})" if task else ""
    message = f"the process failed{where}: {exc}"
    cause = exc.__cause__ or exc.__context__  # Spiff wraps the script's own error without its message
    if cause is not None and str(cause) and str(cause) not in message:
        message += f" ({type(cause).__name__}: {cause})"
    return message
