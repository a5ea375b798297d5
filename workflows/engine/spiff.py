"""SpiffWorkflow glue: parsing, the serializer, and a cache of restored specs.

Two facts shape this module (checked with SpiffWorkflow 3.2):
- the spec is about half of a serialized workflow, so it is stored once per definition
  version (``ProcessDefinition.spec_json``) and each instance stores only its state;
  restored spec objects are cached per definition and shared by every instance;
- the script engine is not part of the serialization, so every restore attaches one.
"""
import json
import logging
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from threading import Lock

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from ..bounds import MAX_STATE
from ..errors import InvalidDefinition
from .bpmn_checks import parse_safe_xml
from .scripting import RestrictedScriptEngine


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Writes a workflow without its spec; the spec objects are supplied again on restore."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


def _make_serializer():
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry)


# SpiffWorkflow logs every task state change at INFO; under an INFO root logger that alone adds a
# third to a step. Its warnings and errors still come through.
logging.getLogger("spiff").setLevel(logging.WARNING)

SERIALIZER = _make_serializer()
SERIALIZER_VERSION = SERIALIZER.VERSION
_SPEC_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def parse_process(bpmn_xml: bytes, dmn_files: dict):
    """Parse a BPMN file and the DMN files it calls. Returns (process_id, name, spec, subprocess_specs).

    Raises InvalidDefinition naming the element SpiffWorkflow's parser objected to.
    """
    parser = SpiffBpmnParser()
    try:
        for filename, dmn_xml in sorted(dmn_files.items()):
            parser.add_dmn_xml(parse_safe_xml(dmn_xml), filename=filename)
        parser.add_bpmn_xml(parse_safe_xml(bpmn_xml), filename="process.bpmn")
        process_ids = parser.get_process_ids()
        if len(process_ids) != 1:
            raise InvalidDefinition(f"expected exactly one process, found {len(process_ids)}")
        process_id = process_ids[0]
        missing = sorted(parser.get_dmn_dependencies() - set(parser.dmn_parsers))
        if missing:
            raise InvalidDefinition(f"the process calls decisions that were not supplied: {', '.join(missing)}")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        element = f"{exc.tag} id={exc.id!r} name={exc.name!r}" if exc.id or exc.tag else "the document"
        raise InvalidDefinition(f"{element}: {exc}") from exc
    return process_id, spec.description or process_id, spec, subprocess_specs


def user_task_spec(spec, name):
    """The spec a user task named ``name`` (its BPMN id) runs: for a multi-instance step (会签/或签) the spec of its
    instances, which carries the task's properties; the step itself only loops over them."""
    found = spec.task_specs.get(name)
    return spec.task_specs.get(found.task_spec) if isinstance(found, LoopTask) else found


def loop_of(task):
    """The multi-instance step a task is one instance of (its parent's spec), or None."""
    parent = task.parent
    return parent.task_spec if parent is not None and isinstance(parent.task_spec, MultiInstanceTask) else None


def drop_instance_item(task):
    """A multi-instance's input item (the approver of one instance of a 会签) belongs to that instance: it is kept out
    of the data the instance merges back into the step, or the step could not run again when the contract comes back
    (SpiffWorkflow refuses to start instances whose item the data already holds)."""
    loop = loop_of(task)
    if loop is not None and loop.input_item is not None:
        task.data.pop(loop.input_item.bpmn_id, None)


def spec_to_json(spec, subprocess_specs):
    registry = _SPEC_SERIALIZER.registry
    return json.dumps({
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(s) for name, s in subprocess_specs.items()},
    })


def spec_from_json(spec_json):
    dct = json.loads(spec_json)
    registry = _SPEC_SERIALIZER.registry
    return registry.restore(dct["spec"]), {n: registry.restore(s) for n, s in dct["subprocess_specs"].items()}


class SpecCache:
    """Restored specs per definition id; specs are read-only while workflows run, so sharing is safe."""

    def __init__(self, size=32):
        self._items = OrderedDict()
        self._size = size
        self._lock = Lock()

    def get(self, definition):
        with self._lock:
            hit = self._items.get(definition.id)
            if hit is not None:
                self._items.move_to_end(definition.id)
                return hit
        specs = spec_from_json(definition.spec_json)
        with self._lock:
            self._items[definition.id] = specs
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return specs


class WorkflowCache:
    """Restored workflows by instance id and version, so a busy instance is not deserialized at every step.

    A load takes the entry out (the step then owns the object); only a committed step puts its
    workflow back, under the version it wrote, with what the step surveyed of it (ready tasks, timers).
    A version mismatch (another process wrote) is a miss.
    """

    def __init__(self, size=256):
        self._items = OrderedDict()
        self._size = size
        self._lock = Lock()

    def take(self, instance_id, version):
        with self._lock:
            entry = self._items.pop(instance_id, None)
        return entry[1] if entry and entry[0] == version else None

    def put(self, instance_id, version, entry):
        with self._lock:
            self._items[instance_id] = (version, entry)
            self._items.move_to_end(instance_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def new_workflow(specs, script_engine):
    spec, subprocess_specs = specs
    return BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)


class StateTooLarge(RuntimeError):
    """The workflow's state is over ``MAX_STATE``: the step that made it fails and nothing is saved."""


def dump_workflow(workflow):
    """The state to save; every task keeps its own copy of the data, so big task data is multiplied here."""
    state = SERIALIZER.serialize_json(workflow)
    if len(state) > MAX_STATE:
        raise StateTooLarge(f"the process state would take {len(state)} characters, more than the {MAX_STATE} "
                            "allowed: keep big values out of the task data")
    return state


def load_workflow(state_json, serializer_version, definition, specs, script_engine):
    """Restore a workflow; older serializer formats go through SpiffWorkflow's migrations."""
    dct = json.loads(state_json)
    if serializer_version != SERIALIZER_VERSION:
        dct.update(json.loads(definition.spec_json))  # migrations may rewrite the spec too
        dct[SERIALIZER.VERSION_KEY] = serializer_version
        SERIALIZER.migrate(dct)
        workflow = _SPEC_SERIALIZER.registry.restore(dct)
    else:
        spec, subprocess_specs = specs
        dct["spec"], dct["subprocess_specs"] = spec, dict(subprocess_specs)
        workflow = SERIALIZER.registry.restore(dct)
    workflow.script_engine = script_engine
    return workflow


_decision_tables = {}


def decision_table(definition, decision_id):
    """The DMN engine for one decision of a deployed definition, cached by the definition's content (its SHA-256
    covers the BPMN and every DMN file): a row id would name different tables in two databases of one process."""
    key = (definition.sha256, decision_id)
    if key not in _decision_tables:
        parser = SpiffBpmnParser()
        for filename, dmn_xml in json.loads(definition.dmn_xml).items():
            parser.add_dmn_xml(parse_safe_xml(dmn_xml.encode("utf-8")), filename=filename)
        _decision_tables[key] = parser.get_engine(decision_id, None)
    return _decision_tables[key]


def script_engine(functions):
    return RestrictedScriptEngine(functions=functions)
