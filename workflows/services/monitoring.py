"""What admins watch: where an instance is on its diagram, and instances per version by condition."""
import json
from functools import lru_cache

from sqlalchemy import text
from SpiffWorkflow.util.task import TaskState

from ..errors import NotFound, ValidationFailed
from ..engine.bpmn_checks import BPMN, parse_safe_xml
from ..engine.spiff import load_workflow, script_engine
from .runtime import contract_of

_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
FILTERS = ("all", "running", "stuck", "erroring", "timer", "completed")


@lru_cache(maxsize=64)
def _flows_by_ends(bpmn_xml):
    """The sequence flows of a diagram by their (source, target): parsed once per diagram text (a deployed version never
    changes), not on each view of a contract's diagram."""
    flows = {}
    for flow in parse_safe_xml(bpmn_xml.encode("utf-8")).iter(BPMN + "sequenceFlow"):
        flows.setdefault((flow.get("sourceRef"), flow.get("targetRef")), []).append(flow.get("id"))
    return flows


def _shown_ancestor(task):
    parent = task.parent
    while parent is not None and not parent.task_spec.bpmn_id:
        parent = parent.parent
    return parent


def trace(workflow, bpmn_xml):
    """Diagram element ids: completed tasks/events, the current ones, and the sequence flows taken."""
    completed, current, flows = set(), set(), set()
    by_ends = _flows_by_ends(bpmn_xml)
    for task in workflow.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state & _CURRENT:
            current.add(bpmn_id)
        else:
            continue
        parent = _shown_ancestor(task)
        if parent is not None and parent.state == TaskState.COMPLETED:
            flows.update(by_ends.get((parent.task_spec.bpmn_id, bpmn_id), []))
    return {"completed": sorted(completed - current), "current": sorted(current), "flows": sorted(flows)}


def instance_trace(session, repository, runtime, instance_id):
    """The instance's diagram (its own version) with what has happened on it, for the viewer."""
    row = session.connection().execute(text(
        "SELECT id, definition_id, status, error, state_json, serializer_version FROM process_instance WHERE id = :id"),
        {"id": instance_id}).first()
    if row is None:
        raise NotFound(f"no process instance {instance_id}")
    definition = repository.get(session, row.definition_id)
    workflow = load_workflow(row.state_json, row.serializer_version, definition, runtime.specs.get(definition),
                             script_engine({}))
    return {"instance_id": row.id, "status": row.status, "error": row.error, "key": definition.key,
            "version": definition.version, "bpmn_xml": definition.bpmn_xml, **trace(workflow, definition.bpmn_xml)}


def instances(session, definition_id, condition="all", limit=200):
    """Instances of one definition version; ``condition`` is one of FILTERS.

    stuck = running with no open task and no timer; erroring = status error; timer = waiting on a timer.
    """
    if condition not in FILTERS:
        raise ValidationFailed("unknown filter", {"filter": f"must be one of: {', '.join(FILTERS)}"})
    open_tasks = "EXISTS (SELECT 1 FROM human_task t WHERE t.instance_id = p.id AND t.state = 'open')"
    where = {
        "all": "1 = 1",
        "running": "p.status = 'running'",
        "stuck": f"p.status = 'running' AND p.next_timer_at IS NULL AND NOT {open_tasks}",
        "erroring": "p.status = 'error'",
        "timer": "p.status = 'running' AND p.next_timer_at IS NOT NULL",
        "completed": "p.status = 'completed'",
    }[condition]
    rows = session.connection().execute(text(
        "SELECT p.id, p.business_key, p.status, p.error, p.next_timer_at, p.updated_at, p.created_at "
        f"FROM process_instance p WHERE p.definition_id = :d AND {where} ORDER BY p.id DESC LIMIT :limit"),
        {"d": definition_id, "limit": limit}).all()
    ids = [r.id for r in rows]
    tasks = {}
    if ids:
        for t in session.connection().execute(text(
                "SELECT instance_id, title, role FROM human_task WHERE state IN ('open', 'suspended') AND instance_id IN "
                f"({', '.join(str(int(i)) for i in ids)})")).all():
            tasks.setdefault(t.instance_id, []).append({"title": t.title, "role": t.role})
    contract_ids = {contract_of(r.business_key) for r in rows} - {None}
    numbers = dict(session.connection().execute(text(
        f"SELECT id, number FROM contract WHERE id IN ({', '.join(str(i) for i in contract_ids)})")).all()) if contract_ids else {}
    return [{"id": r.id, "business_key": r.business_key, "status": r.status, "error": r.error,
             "contract_id": contract_of(r.business_key), "contract_number": numbers.get(contract_of(r.business_key)),
             "next_timer_at": r.next_timer_at, "updated_at": r.updated_at, "open_tasks": tasks.get(r.id, [])}
            for r in rows]


def counts_by_definition(session, status="running"):
    """{definition_id: number of instances with ``status``}."""
    rows = session.connection().execute(text(
        "SELECT definition_id, COUNT(*) AS n FROM process_instance WHERE status = :s GROUP BY definition_id"),
        {"s": status}).all()
    return {r.definition_id: r.n for r in rows}


def dmn_files(definition):
    return json.loads(definition.dmn_xml or "{}")
