"""Deploy-time checks: hostile XML refused fast, each broken element reported by id."""

import time

import pytest

from workflows.engine.bpmn_checks import check_dmn, check_process, parse_safe_xml
from workflows.errors import InvalidDefinition

ROLES = {"sales", "legal"}

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:collaboration id="c"><bpmn:participant id="p" processRef="proc"/></bpmn:collaboration>
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="lane_sales" name="sales"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
"""

GOOD_BODY = """
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="Review contract"/>
    <bpmn:boundaryEvent id="overdue" attachedToRef="review" cancelActivity="false">
      <bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>"P3D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_overdue" sourceRef="overdue" targetRef="remind"/>
    <bpmn:scriptTask id="remind" name="Remind">
      <bpmn:script>reminders = reminders + 1 if reminders else 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_rem" sourceRef="remind" targetRef="end_reminded"/>
    <bpmn:endEvent id="end_reminded"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" name="Decision?" default="f_no"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="rules">
      <bpmn:conditionExpression>decision == "approve"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end"/>
    <bpmn:businessRuleTask id="rules" name="Approvers">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>approvers</spiffworkflow:calledDecisionId>
        <spiffworkflow:preScript>approvers = []</spiffworkflow:preScript>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f3" sourceRef="rules" targetRef="end"/>
    <bpmn:endEvent id="end"/>
"""

FOOTER = """
  </bpmn:process>
</bpmn:definitions>"""


def bpmn(body=GOOD_BODY, header=HEADER):
    return (header + body + FOOTER).encode()


def problems_by_id(data):
    return {p.element_id: p.message for p in check_process(data, ROLES)}


def test_good_process_has_no_problems():
    assert check_process(bpmn(), ROLES) == []


def refused_quickly(data):
    started = time.perf_counter()
    with pytest.raises(InvalidDefinition) as caught:
        parse_safe_xml(data)
    assert time.perf_counter() - started < 0.1
    return caught.value.message


def test_xxe_refused():
    data = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<x>&e;</x>'
    assert "DOCTYPE" in refused_quickly(data)


def test_billion_laughs_refused():
    entities = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY l0 "lol">{entities}]><lolz>&l9;</lolz>'.encode()
    assert "DOCTYPE" in refused_quickly(data)


def test_doctype_in_utf16_is_refused_after_parsing():
    data = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'.encode("utf-16")
    assert "DOCTYPE" in refused_quickly(data)


def test_size_limit_and_garbage():
    with pytest.raises(InvalidDefinition, match="larger than 10 bytes"):
        parse_safe_xml(b"<x>" + b" " * 20 + b"</x>", max_bytes=10)
    with pytest.raises(InvalidDefinition, match="not well-formed"):
        parse_safe_xml(b"<x><y></x>")


@pytest.mark.parametrize("old, new, element_id, message", [
    ('<bpmn:sequenceFlow id="f3" sourceRef="rules" targetRef="end"/>',
     '<bpmn:sequenceFlow id="f3" sourceRef="rules" targetRef="end"/><bpmn:task id="orphan" name="Orphan"/>',
     "orphan", "not reachable from a start event"),
    ('<bpmn:businessRuleTask id="rules" name="Approvers">', '<bpmn:businessRuleTask id="rules">',
     "rules", "task has no name"),
    ('<bpmn:flowNodeRef>review</bpmn:flowNodeRef>', "", "review", "user task is not in a lane"),
    ('<bpmn:script>reminders = reminders + 1 if', '<bpmn:script>reminders = = 1 if', "remind", "script does not compile"),
    ('decision == "approve"', "decision.__class__", "f_yes", "access to attribute '__class__' is not allowed"),
    ('decision == "approve"', "import os", "f_yes", "condition does not compile"),
    ('"P3D"', '"3 days"', "overdue", "timeDuration '\"3 days\"': '3 days' is not a valid ISO 8601 value"),
    ('"P3D"', "P3D", "overdue", 'quote the ISO 8601 value, e.g. "P3D"'),
    ('"P3D"', "'P' * 10**9", "overdue", "cannot be evaluated"),
    ("<spiffworkflow:calledDecisionId>approvers</spiffworkflow:calledDecisionId>", "", "rules",
     "no spiffworkflow:calledDecisionId"),
    ("<spiffworkflow:preScript>approvers = []", "<spiffworkflow:preScript>import os", "rules",
     "preScript does not compile: Line 1: import is not allowed"),
    ('<bpmn:endEvent id="end_reminded"/>',
     '<bpmn:endEvent id="end_reminded"/><bpmn:scriptTask id="s2" name="S"><bpmn:extensionElements>'
     '<spiffworkflow:postScript>x = 1</spiffworkflow:postScript></bpmn:extensionElements></bpmn:scriptTask>'
     '<bpmn:sequenceFlow id="fs2" sourceRef="start" targetRef="s2"/>',
     "s2", "ignores preScript/postScript"),
])
def test_each_broken_element_is_named(old, new, element_id, message):
    assert old in GOOD_BODY + HEADER
    data = bpmn(GOOD_BODY.replace(old, new), HEADER.replace(old, new))
    found = problems_by_id(data)
    assert element_id in found, found
    assert message in found[element_id]


def test_unknown_lane_and_missing_start():
    header = HEADER.replace('name="sales"', 'name="janitors"')
    body = GOOD_BODY.replace('<bpmn:startEvent id="start"/>', "")
    found = problems_by_id(bpmn(body, header))
    assert "'janitors' is not a known role" in found["lane_sales"]
    assert found["proc"] == "has no start event"


def test_timer_reading_task_data_is_left_to_run_time():
    assert check_process(bpmn(GOOD_BODY.replace('"P3D"', "reminder_interval")), ROLES) == []


def test_user_task_inside_a_laned_subprocess_is_in_the_lane():
    body = GOOD_BODY.replace('<bpmn:userTask id="review" name="Review contract"/>', """
    <bpmn:subProcess id="review" name="Review">
      <bpmn:startEvent id="s_start"/>
      <bpmn:sequenceFlow id="sf" sourceRef="s_start" targetRef="s_task"/>
      <bpmn:userTask id="s_task" name="Read"/>
    </bpmn:subProcess>""")
    assert check_process(bpmn(body), ROLES) == []


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dd" name="d" namespace="q">
  <decision id="approvers" name="Approvers">
    <decisionTable id="table" hitPolicy="COLLECT">
      <input id="in_total" label="Total"><inputExpression id="e1"><text>total</text></inputExpression></input>
      <input id="in_services" label="Services"><inputExpression id="e2"><text>services</text></inputExpression></input>
      <output id="out" label="Approver" name="approvers"/>
      <rule id="r1"><inputEntry id="c1"><text>CELL1</text></inputEntry><inputEntry id="c2"><text>CELL2</text></inputEntry>
        <outputEntry id="o1"><text>OUT</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


def dmn(cell1="&gt; 500000", cell2="-", out='"finance"'):
    return DMN.replace("CELL1", cell1).replace("CELL2", cell2).replace("OUT", out).encode()


@pytest.mark.parametrize("cell1, cell2, out", [
    ("&gt; 500000", "-", '"finance"'),
    ("500000 &lt; ? &lt; 1000000", 'set(?) &amp; {"vpn_line", "idc"}', '"network"'),
    ("", '? in ("net_90", "net_120")', "True"),
    ("600000", '"a, b"', "'x,y'"),
])
def test_python_cells_pass(cell1, cell2, out):
    assert check_dmn(dmn(cell1, cell2, out)) == []


@pytest.mark.parametrize("cell1, cell2, out, message", [
    ("-", '"a","b"', '"x"', 'FEEL list "a","b"'),
    ("-", 'not("a")', '"x"', "FEEL not(...)"),
    ("[1..10]", "-", '"x"', "FEEL range"),
    ("-", "true", '"x"', "FEEL true/false/null"),
    ("-", "-", "false", "FEEL true/false/null"),
    ("&gt; total.__class__", "-", '"x"', "access to attribute '__class__' is not allowed"),
    ("&gt;&gt;&gt; 5", "-", '"x"', "SyntaxError"),
])
def test_feel_and_unsafe_cells_name_the_rule(cell1, cell2, out, message):
    problems = check_dmn(dmn(cell1, cell2, out))
    assert len(problems) == 1
    assert problems[0].element_id == "r1"
    assert "rule r1" in problems[0].message and message in problems[0].message


def test_dmn_with_doctype_refused():
    with pytest.raises(InvalidDefinition, match="DOCTYPE"):
        check_dmn(DMN.replace("<definitions", '<!DOCTYPE d [<!ENTITY x "y">]><definitions').encode())
