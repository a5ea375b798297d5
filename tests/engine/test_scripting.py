"""Restricted scripting: hostile code is refused or stopped, normal process code still works."""

import time
from decimal import Decimal

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from workflows.engine.scripting import (
    RestrictedEnvironment,
    RestrictedScriptEngine,
    ScriptViolation,
    UnsafeScript,
    check_script,
    compile_cached,
)

env = RestrictedEnvironment()


def refused(run, source, context=None):
    """The error a run raises; hostile code must fail fast, never hang."""
    started = time.perf_counter()
    with pytest.raises(Exception) as caught:
        run(source, dict(context or {}))
    assert time.perf_counter() - started < 1.0
    return caught.value


@pytest.mark.parametrize("source, message", [
    ("import os", "import is not allowed"),
    ("from os import environ", "import is not allowed"),
    ("x = __import__('os')", "import is not allowed"),
    ("x = ().__class__.__base__.__subclasses__()", "access to attribute '__class__' is not allowed"),
    ("x = (lambda: 0).__globals__", "access to attribute '__globals__' is not allowed"),
    ("x = (x for x in []).gi_frame", "access to attribute 'gi_frame' is not allowed"),
    ("x = str.mro()", "access to attribute 'mro' is not allowed"),
    ("x = __builtins__", 'starts with "_"'),
    ("class A: pass", "class definitions are not allowed"),
    ("print(1)", "print is not available"),
    ("x = eval('1')", "Eval calls are not allowed"),
    ("x = f'{1:>100000000}'", "format widths"),
])
def test_refused_at_compile_time(source, message):
    error = refused(env.execute, source)
    assert isinstance(error, UnsafeScript) and isinstance(error, SyntaxError)
    assert message in str(error)
    assert message in check_script(source)


@pytest.mark.parametrize("source, error_type, message", [
    ("open('/etc/passwd')", NameError, "open"),
    ("type(1)", NameError, "type"),
    ("globals()", NameError, "globals"),
    ("getattr(1, '__class__')", ScriptViolation, "access to attribute '__class__' is not allowed"),
    ("getattr(remind_customer, 'gi_frame', None)", ScriptViolation, "'gi_frame' is not allowed"),
    ("'{0.__class__}'.format(1)", ScriptViolation, "access to attribute '__class__' is not allowed"),
    ("'{0.__globals__}'.format(remind_customer)", ScriptViolation, "'__globals__' is not allowed"),
    ("str.format('{0.__class__}', 1)", ScriptViolation, "not on the type"),
    ("'{:>100000000}'.format(1)", ScriptViolation, "format widths"),
    ("'%100000000d' % 1", ScriptViolation, "format widths"),
    ("'a' * 10**10", ScriptViolation, "exceed 1000000 items"),
    ("[1] * 10**9", ScriptViolation, "exceed 1000000 items"),
    ("10**10**10", ScriptViolation, "exceed 100000 bits"),
    ("pow(10, 10**10)", ScriptViolation, "exceed 100000 bits"),
    ("1 << 10**10", ScriptViolation, "exceed 100000 bits"),
    ("'a'.ljust(10**10)", ScriptViolation, "exceed 1000000 items"),
    ("('x' * 1000).join(['a'] * 100000)", ScriptViolation, "exceed 1000000 items"),
    ("sum(range(10**12))", ScriptViolation, "exceed 1000000 items"),
    ("int(Decimal('1e999999'))", ScriptViolation, "exceed 100000 bits"),
    ("['a' * 999999] * 20", ScriptViolation, "exceed 1000000 items"),  # twenty references print as 20 million
    ("str(['a' * 999999, 'b'])", ScriptViolation, "exceed 1000000 items"),
    ("repr(['a' * 999999, 'b'])", ScriptViolation, "exceed 1000000 items"),
    ("f\"{['a' * 999999, 'b']}\"", ScriptViolation, "exceed 1000000 items"),
    ("'%s' % (['a' * 999999, 'b'],)", ScriptViolation, "exceed 1000000 items"),
    ("'{}'.format(['a' * 999999, 'b'])", ScriptViolation, "exceed 1000000 items"),
    ("'{!r}'.format(['a' * 999999, 'b'])", ScriptViolation, "exceed 1000000 items"),
    ("'{:f}'.format(Decimal('1e30000000'))", ScriptViolation, "exceed 1000000 items"),
    ("f\"{Decimal('1e30000000'):f}\"", ScriptViolation, "exceed 1000000 items"),
    ("'%d' % Decimal('1e999999')", ScriptViolation, "exceed 100000 bits"),
    ("SystemExit", NameError, "SystemExit"),
])
def test_refused_when_run(source, error_type, message):
    error = refused(env.evaluate, source, {"remind_customer": lambda: None})
    assert isinstance(error, error_type)
    assert message in str(error)


@pytest.mark.parametrize("source", [
    "while True:\n    pass",
    "x = 0\nwhile x < 10**9:\n    x += 1",
    "try:\n    while True:\n        pass\nexcept Exception:\n    pass\ndone = True",
    "def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\nr = f(40)",
    "f = lambda n: 1 if n == 0 else f(n - 1) + f(n - 1)\nr = f(40)",
    "r = sum(1 for i in range(1000) for j in range(1000))",
])
def test_runaway_code_is_stopped(source):
    error = refused(env.execute, source)
    assert isinstance(error, ScriptViolation)
    assert "script exceeded 100000 loop iterations" in str(error)


@pytest.mark.parametrize("source, message", [
    ("a = [1] * 10**6\nfor i in range(30):\n    a.extend(a)", "exceed 1000000 items"),
    ("a = [1] * 10**6\nfor i in range(30):\n    a += a", "exceed 1000000 items"),
    ("s = 'a' * 10**6\nfor i in range(30):\n    s = s.replace('a', 'aa')", "exceed 1000000 items"),
    # values each within bounds but kept: the run's budget stops them, long before the memory fills
    ("parts = ['a' * 999990 + str(i) for i in range(100)]", "script made more than 8000000 characters or items"),
    ("parts = []\nfor i in range(100):\n    parts.append('a' * 999999)", "script made more than 8000000"),
    ("s = 'a' * 999999\nparts = [f'{s}' for i in range(100)]", "script made more than 8000000"),
])
def test_growth_is_stopped_before_allocating(source, message):
    assert message in str(refused(env.execute, source))


def test_a_script_may_not_leave_big_task_data():
    data = {"contract_id": 7}
    error = refused(RestrictedEnvironment().execute, "s = 'a' * 999999\nkept = [s, s]", data)
    assert isinstance(error, ScriptViolation) and "task data would exceed 1000000" in str(error)


def test_appending_in_a_loop_is_charged_for_what_it_adds():
    """Charging all of `text` at each `+=` would make the budget quadratic: 5000 lines would count 110 million."""
    data = {}
    env.execute("text = ''\nitems = []\nfor i in range(5000):\n    text += 'line %d\\n' % i\n    items += [i]", data)
    assert len(data["items"]) == 5000 and data["text"].count("\n") == 5000


@pytest.mark.parametrize("path", [
    "remind_customer.__globals__['os'].environ",
    "getattr(getattr(remind_customer, '__globals__'), 'os')",
    "Decimal.__init__.__globals__",
    "date.today.__self__",
    "'{0.__init__.__globals__[os].environ}'.format(remind_customer)",
])
def test_environment_is_unreachable(path):
    context = {"remind_customer": lambda: None}
    assert check_script(path, "eval") is not None or isinstance(refused(env.evaluate, path, context), ScriptViolation)


@pytest.mark.parametrize("source, expected", [
    ('decision == "approve"', True),
    ("total > 500000", True),
    ("amount > Decimal('499999.99')", True),
    ("[i * 2 for i in range(10)]", [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
    ("'{} days'.format(3)", "3 days"),
    ("f'{total:,}'", "600,000"),
    ("sorted(tags, key=lambda t: t.upper())", ["a", "b"]),
    ("'%s/%d' % ('x', 3)", "x/3"),
    ("start + timedelta(days=3)", __import__("datetime").date(2026, 1, 4)),
    ("set(tags) & {'a', 'c'}", {"a"}),
    ("str(total) + repr(tags) + f'{start}'", "600000['b', 'a']2026-01-01"),
    ("isinstance(decision, str) and str.upper(decision)", "APPROVE"),
])
def test_normal_expressions(source, expected):
    context = {"decision": "approve", "total": 600000, "amount": Decimal("500000.00"), "tags": ["b", "a"],
               "start": __import__("datetime").date(2026, 1, 1)}
    assert env.evaluate(source, context) == expected


def test_execute_updates_task_data_and_cleans_up():
    data = {"customer": {"name": "Lin"}, "lines": [1], "n": 1}
    script = (
        "customer['level'] = 'gold'\nlines.append(2)\nn += 2\nx = [i * 2 for i in range(3)]\n"
        "def helper(v):\n    return v + 1\ny = helper(n)\nfor a, b in [(1, 2)]:\n    pair = a + b"
    )
    RestrictedEnvironment({"remind_customer": lambda: None}).execute(script, data, {"external": 1})
    assert data == {"customer": {"name": "Lin", "level": "gold"}, "lines": [1, 2], "n": 3,
                    "x": [0, 2, 4], "y": 4, "a": 1, "b": 2, "pair": 3}


def test_functions_are_injected_and_not_left_in_task_data():
    calls = []
    engine = RestrictedScriptEngine({"remind_customer": lambda who: calls.append(who) or True})
    data = {"customer": "Lin"}
    engine.environment.execute("sent = remind_customer(customer)", data)
    assert calls == ["Lin"] and data == {"customer": "Lin", "sent": True}
    assert engine.environment.evaluate("remind_customer('x')", {}) is True


def test_validate_raises_syntax_error():
    engine = RestrictedScriptEngine()
    engine.validate("total > 1")
    for bad in ("> 500000", "x.__class__"):
        with pytest.raises(SyntaxError):
            engine.validate(bad)


def test_an_expression_is_compiled_once_and_reused():
    """Conditions and DMN cells are evaluated on every step: restricted compilation (the costly part) happens once."""
    expression = 'decision == "approve" and 1 < 2'
    before = compile_cached.cache_info()
    assert env.evaluate(expression, {"decision": "approve"}) is True
    assert env.evaluate(expression, {"decision": "return"}) is False
    after = compile_cached.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="approval" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:scriptTask id="compute" name="Compute total">
      <bpmn:script>total = sum(line['amount'] for line in lines)
notes = []
for line in lines:
    notes.append(line['name'].upper())</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="rules"/>
    <bpmn:businessRuleTask id="rules" name="Pick approver">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>approver</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f3" sourceRef="rules" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" name="Large?" default="small"/>
    <bpmn:sequenceFlow id="large" sourceRef="gw" targetRef="mark_large">
      <bpmn:conditionExpression>total &gt; 500000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="mark_small"/>
    <bpmn:scriptTask id="mark_large" name="Mark large"><bpmn:script>size = 'large'</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="mark_small" name="Mark small"><bpmn:script>size = 'small'</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="mark_large" targetRef="end"/>
    <bpmn:sequenceFlow id="f5" sourceRef="mark_small" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""

DECISION = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dd" name="d" namespace="q">
  <decision id="approver" name="Approver">
    <decisionTable id="table" hitPolicy="COLLECT">
      <input id="in_total" label="Total"><inputExpression id="e1" typeRef="number"><text>total</text></inputExpression></input>
      <input id="in_services" label="Services"><inputExpression id="e2"><text>services</text></inputExpression></input>
      <output id="out_approver" label="Approver" name="approvers" typeRef="string"/>
      <rule id="r_big"><inputEntry id="c1"><text>&gt; 500000</text></inputEntry><inputEntry id="c2"><text>-</text></inputEntry>
        <outputEntry id="o1"><text>"finance_director"</text></outputEntry></rule>
      <rule id="r_vpn"><inputEntry id="c3"><text></text></inputEntry><inputEntry id="c4"><text>set(?) &amp; {"vpn_line"}</text></inputEntry>
        <outputEntry id="o2"><text>"network_manager"</text></outputEntry></rule>
      <rule id="r_small"><inputEntry id="c5"><text>&lt;= 500000</text></inputEntry><inputEntry id="c6"><text>-</text></inputEntry>
        <outputEntry id="o3"><text>"sales_manager"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


def run_process(data):
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(PROCESS.encode())
    parser.add_dmn_str(DECISION.encode())
    workflow = BpmnWorkflow(parser.get_spec("approval"), script_engine=RestrictedScriptEngine())
    workflow.get_tasks(spec_name="start")[0].data.update(data)
    workflow.do_engine_steps()
    assert workflow.is_completed()
    return workflow.data


def test_spiff_workflow_runs_with_the_restricted_engine():
    lines = [{"name": "vpn", "amount": Decimal("400000")}, {"name": "idc", "amount": Decimal("200000")}]
    data = run_process({"lines": lines, "services": ["vpn_line", "idc"]})
    assert data["total"] == Decimal("600000") and data["notes"] == ["VPN", "IDC"]
    assert data["size"] == "large"
    assert data["approvers"] == ["finance_director", "network_manager"]


def test_spiff_gateway_default_and_dmn_without_set_match():
    data = run_process({"lines": [{"name": "idc", "amount": Decimal("1000")}], "services": ["idc"]})
    assert data["size"] == "small" and data["approvers"] == ["sales_manager"]


def test_hostile_script_fails_the_spiff_task():
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(PROCESS.replace("size = 'small'", "size = ().__class__").encode())
    parser.add_dmn_str(DECISION.encode())
    workflow = BpmnWorkflow(parser.get_spec("approval"), script_engine=RestrictedScriptEngine())
    workflow.get_tasks(spec_name="start")[0].data.update({"lines": [], "services": []})
    with pytest.raises(Exception, match="access to attribute '__class__' is not allowed"):
        workflow.do_engine_steps()
