"""Restricted Python for scripts, conditions, timers and DMN cells that admins edit in the browser.

Code is compiled with RestrictedPython plus a policy of our own that refuses imports and
classes, rewrites size-growing operators into guarded calls and counts loop iterations and
function calls, so hostile code fails with a clear message instead of escaping or hanging.
"""

import ast
import operator
import re
import string
import time
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

MAX_ITERATIONS = 100_000
MAX_CPU_SECONDS = 0.5
MAX_SIZE = 1_000_000
MAX_INT_BITS = 100_000
MAX_FORMAT_NUMBER = 1_000

_MAX_DECIMAL_DIGITS = MAX_INT_BITS * 3 // 10
_SEQUENCES = (str, bytes, list, tuple)
_TICK = "_tick_"
_GUARDED_OPS = {ast.Add: "_binopadd_", ast.Mult: "_binopmul_", ast.Pow: "_binoppow_",
                ast.LShift: "_binoplshift_", ast.Mod: "_binopmod_"}
# expandtabs/translate grow strings by factors no cheap check bounds; as_integer_ratio turns
# Decimal("1e999999") into a million-digit int (minutes of CPU).
_REFUSED_ATTRIBUTES = INSPECT_ATTRIBUTES | {"mro", "expandtabs", "translate", "maketrans", "as_integer_ratio"}
# BaseException subclasses outside Exception would slip past Spiff's handlers and stop the worker.
_REFUSED_BUILTINS = {"__build_class__", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
_OPAQUE_TYPES = (
    types.ModuleType, types.FrameType, types.CodeType, types.TracebackType, types.GeneratorType,
    types.CoroutineType, types.AsyncGeneratorType, types.FunctionType, types.MethodType,
)
_FORMAT_NUMBER = re.compile(r"\d+|\*")


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
        elif spec is not None and _format_too_big("".join(part.value for part in spec.values)):
            self.error(node, f"format widths and precisions above {MAX_FORMAT_NUMBER} are not allowed")
        return self.node_contents_visit(node)

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


class _Budget:
    """Per-run counter; once exceeded it stays exceeded, so catching the error gains nothing."""

    __slots__ = ("steps", "deadline", "violation")

    def __init__(self):
        self.steps = 0
        self.deadline = time.thread_time() + MAX_CPU_SECONDS
        self.violation = None

    def tick(self, value=True):
        self.steps += 1
        if self.steps > MAX_ITERATIONS:
            self._fail(self.violation or f"script exceeded {MAX_ITERATIONS} loop iterations")
        if not self.steps & 31 and time.thread_time() > self.deadline:
            self._fail(f"script exceeded {MAX_CPU_SECONDS} s of CPU time")
        return value

    def check(self):
        if self.violation:
            raise ScriptViolation(self.violation)

    def _fail(self, message):
        self.violation = message
        self.steps = MAX_ITERATIONS
        raise ScriptViolation(message)


def _format_too_big(spec):
    """Widths/precisions in format specs allocate before any check could run."""
    return any(n == "*" or int(n) > MAX_FORMAT_NUMBER for n in _FORMAT_NUMBER.findall(spec))


def _check_size(size):
    if size > MAX_SIZE:
        raise ScriptViolation(f"result would exceed {MAX_SIZE} items or characters")


def _check_bits(bits):
    if bits > MAX_INT_BITS:
        raise ScriptViolation(f"integer result would exceed {MAX_INT_BITS} bits")


def _check_add(a, b):
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_size(len(a) + len(b))


def _check_mul(a, b):
    if isinstance(a, int):
        if isinstance(b, int):
            _check_bits(a.bit_length() + b.bit_length())
        elif isinstance(b, _SEQUENCES):
            _check_size(len(b) * a)
    elif isinstance(b, int) and isinstance(a, _SEQUENCES):
        _check_size(len(a) * b)


def _check_pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(b * a.bit_length())


def _check_lshift(a, b):
    if isinstance(a, int) and isinstance(b, int) and a:
        _check_bits(a.bit_length() + b)


def _check_mod(a, b):
    if isinstance(a, str):
        if _format_too_big("".join(re.findall(r"%[^a-zA-Z%]*", a))):
            raise ScriptViolation(f"format widths and precisions above {MAX_FORMAT_NUMBER} are not allowed")
        for value in b if isinstance(b, tuple) else b.values() if isinstance(b, dict) else (b,):
            _check_decimal(value)


def _check_decimal(value):
    """Decimal("1e999999") is cheap, but turning it into an int (int(), round(), %d) takes minutes."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > _MAX_DECIMAL_DIGITS:
        raise ScriptViolation(f"integer result would exceed {MAX_INT_BITS} bits")


def _guarded(check, apply):
    """`a <op> b` for an operator whose result can be huge: refuse before allocating."""
    def guarded(a, b):
        check(a, b)
        return apply(a, b)
    return guarded


_CHECKS = {"+": _check_add, "*": _check_mul, "**": _check_pow, "<<": _check_lshift, "%": _check_mod}
_APPLY = {"+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod}
_INPLACE = {
    "+=": operator.iadd, "*=": operator.imul, "**=": operator.ipow, "<<=": operator.ilshift,
    "%=": operator.imod, "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv,
    ">>=": operator.irshift, "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
    "@=": operator.imatmul,
}
_BINOP_GUARDS = {f"_binop{name}_": _guarded(_CHECKS[symbol], _APPLY[symbol])
                 for name, symbol in (("add", "+"), ("mul", "*"), ("pow", "**"), ("lshift", "<<"), ("mod", "%"))}


def guarded_inplacevar(op, a, b):
    """RestrictedPython turns `x op= y` into this; same guards, in-place semantics kept."""
    check = _CHECKS.get(op[:-1])
    if check:
        check(a, b)
    return _INPLACE[op](a, b)


def guarded_pow(base, exp, mod=None):
    if mod is None:
        return _BINOP_GUARDS["_binoppow_"](base, exp)
    return pow(base, exp, mod)


def guarded_int(value=0, *args):
    _check_decimal(value)
    return int(value, *args)


def guarded_round(number, ndigits=None):
    _check_decimal(number)
    return round(number, ndigits)


def guarded_range(*args):
    r = range(*args)
    try:
        _check_size(len(r))
    except OverflowError:
        raise ScriptViolation(f"result would exceed {MAX_SIZE} items or characters") from None
    return r


def guarded_sum(iterable, start=0):
    """sum() over lists/tuples builds quadratic, unbounded copies."""
    if isinstance(start, (list, tuple)):
        raise ScriptViolation("sum() of sequences is not allowed")
    return sum(iterable, start)


class _SafeFormatter(string.Formatter):
    """str.format that resolves `{0.attr}` through the attribute guard and bounds widths."""

    def get_field(self, field_name, args, kwargs):
        first, rest = _string.formatter_field_name_split(field_name)
        value = self.get_value(first, args, kwargs)
        for is_attribute, key in rest:
            value = guarded_getattr(value, key) if is_attribute else value[key]
        return value, first

    def format_field(self, value, format_spec):
        if _format_too_big(format_spec):
            raise ScriptViolation(f"format widths and precisions above {MAX_FORMAT_NUMBER} are not allowed")
        return format(value, format_spec)


_FORMATTER = _SafeFormatter()


def _checked_join(sep):
    def join(parts):
        parts = list(parts)
        _check_size(len(sep) * max(len(parts) - 1, 0) + sum(len(p) for p in parts if isinstance(p, _SEQUENCES)))
        return sep.join(parts)
    return join


def _checked_replace(s):
    def replace(old, new, count=-1):
        hits = s.count(old) if count < 0 else min(count, s.count(old))
        _check_size(len(s) + hits * (len(new) - len(old)))
        return s.replace(old, new, count)
    return replace


def _checked_pad(method):
    def pad(width, *args):
        _check_size(width)
        return method(width, *args)
    return pad


def _checked_extend(items):
    def extend(other):
        other = other if isinstance(other, _SEQUENCES) else list(other)
        _check_size(len(items) + len(other))
        items.extend(other)
    return extend


_STR_WRAPPERS = {
    "format": lambda s: lambda *args, **kwargs: _FORMATTER.vformat(s, args, kwargs),
    "format_map": lambda s: lambda mapping: _FORMATTER.vformat(s, (), mapping),
    "join": _checked_join,
    "replace": _checked_replace,
    **{name: lambda s, name=name: _checked_pad(getattr(s, name)) for name in ("ljust", "rjust", "center", "zfill")},
}
_WRAPPED_NAMES = frozenset(_STR_WRAPPERS) | {"extend"}


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
    if isinstance(obj, (str, bytes)) and name in _STR_WRAPPERS and hasattr(obj, name):
        return _STR_WRAPPERS[name](obj)
    if isinstance(obj, list) and name == "extend":
        return _checked_extend(obj)
    return getattr(obj, name, *default)


def _getitem(obj, key):
    return obj[key]


def _build_builtins():
    """safe_builtins minus class building and process-stopping exceptions, plus helpers and guards."""
    allowed = {k: v for k, v in safe_builtins.items() if k not in _REFUSED_BUILTINS}
    allowed.update(
        len=len, min=min, max=max, sum=guarded_sum, sorted=sorted, any=any, all=all, abs=abs, round=guarded_round,
        int=guarded_int, str=str, bool=bool, list=list, dict=dict, set=set, frozenset=frozenset,
        tuple=tuple, range=guarded_range, enumerate=enumerate, zip=zip, isinstance=isinstance,
        getattr=guarded_getattr, pow=guarded_pow, Decimal=Decimal, date=date, datetime=datetime,
        timedelta=timedelta,
        _getattr_=guarded_getattr, _getitem_=_getitem, _getiter_=iter, _write_=full_write_guard,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence, _unpack_sequence_=guarded_unpack_sequence,
        _inplacevar_=guarded_inplacevar, **_BINOP_GUARDS,
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
    budget = _Budget() if needs_budget else None
    scope["__builtins__"] = _BUILTINS
    if budget:
        scope[_TICK] = budget.tick
    result = run(code, scope)
    if budget:
        budget.check()
    return result


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
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """The script engine to attach to every workflow; `functions` are callable from all code."""

    def __init__(self, functions=None):
        super().__init__(environment=RestrictedEnvironment(dict(functions or {})))

    def validate(self, expression):
        _compiled(expression, "eval")
