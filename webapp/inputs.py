"""Reading a request's input, for the API and the pages alike: a malformed request is refused before it reaches a
use case or the database (400 or 422 naming the field), never a 500."""
import json
import re
from datetime import date

from flask import request

from workflows.errors import ValidationFailed

from .errors import MalformedRequest

MAX_JSON_DEPTH = 32  # a contract nests 3 levels; far below the parser's recursion limit
LARGEST_ID = 2**31 - 1  # ids and versions are INTEGER columns, which on PostgreSQL hold 4 bytes
LARGEST_OFFSET = 2**63 - 1  # OFFSET takes a bigint
SURROGATE = re.compile("[\ud800-\udfff]")


def json_body():
    """The request's JSON value ({} when there is no body). A body that cannot be read is 400 and changes nothing: not
    JSON, nested deeper than MAX_JSON_DEPTH (the parser's recursion is bounded), or text (a key or a value) that no
    database column stores, U+0000 or a lone surrogate, named by its dotted path in ``fields``."""
    data = request.get_data(cache=True)
    if not data:
        return {}
    if not request.is_json:
        raise MalformedRequest("the body is not JSON (send Content-Type: application/json)")
    try:
        body = json.loads(data)
    except RecursionError:
        raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    except ValueError:
        raise MalformedRequest("the body is not valid JSON (send Content-Type: application/json)")
    check_readable(body)
    return body


def check_readable(body):
    """Walk the parsed body (without recursion): 400 past MAX_JSON_DEPTH levels, and naming every key or text that
    holds U+0000 or a lone surrogate (a JSON escape such as \\ud800 decodes to one; UTF-8 cannot carry it)."""
    problems, pending = {}, [("", body, 0)]
    while pending:
        path, value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels", {path: "nested too deeply"})
        if isinstance(value, str) and _text_problem(value):
            problems[path] = _text_problem(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                at = _joined(path, _printable(key))
                if _text_problem(key):
                    problems[at] = "its name " + _text_problem(key)
                pending.append((at, item, depth + 1))
        elif isinstance(value, list):
            pending.extend((_joined(path, str(index)), item, depth + 1) for index, item in enumerate(value))
    if problems:
        raise MalformedRequest("the body holds text that cannot be stored: " + ", ".join(sorted(problems)), problems)


def _text_problem(text):
    """Why no column can store ``text`` (None: it can)."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which no text field can store"
    if SURROGATE.search(text):
        return "contains a lone surrogate (U+D800 to U+DFFF), which is not Unicode text"
    return None


def _printable(text):
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _joined(path, name):
    return f"{path}.{name}" if path else name


def whole_number(name, default=None, low=0, high=LARGEST_ID):
    """A query argument that is a whole number from ``low`` to ``high`` (``default`` when absent); 422 naming the
    argument otherwise, never clamped: a number past what the database compares would fail there."""
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(high)) and low <= int(value) <= high):
        expected = f"a whole number from {low} to {high}"
        raise ValidationFailed(f"{name} is {expected}", {name: expected})
    return int(value)


def day_argument(name):
    """A query argument that is a date (2025-07-01), None when absent; 422 naming the argument otherwise."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        if value.isascii() and len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValidationFailed(f"{name} is a date such as 2025-07-01", {name: "a date such as 2025-07-01"})


def page_number(page_size):
    """A list page's ``page`` argument (from 1): anything else, or a page past what OFFSET can reach, is page 1 (a
    person's link, not an API call: it gets the first page, not an error)."""
    value = request.args.get("page", "")
    if value.isascii() and value.isdigit() and len(value) <= len(str(LARGEST_OFFSET)):
        page = int(value)
        if 1 <= page and (page - 1) * page_size <= LARGEST_OFFSET:
            return page
    return 1
