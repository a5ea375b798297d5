"""How much the code administrators write may make: process scripts (``engine.scripting``) and contract and letter
templates (``documents.sandbox``) run under one set of limits, measured one way.

A value's size is what it prints or serializes as, in characters or items: ``["a" * 999_999] * 20`` holds one
string twenty times but prints, and saves, as twenty million characters, so that is its size. Every operation
that can make a value much bigger than its operands (repetition, concatenation, ``%`` and ``format``, ``str()``,
f-strings, joins, padding, replacing, ranges) checks the size of what it would make before making it, and charges
it to the run's ``Budget``, which also counts loop iterations and calls and watches the run's CPU time.
"""

import gc
import operator
import re
import threading
import time
from collections.abc import MappingView
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal

MAX_SIZE = 1_000_000  # one value made by one operation; one rendered document
MAX_CREATED = 8_000_000  # every value one script run or one template render makes, added up
MAX_INT_BITS = 100_000
MAX_FORMAT_NUMBER = 1_000  # widths and precisions in format specs, and the length of a spec
MAX_STEPS = 100_000  # loop iterations and calls of one run
MAX_TASK_DATA = 1_000_000  # a process task's data after each script
MAX_STATE = 8_000_000  # characters of one process instance's saved state (each task keeps a copy of its data)
SCRIPT_CPU_SECONDS = 0.5
TEMPLATE_CPU_SECONDS = 1.0

SEQUENCES = (str, bytes, list, tuple)
# expandtabs/translate grow strings by factors no cheap check bounds; as_integer_ratio turns
# Decimal("1e999999") into a million-digit int (minutes of CPU).
REFUSED_METHODS = frozenset({"expandtabs", "translate", "maketrans", "as_integer_ratio"})
_FORMAT_NUMBER = re.compile(r"\d+|\*")
_MAX_DECIMAL_DIGITS = MAX_INT_BITS * 3 // 10


class LimitExceeded(RuntimeError):
    """A bound was exceeded outside any run (inside one, the run's own error class is raised)."""


class _CollectorTime(threading.local):
    """The CPU time this thread spent in Python's garbage collector: a collection runs in whichever thread happens to
    allocate when it is due, and a full one over a large process can take longer than a whole render; it is not the
    run's doing, so a budget does not charge it."""

    spent = 0.0
    started = None


_COLLECTOR = _CollectorTime()


def _collector_clock(phase, _info):
    if phase == "start":
        _COLLECTOR.started = time.thread_time()
    elif _COLLECTOR.started is not None:
        _COLLECTOR.spent += time.thread_time() - _COLLECTOR.started
        _COLLECTOR.started = None


gc.callbacks.append(_collector_clock)


def _own_cpu_time():
    """This thread's CPU time, less what it spent collecting garbage."""
    return time.thread_time() - _COLLECTOR.spent


class Budget:
    """One run of administrators' code: its steps, its CPU deadline and the size of what it made so far.

    ``error`` is the class the sandbox reports limits with. Once exceeded the budget stays exceeded, so code that
    catches the error gains nothing.
    """

    __slots__ = ("who", "error", "cpu_seconds", "steps", "created", "deadline", "violation")

    def __init__(self, who, error, cpu_seconds):
        self.who, self.error, self.cpu_seconds = who, error, cpu_seconds
        self.steps = self.created = 0
        self.deadline = _own_cpu_time() + cpu_seconds
        self.violation = None

    def tick(self, value=True):
        """One loop iteration or call: the cheap, signal-free time bound."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.fail(self.violation or f"{self.who} exceeded {MAX_STEPS} loop iterations")
        if not self.steps & 7:
            self.check_clock()
        return value

    def charge(self, size):
        """A value of ``size`` was (or is about to be) made."""
        self.created += size
        if self.created > MAX_CREATED:
            self.fail(self.violation or f"{self.who} made more than {MAX_CREATED} characters or items in all")
        if size > 4096:
            self.check_clock()

    def check_clock(self):
        if _own_cpu_time() > self.deadline:
            self.fail(self.violation or f"{self.who} exceeded {self.cpu_seconds} s of CPU time")

    def check(self):
        if self.violation:
            raise self.error(self.violation)

    def fail(self, message):
        self.violation = message
        self.steps = MAX_STEPS
        raise self.error(message)


_ACTIVE = ContextVar("workflows_bounds_budget", default=None)


@contextmanager
def running(budget):
    """Run code under ``budget``: the checks below charge it and raise its error class."""
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def current():
    """The running budget; outside any run, a fresh one (each operation is still bounded on its own)."""
    return _ACTIVE.get() or Budget("code", LimitExceeded, SCRIPT_CPU_SECONDS)


def refuse(message):
    raise current().error(message)


def expanded_size(value, limit=MAX_SIZE):
    """What ``value`` prints or serializes as, in characters or items, counted until it passes ``limit``."""
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            total += len(item)
            if total <= limit:
                pending.extend(item)
                if isinstance(item, dict):
                    pending.extend(item.values())
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, Decimal):
            total += _decimal_digits(item)
        elif isinstance(item, MappingView):  # last: checks against abstract classes are slow
            total += len(item)
            if total <= limit:
                pending.extend(item)
        else:
            total += 1
    return total


def _decimal_digits(value):
    """Decimal("1e30000000") is short to write but thirty million digits in fixed-point notation."""
    if not value.is_finite():
        return 3
    sign, digits, exponent = value.as_tuple()
    return len(digits) + abs(exponent)


def check_size(size):
    if size > MAX_SIZE:
        refuse(f"result would exceed {MAX_SIZE} items or characters")


def check_bits(bits):
    if bits > MAX_INT_BITS:
        refuse(f"integer result would exceed {MAX_INT_BITS} bits")


def charge(size):
    current().charge(size)


def checked_value(value):
    """``value`` about to be printed, formatted or turned into a string: bounded by what it expands to."""
    size = expanded_size(value)
    check_size(size)
    charge(size)
    return value


def format_too_big(spec):
    """Widths and precisions in format specs allocate before any check could run."""
    return len(spec) > MAX_FORMAT_NUMBER or any(
        n == "*" or len(n) > 4 or int(n) > MAX_FORMAT_NUMBER for n in _FORMAT_NUMBER.findall(spec))


FORMAT_REFUSAL = f"format widths and precisions above {MAX_FORMAT_NUMBER} are not allowed"


def check_spec(spec):
    """The spec of one ``str.format`` field (its value goes through ``checked_value`` when it is looked up)."""
    if format_too_big(spec):
        refuse(FORMAT_REFUSAL)


def check_decimal(value):
    """Decimal("1e999999") is cheap, but turning it into an int (int(), round(), %d) takes minutes."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > _MAX_DECIMAL_DIGITS:
        refuse(f"integer result would exceed {MAX_INT_BITS} bits")


def check_add(a, b):
    if isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
        check_size(len(a) + len(b))
        charge(len(a) + len(b))


def check_mul(a, b):
    """A repetition is as big as what it prints as: ``[s] * 20`` of a million-character ``s`` is 20 million."""
    if isinstance(a, int) and isinstance(b, int):
        check_bits(a.bit_length() + b.bit_length())
        return
    sequence, times = (a, b) if isinstance(b, int) else (b, a)
    if isinstance(sequence, SEQUENCES) and isinstance(times, int) and times > 0:
        check_size(len(sequence) * times)
        if not isinstance(sequence, (str, bytes)):
            check_size(expanded_size(sequence, MAX_SIZE // times) * times)
        charge(len(sequence) * times)


def check_pow(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        check_bits(b * a.bit_length())


def check_lshift(a, b):
    if isinstance(a, int) and isinstance(b, int) and a:
        check_bits(a.bit_length() + b)


def check_mod(a, b):
    """``text % values``: widths bounded, and the result no bigger than the text and the values it prints."""
    if not isinstance(a, str):
        return
    if format_too_big("".join(re.findall(r"%[^a-zA-Z%]*", a))):
        refuse(FORMAT_REFUSAL)
    values = b if isinstance(b, tuple) else tuple(b.values()) if isinstance(b, dict) else (b,)
    for value in values:
        check_decimal(value)
    size = len(a) + expanded_size(values)
    check_size(size)
    charge(size)


BINOP_CHECKS = {"+": check_add, "*": check_mul, "**": check_pow, "<<": check_lshift, "%": check_mod}
BINOPS = {"+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod}


def bounded_range(*args):
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = MAX_SIZE + 1
    check_size(size)
    charge(size)
    return numbers


def check_sum_start(start):
    """sum() over lists or strings builds quadratic, unbounded copies."""
    if isinstance(start, SEQUENCES):
        refuse("sum() of sequences is not allowed")


def replaced_size(text, old, new, count=-1):
    hits = text.count(old) if count is None or count < 0 else min(count, text.count(old))
    return len(text) + hits * (len(new) - len(old))


def _checked_join(separator):
    def join(parts):
        parts = list(parts)
        size = len(separator) * max(len(parts) - 1, 0) + sum(len(p) for p in parts if isinstance(p, SEQUENCES))
        check_size(size)
        charge(size)
        return separator.join(parts)
    return join


def _checked_replace(text):
    def replace(old, new, count=-1):
        size = replaced_size(text, old, new, count)
        check_size(size)
        charge(size)
        return text.replace(old, new, count)
    return replace


def _checked_pad(method):
    def pad(width, *args):
        check_size(width)
        charge(width)
        return method(width, *args)
    return pad


def _checked_extend(items):
    def extend(other):
        other = other if isinstance(other, SEQUENCES) else list(other)
        check_size(len(items) + len(other))
        charge(len(other))
        items.extend(other)
    return extend


_STRING_METHODS = {
    "join": _checked_join,
    "replace": _checked_replace,
    **{name: lambda text, name=name: _checked_pad(getattr(text, name)) for name in ("ljust", "rjust", "center", "zfill")},
}
BOUNDED_METHOD_NAMES = frozenset(_STRING_METHODS) | {"extend"}


def bounded_method(owner, name):
    """The bounded stand-in for ``owner.name`` when that method can make a value much bigger than ``owner``, or None."""
    if isinstance(owner, (str, bytes)) and name in _STRING_METHODS and hasattr(owner, name):
        return _STRING_METHODS[name](owner)
    if isinstance(owner, list) and name == "extend":
        return _checked_extend(owner)
    return None
