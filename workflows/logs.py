"""One logging setup for the web app, the CLI and the job worker: JSON lines (``LOG_FORMAT=json``, production's default)
or text, at ``LOG_LEVEL``, on standard error; every record carries the id of the request it was emitted for.

The request id lives in a context variable: the web app sets it for each request (``webapp/request_log.py``), a job
carries the id of the request that enqueued it and its handler runs under that id again (``services/jobs.py``), so
a request and the work it caused are found together in the logs.
"""
import logging
import re
import sys
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from pythonjsonlogger.json import JsonFormatter

from .clock import CHINA

REQUEST_ID = ContextVar("request_id", default=None)
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # what a proxy's id may be; job.request_id holds 128
_OURS = "_qianyue"  # marks the handler ``configure`` installed, which the next call replaces


def current_request_id():
    return REQUEST_ID.get()


def request_id_from(incoming):
    """A proxy's id when it is well-formed (an id is written into every log line: no spaces, quotes or newlines), else
    a new one."""
    if incoming and WELL_FORMED.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def request_id(value):
    """Log under ``value`` (None: no request) until the block ends."""
    token = REQUEST_ID.set(value)
    try:
        yield value
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record the handler emits (None outside a request)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class _ChinaTime:
    """Times in the log are China time with their offset (``2026-12-02T17:28:58.123+08:00``)."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created, CHINA).isoformat(timespec="milliseconds")


class JsonLines(_ChinaTime, JsonFormatter):
    def __init__(self):
        super().__init__(["asctime", "levelname", "name", "message", "request_id"],
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)


class TextLines(_ChinaTime, logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record):
        if getattr(record, "request_id", None) is None:  # a copy: the record is shared with other handlers
            record = logging.makeLogRecord({**record.__dict__, "request_id": "-"})
        return super().format(record)


def handler(fmt, stream=None):
    """A handler writing ``fmt`` ("json" or "text") lines to ``stream`` (standard error), with the request id."""
    result = logging.StreamHandler(stream or sys.stderr)
    result.setFormatter(JsonLines() if fmt == "json" else TextLines())
    result.addFilter(RequestIdFilter())
    setattr(result, _OURS, True)
    return result


def configure(fmt, level, stream=None):
    """Install ``handler`` on the root logger at ``level``, replacing the one an earlier call installed (a process
    that makes its app twice, tests) and leaving other handlers alone (pytest's)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler(fmt, stream))
    root.setLevel(level)


def gunicorn_config(fmt, level):
    """gunicorn's ``logconfig_dict`` (gunicorn.conf.py): its own messages through the same handler as the app's, and
    no access log of its own (the app writes one line per request, with the request's id and user)."""
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"qianyue": {"()": "workflows.logs.handler", "fmt": fmt}},
            "root": {"level": level, "handlers": ["qianyue"]},
            "loggers": {"gunicorn.error": {"level": level, "handlers": [], "propagate": True},
                        "gunicorn.access": {"handlers": [], "propagate": False}}}
