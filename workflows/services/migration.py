"""Move running (and erroring) instances from one version of a process to another, only when that is safe.

A serialized instance is a tree of tasks that name their task spec; on restore the spec comes
from the instance's definition (``engine.spiff.load_workflow``). Pointing an instance at another
version therefore changes what its tasks *are*. The rule (sound and simple, checked per instance):

- every task in the tree (finished ones too) names a spec that exists in the new version,
  otherwise the state cannot even be restored;
- every task the instance sits at (ready, waiting, started) has a spec in the new version
  identical to the old one in everything that drives execution: type, lane, properties and other
  extensions, outgoing task specs (and incoming ones for a gateway, which may join), conditions, scripts, timers,
  decision tables. Only the display name and documentation may differ, and the incoming edges of a task already
  reached (a step inserted before 乙方会签盖章 leaves an instance waiting there as it was);
- every predicted task (future/likely/maybe: not started, no state of its own) keeps its type and
  lane and, below a task that ran or waits, the edge from its parent in the new version; a likely or maybe one (a
  branch of a gateway not yet taken) may follow another step there. What it does once reached (its properties,
  conditions, scripts) is the new version's: Spiff evaluates those only then, and re-syncs a predicted task's
  children from the spec when its parent completes (so below a predicted task, the new version's graph replaces the
  old one's);
- the instance has no subprocess state and the process-level data (data objects, io spec) is unchanged;
- the state restores under the new spec and serializes again (checked, not assumed).

What happened already stays as it was; what is still to happen next is exactly what the new
version would do at that point. Instances that fail a rule are refused, each with its reasons.

One more move is proven the same way, for a version that wraps the waiting part of the process into a subprocess
(合同履行期 around the renewal notice): an instance is **lifted** when it has no subprocess state, everything it
still waits for follows one finished task (the anchor: 合同生效) and is only waiting catch events and their
predicted successors (nothing of it ran yet), and the anchor's task in the new version leads into a subprocess that
holds each of those events. What follows the anchor is dropped and predicted again from the new version; the engine
enters the subprocess (its start event has no script) and the instance must then wait at the very events it waited
at. The data the new version's later steps read that the old one never set (the term's end) is added by
``RuntimeService.lift_data`` (the platform's: the contract's term moments).
A task the instance waits at that the new version gives another boundary event (the contract's end, ``contract_ended``,
on an amendment's answer: ``bpmn/contract_amendment.bpmn``) waits for that event too once moved: the event is added
beside the boundary events it already waits for, as SpiffWorkflow would have predicted it on the new version.
A task it waits at that the new version gives its first boundary events (a review's 审核超时) is **wrapped**: put
under the split SpiffWorkflow inserts before such a task, with the events armed from the move, and what follows is
predicted again from the new version (``_wrap``).
The move rewrites ``process_instance.definition_id`` under the optimistic lock (``version``), in
the caller's transaction, with one history event per moved instance. An erroring instance (a script
of the old version failed; see ``RuntimeService.mark_failed``) is moved by the same rules and runs
again on the new version: deploying a fixed diagram and migrating is how an admin repairs it.
"""
import json
from copy import deepcopy
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import text
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from ..errors import ValidationFailed
from ..clock import utcnow
from ..engine.spiff import SERIALIZER_VERSION, dump_workflow, load_workflow, script_engine
from .runtime import REOPEN_TASKS, contract_of, is_timer, next_timer_at

_COSMETIC = {"bpmn_name", "documentation", "description"}
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_GUESSED = TaskState.MAYBE | TaskState.LIKELY  # a gateway's possible branches, not yet chosen
_CHOOSING = {"ExclusiveGateway", "InclusiveGateway"}  # gateways whose run syncs their children to the flows taken


@dataclass
class MigrationPlan:
    key: str
    from_version: int
    to_version: int
    movable: list = field(default_factory=list)  # instance ids
    refused: dict = field(default_factory=dict)  # instance id -> [reasons]
    moved: list = field(default_factory=list)
    dry_run: bool = True

    def as_dict(self):
        return {"key": self.key, "from": self.from_version, "to": self.to_version, "dry_run": self.dry_run,
                "movable": self.movable, "moved": self.moved,
                "refused": {str(k): v for k, v in self.refused.items()}}


def _version(session, repository, key, number):
    return repository.version(session, key, number)


def _behaviour(spec_dict):
    return {k: v for k, v in spec_dict.items() if k not in _COSMETIC}


def instance_refusals(state, old_spec, new_spec):
    """Why an instance whose serialized state is ``state`` cannot move from ``old_spec`` to ``new_spec``
    (both the ``spec`` part of ``ProcessDefinition.spec_json``, as dicts); empty when it can."""
    reasons = []
    if state.get("subprocesses"):
        reasons.append("the instance has subprocess state")
    for part in ("data_objects", "io_specification", "correlation_keys"):
        if old_spec.get(part) != new_spec.get(part):
            reasons.append(f"the process-level {part} changed")
    old_tasks, new_tasks = old_spec["task_specs"], new_spec["task_specs"]
    tasks = state.get("tasks", {})
    for task in tasks.values():
        reason = _task_refusal(task, tasks, old_tasks, new_tasks)
        if reason and reason not in reasons:
            reasons.append(reason)
    return reasons


def _task_refusal(task, tasks, old_tasks, new_tasks):
    name, task_state = task["task_spec"], task["state"]
    label = TaskState.get_name(task_state).lower()
    if name not in new_tasks:
        return f"task {name} ({label}) no longer exists in the new version"
    if task_state & _FINISHED:
        return None
    old, new = _behaviour(old_tasks.get(name, {})), _behaviour(new_tasks[name])
    if task_state & _LIVE and "Gateway" not in str(old.get("typename")):
        old.pop("inputs", None), new.pop("inputs", None)  # a task reached waits for nothing that comes before it
    if task_state & _LIVE:
        if old.get("typename") != new.get("typename"):  # e.g. a review became a multi-instance step (会签/或签)
            return f"task {name} ({label}) is a {old.get('typename')} in the old version, a {new.get('typename')} in the new"
        if old != new:
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            return f"task {name} ({label}) is changed in the new version: {', '.join(changed)}"
        return None
    # predicted (future/likely/maybe): what it will do is the new version's, but the tree must fit the new graph
    for key in ("typename", "lane", "manual"):
        if old.get(key) != new.get(key):
            return f"task {name} ({label}) has another {key} in the new version"
    if task_state & _GUESSED:
        return None  # a branch the engine only guessed at: re-predicted from the new version when its parent completes
    parent = tasks.get(task.get("parent") or "")
    if parent is not None and parent["task_spec"] in new_tasks and not _resyncs_children(parent, new_tasks) \
            and name not in new_tasks[parent["task_spec"]]["outputs"]:
        return f"task {name} ({label}) no longer follows {parent['task_spec']} in the new version"
    return None


def _resyncs_children(parent, new_tasks):
    """Whether SpiffWorkflow replaces the predicted children of ``parent`` by the new version's outputs before any of
    them runs: a predicted task when it is predicted again (its parent completes), a gateway not yet run when it
    runs (it keeps only the outputs it takes)."""
    if parent["state"] & TaskState.PREDICTED_MASK:
        return True
    return parent["state"] & TaskState.FUTURE and new_tasks[parent["task_spec"]]["typename"] in _CHOOSING


def plan_or_migrate(session, repository, runtime, history, key, from_version, to_version, dry_run=True, actor="cli"):
    """Check every running or erroring instance of ``key`` v``from_version``; unless ``dry_run``, move the movable ones."""
    if from_version == to_version:
        raise ValidationFailed("choose two different versions", {"to": "must differ from the source version"})
    source = _version(session, repository, key, from_version)
    target = _version(session, repository, key, to_version)
    old_spec, new_spec = json.loads(source.spec_json), json.loads(target.spec_json)
    plan = MigrationPlan(key, from_version, to_version, dry_run=dry_run)
    connection = session.connection()
    rows = connection.execute(text(
        "SELECT id, business_key, version, status, state_json, serializer_version FROM process_instance "
        "WHERE definition_id = :d AND status IN ('running', 'error') ORDER BY id"), {"d": source.id}).all()
    target_specs = runtime.specs.get(target)
    for row in rows:
        outcome = _move(session, runtime, history, row, source, target, old_spec, new_spec, target_specs, dry_run, actor)
        if isinstance(outcome, list):
            plan.refused[row.id] = outcome
            continue
        plan.movable.append(row.id)
        if outcome:
            plan.moved.append(row.id)
    return plan


def move_to_latest(session, repository, runtime, history, instance_id, actor):
    """Move one running instance to the newest version of its process by the same rules, in the caller's transaction
    (a use case that needs what only the newest version has, e.g. early termination); its reasons when it cannot
    move, an empty list when it moved or already runs on the newest version."""
    row = session.connection().execute(text(
        "SELECT id, definition_id, business_key, version, status, state_json, serializer_version FROM process_instance "
        "WHERE id = :id AND status = 'running'"), {"id": instance_id}).first()
    if row is None:
        return ["the process is not running"]
    source = repository.get(session, row.definition_id)
    target = repository.latest(session, source.key)
    if target.id == source.id:
        return []
    outcome = _move(session, runtime, history, row, source, target, json.loads(source.spec_json),
                    json.loads(target.spec_json), runtime.specs.get(target), False, actor)
    return outcome if isinstance(outcome, list) else []


def _move(session, runtime, history, row, source, target, old_spec, new_spec, target_specs, dry_run, actor):
    """Check one instance row and, unless ``dry_run``, move it: its refusals (a list), or whether it moved."""
    state = json.loads(row.state_json)
    reasons = instance_refusals(state, old_spec["spec"], new_spec["spec"])
    if old_spec["subprocess_specs"] != new_spec["subprocess_specs"] and not reasons:
        reasons.append("the subprocess specs changed")
    lifted = None
    if reasons:
        lifted = (_lift(session, runtime, row, state, target, new_spec, target_specs)
                  or _wrap(row, state, old_spec, new_spec, target, target_specs))
        if lifted is None:
            return reasons
    else:
        try:  # the proof: it restores under the new spec and serializes again
            workflow = load_workflow(row.state_json, row.serializer_version, target, target_specs, script_engine({}))
            workflow.get_tasks()
            if _add_boundary_events(workflow):
                now_waiting = workflow.get_tasks(state=TaskState.WAITING)
                lifted = {"state_json": dump_workflow(workflow), "entered": None,
                          "next_timer_at": next_timer_at([t for t in now_waiting if is_timer(t)])}
            else:
                dump_workflow(workflow)
        except Exception as exc:  # noqa: BLE001 - any failure to restore means "do not move"
            return [f"does not restore under the new version: {exc}"]
    if dry_run:
        return False
    connection, now = session.connection(), utcnow()
    if lifted is not None:
        moved = connection.execute(text(
            "UPDATE process_instance SET definition_id = :to, version = version + 1, updated_at = :now, "
            "state_json = :state, serializer_version = :serializer, next_timer_at = :due "
            "WHERE id = :id AND version = :version AND definition_id = :from AND status = 'running'"),
            {"to": target.id, "from": source.id, "id": row.id, "version": row.version, "now": now,
             "state": lifted["state_json"], "serializer": SERIALIZER_VERSION, "due": lifted["next_timer_at"]}).rowcount
    else:
        moved = connection.execute(text(
            "UPDATE process_instance SET definition_id = :to, version = version + 1, updated_at = :now, "
            "status = 'running', error = '' "
            "WHERE id = :id AND version = :version AND definition_id = :from AND status = :status"),
            {"to": target.id, "from": source.id, "id": row.id, "version": row.version, "status": row.status,
             "now": now}).rowcount
    if moved != 1:
        return ["the instance changed while it was being moved; run the migration again"]
    resumed = row.status == "error"
    contract_id = contract_of(row.business_key)
    if resumed:  # the fixed version is what it runs on from here: its suspended tasks reopen, its timers run
        REOPEN_TASKS.execute(session, {"id": row.id})
    if resumed or lifted is not None:
        runtime.schedule_timer(session, row.id, contract_id, runtime.next_timer(session, row.id))
    _retitle_open_tasks(connection, row.id, new_spec["spec"]["task_specs"])
    details = {"definition": source.key, "from": source.version, "to": target.version, "resumed": resumed}
    if lifted is not None and lifted["entered"] is not None:
        details["entered"] = lifted["entered"]
    history.record(session, "process_migrated", actor, contract_id=contract_id, instance_id=row.id, details=details)
    return True


def _lift(session, runtime, row, state, target, new_spec, target_specs):
    """The instance lifted into the subprocess the new version leads its anchor into (see the module's docstring):
    {state_json, next_timer_at, entered}, or None when the rule does not apply or the result waits elsewhere."""
    if state.get("subprocesses") or row.status != "running":
        return None
    tasks = state.get("tasks", {})
    waiting = [task for task in tasks.values() if task["state"] & TaskState.WAITING]
    pending = [task for task in tasks.values() if not task["state"] & _FINISHED]
    anchors = {task.get("parent") for task in waiting}
    if not waiting or len(anchors) != 1 or any(task["state"] & (TaskState.READY | TaskState.STARTED | TaskState.ERROR)
                                               for task in pending):
        return None
    anchor_id = anchors.pop()
    anchor = tasks.get(anchor_id or "")
    new_tasks = new_spec["spec"]["task_specs"]
    if anchor is None or not anchor["state"] & TaskState.COMPLETED or anchor["task_spec"] not in new_tasks:
        return None
    following = _descendants(tasks, anchor_id)
    if {task["id"] for task in pending} - following:
        return None  # something else is still to happen, outside what follows the anchor
    events = sorted({task["task_spec"] for task in waiting})
    following_specs = [new_tasks[name] for name in new_tasks[anchor["task_spec"]]["outputs"]]
    following_specs += [new_tasks[name] for spec in following_specs if spec["typename"] == "BoundaryEventSplit"
                        for name in spec["outputs"]]  # a subprocess with boundary events is entered through a split
    entered = [spec["name"] for spec in following_specs if spec.get("spec") in new_spec["subprocess_specs"] and all(
        event in new_spec["subprocess_specs"][spec["spec"]]["task_specs"] for event in events)]
    if len(entered) != 1 or any(event in new_tasks for event in events):
        return None
    kept = {task_id: task for task_id, task in tasks.items() if task_id not in following}
    kept[anchor_id] = {**anchor, "children": []}
    contract_id = contract_of(row.business_key)
    try:
        workflow = load_workflow(json.dumps({**state, "tasks": kept, "last_task": anchor_id}), row.serializer_version,
                                 target, target_specs, script_engine({}))
        start = workflow.get_task_from_id(UUID(anchor_id))
        start._sync_children(start.task_spec.outputs, TaskState.FUTURE)
        for child in start.children:  # as SpiffWorkflow resets a branch: predict what follows, then make it ready
            child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
            child.task_spec._update(child)
            if runtime.lift_data is not None and contract_id is not None:
                child.data.update(runtime.lift_data(session, contract_id))
        workflow.do_engine_steps()
        now_waiting = workflow.get_tasks(state=TaskState.WAITING)
        inside = sorted(task.task_spec.name for task in now_waiting if task.workflow is not workflow)
        if inside != events or workflow.get_tasks(state=TaskState.READY):
            return None  # it would wait elsewhere than it did, or run on at once
        state_json = dump_workflow(workflow)
    except Exception:  # noqa: BLE001 - a lift that does not run cleanly is no lift
        return None
    return {"state_json": state_json, "next_timer_at": next_timer_at([t for t in now_waiting if is_timer(t)]),
            "entered": entered[0]}


def _wrap(row, state, old_spec, new_spec, target, target_specs):
    """The instance with boundary events the new version attaches to the tasks it sits at (a review's 审核超时)
    armed from now: {state_json, next_timer_at, entered}, or None when anything else differs.

    A task a boundary event is attached to runs under a split (``<task>.BoundaryEventSplit``) that SpiffWorkflow
    inserts before it: a live task of the old version is put under a completed split with the events beside it,
    waiting, as if it had just been reached. What the live tasks lead to is predicted again from the new version (an
    instance in the draft reaches the wrapped review later), then the result must pass the rules against the new
    version itself."""
    if row.status != "running" or state.get("subprocesses"):
        return None
    old, new = old_spec["spec"], new_spec["spec"]
    if any(old.get(part) != new.get(part) for part in ("data_objects", "io_specification", "correlation_keys")):
        return None
    old_tasks, new_tasks, tasks = old["task_specs"], new["task_specs"], state.get("tasks", {})
    wrapped = []
    for task in tasks.values():
        name = task["task_spec"]
        if not task["state"] & _LIVE or name not in old_tasks or name not in new_tasks:
            continue
        before, after = _behaviour(old_tasks[name]), _behaviour(new_tasks[name])
        if before == after:
            continue
        split, join = f"{name}.BoundaryEventSplit", f"{name}.BoundaryEventJoin"
        parent = tasks.get(task.get("parent") or "")
        if (split in old_tasks or split not in new_tasks or after.get("inputs") != [split]
                or [o for o in after.get("outputs", []) if o != join] != before.get("outputs")
                or {k: v for k, v in before.items() if k not in ("inputs", "outputs")}
                != {k: v for k, v in after.items() if k not in ("inputs", "outputs")}
                or parent is None or split not in new_tasks.get(parent["task_spec"], {}).get("outputs", [])):
            return None
        wrapped.append(task["id"])
    if not wrapped and not any(name.endswith(".BoundaryEventSplit") and name not in old_tasks for name in new_tasks):
        return None  # nothing is wrapped, neither where the instance is nor ahead of it
    try:
        workflow = load_workflow(row.state_json, row.serializer_version, target, target_specs, script_engine({}))
        entered = []
        for task_id in wrapped:
            entered += _put_under_split(workflow, workflow.get_task_from_id(UUID(task_id)))
        _predict_again(workflow)
        state_json = dump_workflow(workflow)
        if instance_refusals(json.loads(state_json), new, new):
            return None
    except Exception:  # noqa: BLE001 - a wrap that does not restore cleanly is no wrap
        return None
    timers = [task for task in workflow.get_tasks(state=TaskState.WAITING) if is_timer(task)]
    return {"state_json": state_json, "next_timer_at": next_timer_at(timers), "entered": sorted(entered)}


def _put_under_split(workflow, task):
    """Insert the task's boundary event split between it and its parent, with its events waiting; their names."""
    parent, split_spec = task.parent, workflow.spec.task_specs[f"{task.task_spec.name}.BoundaryEventSplit"]
    split = Task(workflow, split_spec, state=TaskState.COMPLETED)
    split.parent, split.data, split.thread_id = parent, deepcopy(parent.data), task.thread_id
    parent.children = [split if child is task else child for child in parent.children]
    split.children = [task]
    task.parent = split
    ahead = TaskState.FUTURE | TaskState.PREDICTED_MASK
    for spec in task.task_spec.outputs:  # the join that ends the events once the task is done
        if all(child.task_spec is not spec for child in task.children):
            task._add_child(spec, TaskState.FUTURE).task_spec._predict(task.children[-1], mask=ahead)
    events = []
    for event_spec in split_spec.outputs:
        if event_spec is not task.task_spec:  # as SpiffWorkflow resets a branch: predict, then update (a timer starts)
            event = split._add_child(event_spec, TaskState.FUTURE)
            event.task_spec._predict(event, mask=ahead)
            event.task_spec._update(event)
            events.append(event_spec.bpmn_id or event_spec.name)
    return events


def _predict_again(workflow):
    """Where a task still to come no longer follows its parent in the new version (nothing of it ran: future or
    predicted), drop it with what follows it and predict the parent's successors from the new version."""
    ahead = TaskState.FUTURE | TaskState.PREDICTED_MASK
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        if task.id not in workflow.tasks:
            continue  # dropped with a stale branch above it
        outputs = task.task_spec.outputs
        stale = [child for child in task.children if child.has_state(ahead) and child.task_spec not in outputs]
        if not stale:
            continue
        for child in stale:
            workflow._remove_task(child.id)
        task._sync_children(outputs, TaskState.FUTURE if task.has_state(TaskState.DEFINITE_MASK) else task.state)
        for child in task.children:
            if child.has_state(ahead):
                child.task_spec._predict(child, mask=ahead)
def _add_boundary_events(workflow):
    """Each boundary event the new version attaches to a task the instance waits at, and the instance lacks, added
    waiting beside the others (see the module's docstring); whether any was added."""
    added = False
    for split in workflow.get_tasks(state=TaskState.COMPLETED):
        if split.task_spec.__class__.__name__ != "BoundaryEventSplit" or not any(
                child.has_state(_LIVE) for child in split.children):
            continue
        present = {child.task_spec for child in split.children}
        for spec in split.task_spec.outputs:
            if spec not in present:
                child = split._add_child(spec, TaskState.FUTURE)
                child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
                child.task_spec._update(child)
                added = True
    return added


def _descendants(tasks, task_id):
    """The ids of every task below ``task_id`` in a serialized task tree."""
    found, todo = set(), list(tasks[task_id].get("children", []))
    while todo:
        child = todo.pop()
        if child not in found and child in tasks:
            found.add(child)
            todo.extend(tasks[child].get("children", []))
    return found


def _retitle_open_tasks(connection, instance_id, task_specs):
    """Open inbox rows take the display name of the new version (the only thing allowed to differ)."""
    for task in connection.execute(text("SELECT id, name, title FROM human_task WHERE instance_id = :i AND state = 'open'"),
                                   {"i": instance_id}).all():
        spec = task_specs.get(task.name) or {}
        spec = task_specs.get(spec.get("task_spec"), spec)  # a multi-instance step: the spec its instances run
        title = spec.get("bpmn_name")
        if title and title != task.title:
            connection.execute(text("UPDATE human_task SET title = :t WHERE id = :id"), {"t": title[:200], "id": task.id})
