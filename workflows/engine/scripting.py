"""Restricted Python for scripts, conditions, timers and DMN cells that admins edit in the browser.

Code is compiled with RestrictedPython plus a policy of our own that refuses imports and
classes, rewrites size-growing operators and f-string fields into guarded calls and counts loop
iterations and function calls, so hostile code fails with a clear message instead of escaping,
hanging or filling the memory. The limits and size checks are ``workflows.bounds``, shared with
the document templates; a script also may not leave more than ``MAX_TASK_DATA`` in its task's data.
"""

import ast
import operator
import re
import string
import types
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import _string
from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from ..bounds import (BINOP_CHECKS, BINOPS, BOUNDED_METHOD_NAMES, FORMAT_REFUSAL, MAX_TASK_DATA, REFUSED_METHODS,
                      SCRIPT_CPU_SECONDS, SEQUENCES, Budget, bounded_method, bounded_range, charge, check_decimal,
                      check_size, check_spec, check_sum_start, checked_value, expanded_size, format_too_big, running)

_TICK = "_tick_"
_FORMATTED = "_formatted_"
_GUARDED_OPS = {ast.Add: "_binopadd_", ast.Mult: "_binopmul_", ast.Pow: "_binoppow_",
                ast.LShift: "_binoplshift_", ast.Mod: "_binopmod_"}
_REFUSED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"mro"} | REFUSED_METHODS
# BaseException subclasses outside Exception would slip past Spiff's handlers and stop the worker.
_REFUSED_BUILTINS = {"__build_class__", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
_OPAQUE_TYPES = (
    types.ModuleType, types.FrameType, types.CodeType, types.TracebackType, types.GeneratorType,
    types.CoroutineType, types.AsyncGeneratorType, types.FunctionType, types.MethodType,
)


class UnsafeScript(SyntaxError):
    """Code refused before it runs; a SyntaxError so Spiff's DMN engine treats it like one."""


class ScriptViolation(RuntimeError):
    """Code stopped while running: forbidden access or a resource limit."""


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's checks plus import/class refusal, operator guards and loop counters."""

    def visit_Import(self, node):
        self.error(node, "import is not allowed")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed")
        return node

    def check_name(self, node, name, allow_magic_methods=False):
        if name == "__import__":
            self.error(node, "import is not allowed")
        else:
            super().check_name(node, name, allow_magic_methods)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "print":
            self.error(node, "print is not available: write results into task data")
            return node
        return super().visit_Call(node)

    def visit_Attribute(self, node):
        if node.attr.startswith("_") or node.attr in _REFUSED_ATTRIBUTES:
            node = self.node_contents_visit(node)
            self.error(node, f"access to attribute '{node.attr}' is not allowed")
            return node
        return super().visit_Attribute(node)

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = _GUARDED_OPS.get(type(node.op))
        if guard is None:
            return node
        return self._call(guard, node, node.left, node.right)

    def visit_FormattedValue(self, node):
        spec = node.format_spec
        if spec is not None and not all(isinstance(part, ast.Constant) for part in spec.values):
            self.error(node, "computed format specs in f-strings are not allowed")
        elif spec is not None and format_too_big("".join(part.value for part in spec.values)):
            self.error(node, FORMAT_REFUSAL)
        node = self.node_contents_visit(node)
        node.value = self._call(_FORMATTED, node.value, node.value)  # bounded by what it prints as
        return node

    def visit_While(self, node):
        return self._tick_body(super().visit_While(node))

    def visit_For(self, node):
        return self._tick_body(super().visit_For(node))

    def visit_FunctionDef(self, node):
        return self._tick_body(super().visit_FunctionDef(node))

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        node.body = self._call(_TICK, node.body, node.body)
        return node

    def visit_comprehension(self, node):
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._call(_TICK, node.iter))
        return node

    def _tick_body(self, node):
        """Count every loop iteration and function call: the cheap, signal-free time bound."""
        tick = ast.Expr(self._call(_TICK, node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    @staticmethod
    def _call(name, where, *args):
        call = ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])
        copy_locations(call, where)
        return call


def _guarded(check, apply):
    """`a <op> b` for an operator whose result can be huge: refuse before allocating."""
    def guarded(a, b):
        check(a, b)
        return apply(a, b)
    return guarded


_INPLACE = {
    "+=": operator.iadd, "*=": operator.imul, "**=": operator.ipow, "<<=": operator.ilshift,
    "%=": operator.imod, "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv,
    ">>=": operator.irshift, "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
    "@=": operator.imatmul,
}
_BINOP_GUARDS = {f"_binop{name}_": _guarded(BINOP_CHECKS[symbol], BINOPS[symbol])
                 for name, symbol in (("add", "+"), ("mul", "*"), ("pow", "**"), ("lshift", "<<"), ("mod", "%"))}


def _check_iadd(a, b):
    """`x += y` replaces x: the step's growth is y (charging all of x would make a loop that appends quadratic)."""
    if isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
        check_size(len(a) + len(b))
        charge(len(b))


def guarded_inplacevar(op, a, b):
    """RestrictedPython turns `x op= y` into this; same guards, in-place semantics kept."""
    check = _check_iadd if op == "+=" else BINOP_CHECKS.get(op[:-1])
    if check:
        check(a, b)
    return _INPLACE[op](a, b)


def guarded_pow(base, exp, mod=None):
    if mod is None:
        return _BINOP_GUARDS["_binoppow_"](base, exp)
    return pow(base, exp, mod)


def guarded_int(value=0, *args):
    check_decimal(value)
    return int(value, *args)


def guarded_round(number, ndigits=None):
    check_decimal(number)
    return round(number, ndigits)


def guarded_sum(iterable, start=0):
    check_sum_start(start)
    return sum(iterable, start)


def guarded_repr(value):
    return repr(checked_value(value))


class _CheckedStrType(type):
    """``str`` as scripts see it: calling it is bounded by what the value prints as; isinstance answers for str."""

    def __call__(cls, *args, **kwargs):
        checked_value(args[0] if args else kwargs.get("object", ""))
        return str(*args, **kwargs)

    def __instancecheck__(cls, instance):
        return isinstance(instance, str)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, str)


class checked_str(str, metaclass=_CheckedStrType):
    """The ``str`` builtin of scripts (``str(["a" * 999_999] * 20)`` would print twenty million characters)."""


class _SafeFormatter(string.Formatter):
    """str.format that resolves `{0.attr}` through the attribute guard and bounds each field and its widths."""

    def get_field(self, field_name, args, kwargs):
        first, rest = _string.formatter_field_name_split(field_name)
        value = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            value = guarded_getattr(value, key) if is_attribute else value[key]
        return checked_value(value), first

    def format_field(self, value, format_spec):
        check_spec(format_spec)
        return format(value, format_spec)


_FORMATTER = _SafeFormatter()


_FORMATS = {
    "format": lambda s: lambda *args, **kwargs: _FORMATTER.vformat(s, args, kwargs),
    "format_map": lambda s: lambda mapping: _FORMATTER.vformat(s, (), mapping),
}
_WRAPPED_NAMES = frozenset(_FORMATS) | BOUNDED_METHOD_NAMES


def _refuse_attribute(name):
    raise ScriptViolation(f"access to attribute '{name}' is not allowed")


def guarded_getattr(obj, name, *default):
    """The only way scripts read attributes: no `_` names, no frames/modules/functions internals."""
    if not isinstance(name, str) or name.startswith("_") or name in _REFUSED_ATTRIBUTES:
        _refuse_attribute(name)
    if isinstance(obj, _OPAQUE_TYPES):
        _refuse_attribute(name)
    if isinstance(obj, type) and issubclass(obj, (str, bytes, list)) and name in _WRAPPED_NAMES:
        raise ScriptViolation(f"'{name}' must be called on a value, not on the type")
    if isinstance(obj, str) and name in _FORMATS:
        return _FORMATS[name](obj)
    return bounded_method(obj, name) or getattr(obj, name, *default)


def _getitem(obj, key):
    return obj[key]


def _build_builtins():
    """safe_builtins minus class building and process-stopping exceptions, plus helpers and guards."""
    allowed = {k: v for k, v in safe_builtins.items() if k not in _REFUSED_BUILTINS}
    allowed.update(
        len=len, min=min, max=max, sum=guarded_sum, sorted=sorted, any=any, all=all, abs=abs, round=guarded_round,
        int=guarded_int, str=checked_str, repr=guarded_repr, bool=bool, list=list, dict=dict, set=set,
        frozenset=frozenset, tuple=tuple, range=bounded_range, enumerate=enumerate, zip=zip, isinstance=isinstance,
        getattr=guarded_getattr, pow=guarded_pow, Decimal=Decimal, date=date, datetime=datetime,
        timedelta=timedelta,
        _getattr_=guarded_getattr, _getitem_=_getitem, _getiter_=iter, _write_=full_write_guard,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence, _unpack_sequence_=guarded_unpack_sequence,
        _inplacevar_=guarded_inplacevar, **{_FORMATTED: checked_value}, **_BINOP_GUARDS,
    )
    return allowed


_BUILTINS = _build_builtins()


def _compiled(source, mode):
    """Compiled code and whether it needs a loop budget; raises SyntaxError (UnsafeScript) if refused."""
    outcome = compile_cached(source, mode)
    if isinstance(outcome, SyntaxError):
        raise type(outcome)(*outcome.args)
    return outcome


@lru_cache(maxsize=4096)
def compile_cached(source, mode):
    """Failures are cached too: Spiff's DMN engine probes `> 500000` with validate() on every rule."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        tree = ast.parse(source, "<string>", mode)
    except SyntaxError as err:
        return err
    result = compiler(tree, policy=_Policy)
    if result.errors:
        return _unsafe(result.errors)
    return result.code, _TICK in _all_names(result.code)


def _unsafe(errors):
    """A SyntaxError with a line number: Spiff's error reporting reads `lineno` of SyntaxErrors."""
    line = re.match(r"Line (\d+):", errors[0])
    return UnsafeScript("; ".join(errors), ("<string>", int(line.group(1)) if line else 1, 1, None))


def _all_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _all_names(const)
    return names


def check_script(source, mode="exec"):
    """Deploy-time check: the error message, or None when the code compiles restricted."""
    try:
        _compiled(source, mode)
    except SyntaxError as err:
        return err.msg if isinstance(err, UnsafeScript) else f"Line {err.lineno}: SyntaxError: {err.msg}"
    return None


def _run(code, needs_budget, scope, run):
    """Run under a fresh budget; an expression's value (a decision's output, say) is bounded like any value made."""
    budget = Budget("script", ScriptViolation, SCRIPT_CPU_SECONDS)
    scope["__builtins__"] = _BUILTINS
    if needs_budget:
        scope[_TICK] = budget.tick
    with running(budget):
        result = run(code, scope)
        budget.check()
        check_size(expanded_size(result))
    return result


def _check_task_data(data):
    """What a script leaves in its task is saved with the process, once per task that follows: keep it small."""
    if expanded_size(data, MAX_TASK_DATA) > MAX_TASK_DATA:
        raise ScriptViolation(f"the task data would exceed {MAX_TASK_DATA} characters or items after this script: "
                              "keep big values out of the process")


class RestrictedEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment semantics (reusing its overwrite check and cleanup) on restricted code."""

    def evaluate(self, expression, context, external_context=None):
        code, needs_budget = _compiled(expression, "eval")
        scope = {**self.globals, **(external_context or {}), **context}
        return _run(code, needs_budget, scope, eval)

    def execute(self, script, context, external_context=None):
        code, needs_budget = _compiled(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update(self.globals)
        context.update(external_context or {})
        try:
            _run(code, needs_budget, context, exec)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        _check_task_data(context)
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """The script engine to attach to every workflow; `functions` are callable from all code."""

    def __init__(self, functions=None):
        super().__init__(environment=RestrictedEnvironment(dict(functions or {})))

    def validate(self, expression):
        _compiled(expression, "eval")
