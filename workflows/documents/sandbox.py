"""The one sandbox for the templates administrators edit (contracts and letters): Jinja's SandboxedEnvironment
(no private attributes, no unsafe calls) under the same bounds as process scripts (``workflows.bounds``).

Each render runs under a budget: the operators ``*``, ``**``, ``%`` and ``+``, ``~``, ``str.format``, the string
methods and filters that can make a value much bigger than their input are checked before they make it, a printed
value is bounded by what it prints as, every loop iteration and call is counted and the render's CPU time is watched,
and no output (a document, a macro's, a block's) may pass ``MAX_SIZE`` characters. So ``{{ 'x' * 200000000 }}`` is
refused at once, and a template nesting loops stops within ``TEMPLATE_CPU_SECONDS``.
"""

import types
from collections.abc import Iterator
from functools import update_wrapper

from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter, SecurityError
from jinja2.utils import Namespace
from markupsafe import EscapeFormatter, Markup

from workflows.bounds import (BINOP_CHECKS, MAX_SIZE, REFUSED_METHODS, TEMPLATE_CPU_SECONDS, Budget, bounded_method,
                              bounded_range, charge, check_mod, check_size, check_spec, check_sum_start,
                              checked_value, current, expanded_size, refuse, replaced_size, running)

_CONTAINERS = (list, tuple, dict, set, frozenset)


class TemplateLimitExceeded(SecurityError):
    """A template went over a bound; a TemplateError, so the services report it like any template error."""


class BoundedTemplate(Template):
    """A template whose ``render`` runs under a fresh budget (every render in the product goes through it)."""

    def render(self, *args, **kwargs):
        with running(Budget("the template", TemplateLimitExceeded, TEMPLATE_CPU_SECONDS)):
            return super().render(*args, **kwargs)


def _through(method, expression):
    """``environment.<method>(expression)`` as a template node."""
    return nodes.Call(nodes.EnvironmentAttribute(method, lineno=expression.lineno), [expression], [], None, None,
                      lineno=expression.lineno)


def _is_through(method, expression):
    return (isinstance(expression, nodes.Call) and isinstance(expression.node, nodes.EnvironmentAttribute)
            and expression.node.name == method)


class _BoundedCodeGenerator(CodeGenerator):
    """Loops iterate through ``bounded_iter`` (each iteration counted); each operand of ``~`` is bounded."""

    def visit_For(self, node, frame):
        if node.recursive:
            self.fail("recursive loops are not available in documents", node.lineno)
        if not _is_through("bounded_iter", node.iter):
            node.iter = _through("bounded_iter", node.iter).set_environment(self.environment)
        super().visit_For(node, frame)

    def visit_Concat(self, node, frame):
        node.nodes = [part if _is_through("bounded_part", part) else
                      _through("bounded_part", part).set_environment(self.environment) for part in node.nodes]
        super().visit_Concat(node, frame)


class _Namespace(Namespace):
    """``namespace()`` whose printed form does not expand its attributes (the builtin one prints them all)."""

    def __repr__(self):
        return "<Namespace>"


class _BoundedFormatter(SandboxedFormatter):
    """Each field is bounded by what it prints as (before any ``!r`` conversion), and its widths."""

    def get_field(self, field_name, args, kwargs):
        value, first = super().get_field(field_name, args, kwargs)
        return checked_value(value), first

    def format_field(self, value, format_spec):
        check_spec(format_spec)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """The same for ``Markup.format``, which escapes each field."""


def _center(value, width=80):
    check_size(max(len(str(value)), width))


def _indent(value, width=4, first=False, blank=False):
    text = str(value)
    check_size(len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else width))


def _wordwrap(value, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True):
    text = str(value)
    check_size(len(text) + (len(text) // max(width, 1) + text.count("\n") + 1) * len(wrapstring or "\n"))


def _batch(value, linecount, fill_with=None):
    if fill_with is not None:
        check_size(linecount)


def _slice(value, slices, fill_with=None):
    check_size(slices)


def _join(value, d="", attribute=None):
    check_size(expanded_size(value) + len(d) * max(len(value) - 1, 0))


def _replace(value, old, new, count=None):
    check_size(replaced_size(str(value), old, new, count))


def _tojson(value, indent=None):
    check_size(expanded_size(value) * (2 + (len(indent) if isinstance(indent, str) else indent or 0)))


def _urlize(value, trim_url_limit=None, nofollow=False, target=None, rel=None, extra_schemes=None):
    text = str(value)
    check_size(3 * len(text) + (len(text) // 2 + 1) * (40 + len(target or "") + len(rel or "")))


def _format(value, *args, **kwargs):
    check_mod(str(value), kwargs or args)


def _sum(iterable, attribute=None, start=0):
    check_sum_start(start)


# The builtin filters whose result can outgrow their input, and the check of their arguments (the filter's signature
# without what Jinja passes first): the most they could make, refused before they make it.
_FILTER_CHECKS = {"center": _center, "indent": _indent, "wordwrap": _wordwrap, "batch": _batch, "slice": _slice,
                  "join": _join, "replace": _replace, "tojson": _tojson, "urlize": _urlize, "format": _format, "sum": _sum}


def _bounded_filter(name, function):
    """A filter whose input is whole and bounded by what it prints as, whose result is bounded before it is made
    (``_FILTER_CHECKS``) and charged to the render."""
    value_at = 1 if hasattr(function, "jinja_pass_arg") else 0  # pass_context/environment/eval_context filters
    check = _FILTER_CHECKS.get(name)

    def bounded(*args, **kwargs):
        value = args[value_at]
        if isinstance(value, Iterator):
            value = list(value)
            args = (*args[:value_at], value, *args[value_at + 1:])
        if isinstance(value, _CONTAINERS):
            check_size(expanded_size(value))
        if check is not None:
            check(*args[value_at:], **kwargs)
        result = function(*args, **kwargs)
        if isinstance(result, str):
            charge(len(result))
        return result

    return update_wrapper(bounded, function)


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment with size, step and CPU bounds; ``lipsum`` (any number of paragraphs) is gone.

    ``filters`` (name → function) are added to Jinja's, every one of them wrapped by ``_bounded_filter``.
    """

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _BoundedCodeGenerator
    template_class = BoundedTemplate

    def __init__(self, *args, filters=None, **kwargs):
        super().__init__(*args, finalize=checked_value, **kwargs)
        self.filters = {name: _bounded_filter(name, function)
                        for name, function in {**self.filters, **(filters or {})}.items()}
        del self.globals["lipsum"]
        self.globals.update(range=bounded_range, namespace=_Namespace)

    def call_binop(self, context, operator, left, right):
        BINOP_CHECKS[operator](left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature (keyword-safe names)
        current().tick()
        return super().call(__context, __obj, *args, **kwargs)

    def is_safe_attribute(self, obj, attr, value):
        return attr not in REFUSED_METHODS and super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        """Read at every attribute access: ``str.format`` with bounded fields, the bounded string and list methods."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            return None
        owner, name = value.__self__, value.__name__
        if isinstance(owner, str) and name in ("format", "format_map"):
            return self._bounded_format(owner, name == "format_map")
        return bounded_method(owner, name)

    def _bounded_format(self, text, is_format_map):
        formatter = (_BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _BoundedFormatter(self))

        def formatted(*args, **kwargs):
            if is_format_map:
                (kwargs,), args = args, ()
            return type(text)(formatter.vformat(text, args, kwargs))
        return formatted

    def bounded_iter(self, iterable):
        """What a ``{% for %}`` iterates: each iteration counts against the render's steps and CPU time."""
        budget = current()
        for item in iterable:
            budget.tick()
            yield item

    bounded_part = staticmethod(checked_value)  # an operand of ``~`` is joined as a string

    @staticmethod
    def concat(parts):
        """Every output (the document, a macro's, a block's) is joined here: refused past ``MAX_SIZE`` characters."""
        pieces, size = [], 0
        for part in parts:
            size += len(part)
            if size > MAX_SIZE:
                refuse(f"the template's output would exceed {MAX_SIZE} characters")
            pieces.append(part)
        charge(size)
        return "".join(pieces)

