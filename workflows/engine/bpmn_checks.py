"""Deploy-time checks of admin-edited BPMN/DMN files: the Spiff parser accepts many broken diagrams."""

import re
from collections import namedtuple

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from workflows.engine.scripting import RestrictedEnvironment, check_script
from workflows.errors import InvalidDefinition

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"

Problem = namedtuple("Problem", "element_id element_name message")

_ACTIVITIES = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction",
}
_FLOW_NODES = _ACTIVITIES | {
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
}
_CONTAINERS = {"process", "subProcess", "transaction"}
_TIMER_PARSERS = {
    "timeDuration": TimerEventDefinition.parse_iso_duration,
    "timeDate": TimerEventDefinition.parse_time_or_duration,
    "timeCycle": TimerEventDefinition.parse_iso_recurring_interval,
}
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DMN_INPUT = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # same rule as Spiff's DMNEngine
_STRINGS = re.compile(r"\"[^\"]*\"|'[^']*'")
_FEEL_FORMS = (
    (re.compile(r"^\s*not\s*\("), 'FEEL not(...) never matches here: write "? not in (...)"'),
    (re.compile(r"\.\."), 'FEEL range [a..b] is not Python: write "a <= ? <= b"'),
    (re.compile(r"\b(true|false|null)\b"), "FEEL true/false/null is not Python: write True/False/None"),
)


def _local(element):
    return etree.QName(element).localname


def parse_safe_xml(data, max_bytes=2_000_000):
    """Parse untrusted XML: no DTD, no entities, no network, bounded size (XXE, billion laughs)."""
    if len(data) > max_bytes:
        raise InvalidDefinition(f"definition is larger than {max_bytes} bytes")
    first = _FIRST_ELEMENT.search(data)
    if _DOCTYPE.search(data, 0, first.start() if first else len(data)):
        raise InvalidDefinition("DOCTYPE declarations are not allowed in definitions")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, dtd_validation=False,
                             load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise InvalidDefinition(f"definition is not well-formed XML: {err}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InvalidDefinition("DOCTYPE declarations are not allowed in definitions")
    return root


def _problem(element, message):
    return Problem(element.get("id"), element.get("name"), message)


def check_process(bpmn_xml, known_roles):
    """Every problem that would make a BPMN diagram misbehave after deploy, each naming its element."""
    root = parse_safe_xml(bpmn_xml)
    problems = []
    for container in root.iter(*(BPMN + tag for tag in _CONTAINERS)):
        problems += _check_reachability(container)
    for process in root.iter(BPMN + "process"):
        problems += _check_lanes(process, known_roles)
    for element in root.iter(etree.Element):
        problems += _check_element(element)
    return problems


def _children(container, tags):
    return [child for child in container if isinstance(child.tag, str) and _local(child) in tags]


def _check_reachability(container):
    nodes = {node.get("id"): node for node in _children(container, _FLOW_NODES)}
    starts = [i for i, node in nodes.items() if _local(node) == "startEvent"]
    if not starts:
        return [] if not nodes else [_problem(container, "has no start event")]
    reached = _walk(container, starts)
    return [_problem(node, "is not reachable from a start event")
            for i, node in nodes.items() if i not in reached and node.get("triggeredByEvent") != "true"]


def _walk(container, starts):
    """Follow sequence flows from the start events; a boundary event fires when its task is reached."""
    outgoing = {}
    for flow in container.iterchildren(BPMN + "sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for event in container.iterchildren(BPMN + "boundaryEvent"):
        outgoing.setdefault(event.get("attachedToRef"), []).append(event.get("id"))
    reached, todo = set(), list(starts)
    while todo:
        node = todo.pop()
        if node not in reached:
            reached.add(node)
            todo += outgoing.get(node, [])
    return reached


def _check_lanes(process, known_roles):
    problems, laned = [], set()
    for lane in process.iter(BPMN + "lane"):
        laned.update(ref.text for ref in lane.iterchildren(BPMN + "flowNodeRef"))
        if lane.get("name") not in known_roles:
            problems.append(_problem(lane, f"lane name '{lane.get('name') or ''}' is not a known role"))
    for task in process.iter(BPMN + "userTask"):
        if not any(node.get("id") in laned for node in _self_and_ancestors(task, process)):
            problems.append(_problem(task, "user task is not in a lane"))
    return problems


def _self_and_ancestors(element, stop):
    while element is not None and element is not stop:
        yield element
        element = element.getparent()


def _check_element(element):
    tag = _local(element)
    problems = []
    if element.tag.startswith(BPMN) and tag in _ACTIVITIES and not (element.get("name") or "").strip():
        problems.append(_problem(element, "task has no name"))
    if element.tag == BPMN + "scriptTask":
        problems += _check_code(element, element.findtext(BPMN + "script"), "exec", "script")
        if element.find(f"{BPMN}extensionElements/{SPIFF}preScript") is not None or \
                element.find(f"{BPMN}extensionElements/{SPIFF}postScript") is not None:
            problems.append(_problem(element, "a script task ignores preScript/postScript: put the code in its script"))
    if element.tag == BPMN + "sequenceFlow":
        problems += _check_code(element, element.findtext(BPMN + "conditionExpression"), "eval", "condition")
    if element.tag in (SPIFF + "preScript", SPIFF + "postScript"):
        problems += _check_code(_owner(element), element.text, "exec", tag)
    if element.tag == BPMN + "businessRuleTask" and \
            not (element.findtext(f"{BPMN}extensionElements/{SPIFF}calledDecisionId") or "").strip():
        problems.append(_problem(element, "business rule task has no spiffworkflow:calledDecisionId"))
    if element.tag == BPMN + "timerEventDefinition":
        problems += _check_timer(element)
    return problems


def _owner(element):
    """The flow element an extension or event definition belongs to (it carries the id to report)."""
    parent = element.getparent()
    while parent is not None and (parent.get("id") is None or _local(parent) == "extensionElements"):
        parent = parent.getparent()
    return parent


def _check_code(element, source, mode, what):
    if source is None or not source.strip():
        return []
    error = check_script(source, mode)
    return [] if error is None else [_problem(element, f"{what} does not compile: {error}")]


def _check_timer(definition):
    event = _owner(definition)
    problems = []
    for child in definition:
        if not isinstance(child.tag, str) or _local(child) not in _TIMER_PARSERS:
            continue
        source = (child.text or "").strip()
        error = check_script(source, "eval") if source else "timer expression is empty"
        message = error or _timer_value_error(source, _TIMER_PARSERS[_local(child)])
        if message:
            problems.append(_problem(event, f"{_local(child)} {source!r}: {message}"))
    return problems


def _timer_value_error(source, parse):
    """Constant expressions must give valid ISO 8601; ones that read task data are checked at run time."""
    try:
        value = RestrictedEnvironment().evaluate(source, {})
    except NameError:
        return _bare_iso_error(source, parse)
    except Exception as err:
        return f"cannot be evaluated: {err}"
    try:
        parse(value)
    except Exception:
        return f"{value!r} is not a valid ISO 8601 value (write a Python string such as \"P3D\")"
    return None


def _bare_iso_error(source, parse):
    """`P3D` unquoted reads as a variable name: the commonest timer mistake, so say so."""
    try:
        parse(source)
    except Exception:
        return None
    return f"is a Python expression: quote the ISO 8601 value, e.g. \"{source}\""


def check_dmn(dmn_xml):
    """Cells are Python in SpiffWorkflow: refuse FEEL forms that would never match or raise."""
    root = parse_safe_xml(dmn_xml)
    problems = []
    for table in root.iter("{*}decisionTable"):
        inputs = [(i.get("label") or i.get("id"), i.findtext("{*}inputExpression/{*}text") or "")
                  for i in table.iterchildren("{*}input")]
        problems += [_problem(i, message) for i, message in _input_expression_errors(table)]
        for rule in table.iterchildren("{*}rule"):
            problems += _check_rule(rule, inputs)
    return problems


def _input_expression_errors(table):
    for column in table.iterchildren("{*}input"):
        error = check_script(column.findtext("{*}inputExpression/{*}text") or "None", "eval")
        if error:
            yield column, f"input expression does not compile: {error}"


def _check_rule(rule, inputs):
    problems = []
    for (label, expression), entry in zip(inputs, rule.iterchildren("{*}inputEntry")):
        error = _cell_error(entry.findtext("{*}text"), expression)
        if error:
            problems.append(_problem(rule, f"rule {rule.get('id')}, input '{label}': {error}"))
    for entry in rule.iterchildren("{*}outputEntry"):
        error = _cell_error(entry.findtext("{*}text"), None)
        if error:
            problems.append(_problem(rule, f"rule {rule.get('id')}, output {entry.get('id')}: {error}"))
    return problems


def _cell_error(text, input_expression):
    """Mirror how Spiff's DMNEngine turns a cell into an expression, and compile that."""
    cell = (text or "").strip()
    if cell in ("", "-"):
        return None
    error = _feel_error(cell)
    if error or input_expression is None:
        return error or check_script(cell, "eval")
    if _DMN_INPUT.search(cell):
        return check_script(_DMN_INPUT.sub("dmninputexpr", cell), "eval")
    if check_script(cell, "eval") is None:
        return None
    return check_script(f"{input_expression or 'v'} {cell}", "eval")


def _feel_error(cell):
    bare = _STRINGS.sub('""', cell)
    for pattern, message in _FEEL_FORMS:
        if pattern.search(bare):
            return message
    if _is_bare_tuple(bare):
        return 'a FEEL list "a","b" never matches here: write ? in ("a", "b")'
    return None


def _is_bare_tuple(cell):
    depth = 0
    for char in cell:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            return True
    return False
