"""Move running (and erroring) instances from one version of a process to another, only when that is safe.

A serialized instance is a tree of tasks that name their task spec; on restore the spec comes
from the instance's definition (``engine.spiff.load_workflow``). Pointing an instance at another
version therefore changes what its tasks *are*. The rule (sound and simple, checked per instance):

- every task in the tree (finished ones too) names a spec that exists in the new version,
  otherwise the state cannot even be restored;
- every task the instance sits at (ready, waiting, started) has a spec in the new version
  identical to the old one in everything that drives execution: type, lane, properties and other
  extensions, incoming and outgoing task specs, conditions, scripts, timers, decision tables.
  Only the display name and documentation may differ;
- every predicted task (future/likely/maybe: not started, no state of its own) keeps its type,
  lane and the edge from its parent in the new version. What it does once reached (its
  properties, conditions, scripts) is the new version's: Spiff evaluates those only then, and
  re-syncs predicted children from the spec as each task completes;
- the instance has no subprocess state and the process-level data (data objects, io spec) is unchanged;
- the state restores under the new spec and serializes again (checked, not assumed).

What happened already stays as it was; what is still to happen next is exactly what the new
version would do at that point. Instances that fail a rule are refused, each with its reasons.
The move rewrites ``process_instance.definition_id`` under the optimistic lock (``version``), in
the caller's transaction, with one history event per moved instance. An erroring instance (a script
of the old version failed; see ``RuntimeService.mark_failed``) is moved by the same rules and runs
again on the new version: deploying a fixed diagram and migrating is how an admin repairs it.
"""
import json
from dataclasses import dataclass, field

from sqlalchemy import text
from SpiffWorkflow.util.task import TaskState

from ..errors import ValidationFailed
from ..clock import utcnow
from ..engine.spiff import dump_workflow, load_workflow, script_engine
from .runtime import REOPEN_TASKS

_COSMETIC = {"bpmn_name", "documentation", "description"}
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


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
    parent = tasks.get(task.get("parent") or "")
    if parent is not None and parent["task_spec"] in new_tasks and name not in new_tasks[parent["task_spec"]]["outputs"]:
        return f"task {name} ({label}) no longer follows {parent['task_spec']} in the new version"
    return None


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
        state = json.loads(row.state_json)
        reasons = instance_refusals(state, old_spec["spec"], new_spec["spec"])
        if old_spec["subprocess_specs"] != new_spec["subprocess_specs"] and not reasons:
            reasons.append("the subprocess specs changed")
        if not reasons:
            try:  # the proof: it restores under the new spec and serializes again
                workflow = load_workflow(row.state_json, row.serializer_version, target, target_specs, script_engine({}))
                workflow.get_tasks()
                dump_workflow(workflow)
            except Exception as exc:  # noqa: BLE001 - any failure to restore means "do not move"
                reasons.append(f"does not restore under the new version: {exc}")
        if reasons:
            plan.refused[row.id] = reasons
            continue
        plan.movable.append(row.id)
        if dry_run:
            continue
        moved = connection.execute(text(
            "UPDATE process_instance SET definition_id = :to, version = version + 1, updated_at = :now, "
            "status = 'running', error = '' "
            "WHERE id = :id AND version = :version AND definition_id = :from AND status = :status"),
            {"to": target.id, "from": source.id, "id": row.id, "version": row.version, "status": row.status,
             "now": utcnow()}).rowcount
        if moved != 1:
            plan.refused[row.id] = ["the instance changed while it was being moved; run the migration again"]
            plan.movable.remove(row.id)
            continue
        resumed = row.status == "error"
        contract_id = int(row.business_key) if row.business_key.isdigit() else None
        if resumed:  # the fixed version is what it runs on from here: its suspended tasks reopen, its timers run
            REOPEN_TASKS.execute(session, {"id": row.id})
            runtime.schedule_timer(session, row.id, contract_id, runtime.next_timer(session, row.id))
        _retitle_open_tasks(connection, row.id, json.loads(target.spec_json)["spec"]["task_specs"])
        history.record(session, "process_migrated", actor, contract_id=contract_id, instance_id=row.id,
                       details={"definition": key, "from": from_version, "to": to_version, "resumed": resumed})
        plan.moved.append(row.id)
    return plan


def _retitle_open_tasks(connection, instance_id, task_specs):
    """Open inbox rows take the display name of the new version (the only thing allowed to differ)."""
    for task in connection.execute(text("SELECT id, name, title FROM human_task WHERE instance_id = :i AND state = 'open'"),
                                   {"i": instance_id}).all():
        spec = task_specs.get(task.name) or {}
        spec = task_specs.get(spec.get("task_spec"), spec)  # a multi-instance step: the spec its instances run
        title = spec.get("bpmn_name")
        if title and title != task.title:
            connection.execute(text("UPDATE human_task SET title = :t WHERE id = :id"), {"t": title[:200], "id": task.id})
