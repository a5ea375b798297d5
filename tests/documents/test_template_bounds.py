"""Templates administrators edit cannot make huge values, run without end or print without end: each is refused
quickly with a clear error, and ordinary templates render as before."""

import gc
import time

import pytest
from jinja2 import TemplateError

from workflows.bounds import Budget
from workflows.documents import render_letter_body
from workflows.documents.attachments import LETTER_ENVIRONMENT
from workflows.documents.render import template_environment
from workflows.documents.sandbox import TemplateLimitExceeded

BIG = "{% set s = 'x' * 600000 %}"


def refused(environment, source, **context):
    """The error rendering ``source`` raises; it must come well within a second (of CPU: the machine may be busy)."""
    started = time.thread_time()
    with pytest.raises(TemplateError) as caught:
        environment.from_string(source).render(**context)
    assert time.thread_time() - started < 0.5
    return caught.value


@pytest.mark.parametrize("environment", [template_environment(), LETTER_ENVIRONMENT], ids=["contract", "letter"])
def test_a_huge_repetition_is_refused_at_once(environment):
    error = refused(environment, "<p>{{ 'x' * 200000000 }}</p>")
    assert isinstance(error, TemplateLimitExceeded) and "exceed 1000000 items or characters" in str(error)


def test_a_letter_body_is_bounded_where_the_letters_service_renders_it():
    document = {"number": "N", "title": "承诺书", "customer": {"name": "甲"}, "provider": {"name": "乙"}}
    with pytest.raises(TemplateLimitExceeded, match="exceed 1000000"):
        render_letter_body("{{ values.name * 200000000 }}", [{"name": "name"}], {"name": "x"}, document)


@pytest.mark.parametrize("source, message", [
    ("{{ [s] * 2 }}", "exceed 1000000 items"),
    ("{{ s ~ s }}", "exceed 1000000 items"),
    ("{{ [s, s] }}", "exceed 1000000 items"),
    ("{{ [s, s]|string }}", "exceed 1000000 items"),
    ("{{ [s, s]|tojson }}", "exceed 1000000 items"),
    ("{{ {1: s, 2: s}.items() }}", "exceed 1000000 items"),
    ("{{ '%s%s' % (s, s) }}", "exceed 1000000 items"),
    ("{{ '{}{}'.format(s, s) }}", "exceed 1000000 items"),
    ("{{ '{0!r}'.format([s, s]) }}", "exceed 1000000 items"),
    ("{{ '%s'|format([s, s]) }}", "exceed 1000000 items"),
    ("{{ range(100000)|join(s) }}", "exceed 1000000 items"),
    ("{{ s|replace('x', 'xx') }}", "exceed 1000000 items"),
    ("{{ 'x'|center(1000000000) }}", "exceed 1000000 items"),
    ("{{ 'x'.ljust(1000000000) }}", "exceed 1000000 items"),
    ("{{ 'a\nb'|indent(1000000000) }}", "exceed 1000000 items"),
    ("{{ [1]|batch(1000000000, 'x')|list }}", "exceed 1000000 items"),
    ("{% set l = [1] %}{% for i in range(30) %}{% set _ = l.extend(l) %}{% endfor %}", "exceed 1000000 items"),
    ("{{ [[1]] * 1000|sum(start=[]) }}", "sum() of sequences is not allowed"),
    ("{{ 2 ** 1000000000 }}", "exceed 100000 bits"),
    ("{{ '%1000000000d' % 1 }}", "format widths"),
    ("{{ '{:>1000000000}'.format(1) }}", "format widths"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "100000 loop iterations"),
    ("{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}", "100000 loop iterations"),
    ("{% for i in range(100000) %}{{ s }}{% endfor %}", "output would exceed 1000000 characters"),
    ("{% set page %}{% for i in range(5000) %}" + "条款" * 200 + "{% endfor %}{% endset %}",
     "output would exceed 1000000 characters"),
])
def test_values_loops_and_output_are_bounded(source, message):
    error = refused(template_environment(), BIG + source)
    assert isinstance(error, TemplateLimitExceeded) and message in str(error)


@pytest.mark.parametrize("source, message", [
    ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive loops are not available"),
    ("{{ ('\t' * 1000).expandtabs(1000000) }}", "'expandtabs'"),
])
def test_unbounded_helpers_are_not_available(source, message):
    assert message in str(refused(template_environment(), source))


@pytest.mark.slow
@pytest.mark.parametrize("source, message", [
    ("{% set s = 'x' * 999999 %}{% for i in range(40000) %}{% if s.count('y') %}{% endif %}{% endfor %}",
     "exceeded 1.0 s of CPU time"),
    ("{% macro twice(n) %}{% if n %}{{ twice(n - 1) }}{{ twice(n - 1) }}{% endif %}{% endmacro %}{{ twice(40) }}",
     "exceeded (100000 loop iterations|1.0 s of CPU time)"),  # 100000 calls take about a second
])
def test_slow_renders_stop_within_their_cpu_time(source, message):
    """Each loop iteration and call counts and checks the clock: a slow render stops, however it is slow."""
    started = time.thread_time()
    with pytest.raises(TemplateLimitExceeded, match=message):
        template_environment().from_string(source).render()
    assert time.thread_time() - started < 1.5


def test_ordinary_expressions_and_filters_still_render():
    source = ("{{ 'a' ~ 'b' }} {{ '%s-%d' % ('x', 3) }} {{ '{}+{}'.format(1, 2) }} {{ [1, 2, 3]|join(',') }} "
              "{{ range(3)|list }} {% set ns = namespace(total=0) %}{% for item in items %}{% set ns.total = ns.total "
              "+ item.q %}{% endfor %}{{ ns.total }} {{ items|sum(attribute='q') }} {{ 'x'|center(5) }}|{{ 2 ** 10 }} "
              "{{ '-' * 3 }} {{ items|map(attribute='q')|join('/') }}")
    assert template_environment().from_string(source).render(items=[{"q": 1}, {"q": 2}]) == (
        "ab x-3 1+2 1,2,3 [0, 1, 2] 3 3   x  |1024 --- 1/2")


def test_a_garbage_collection_during_a_render_is_not_charged_to_it():
    """A full collection runs in whichever thread allocates when it is due; over a large process it can outlast a
    render's whole budget (CI saw a contract fail its 1 s). The budget counts the render's own CPU time only."""
    heap = [[] for _ in range(1_000_000)]  # a full collection over this takes about 0.05 s
    budget = Budget("the template", TemplateLimitExceeded, 0.02)
    started = time.thread_time()
    while time.thread_time() - started < 0.1:
        gc.collect()
    budget.check_clock()  # 0.1 s of collecting, none of it the render's
    del heap
