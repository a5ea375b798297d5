"""Logs (workflows/logs.py, webapp/request_log.py): one line per record, JSON or text, each with the id of the request
it was emitted for; the id comes back in X-Request-ID, and follows the request into the jobs it enqueued."""
import io
import json
import logging
import re
import sys
from datetime import timedelta

import pytest

from tests.conftest import AUDIT_KEY, NO_RATE_LIMITS
from webapp import create_app
from workflows import logs
from workflows.services.jobs import JobService

HEX_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.logs")


@pytest.fixture
def stderr():
    """What the app's log handler writes: create_app points it at standard error, which ``make_app`` makes this."""
    yield io.StringIO()
    logs.configure("text", "INFO")  # back to the real standard error for the tests that follow


def records(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def make_app(database_url, tmp_path, stderr, monkeypatch):
    made = []

    def make(**config):
        with monkeypatch.context() as patch:  # in the test's own phase: pytest sets sys.stderr anew for each
            patch.setattr(sys, "stderr", stderr)
            app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "AUDIT_KEY": AUDIT_KEY,
                              "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path), "LOG_FORMAT": "json",
                              **NO_RATE_LIMITS, **config})

        @app.get("/test-log")
        def logging_view():
            log.warning("inside the view")
            return "logged"

        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["qianyue"].db.dispose()


def test_each_request_has_an_id_in_its_header_and_in_every_record_logged_for_it(make_app, stderr):
    client = make_app().test_client()
    first, second = client.get("/test-log"), client.get("/test-log")
    ids = [response.headers["X-Request-ID"] for response in (first, second)]
    assert all(HEX_ID.fullmatch(i) for i in ids) and ids[0] != ids[1]
    log.warning("after the requests")
    lines = records(stderr)
    inside = [line for line in lines if line["message"] == "inside the view"]
    assert [line["request_id"] for line in inside] == ids
    assert inside[0]["level"] == "WARNING" and inside[0]["logger"] == "tests.logs"
    assert inside[0]["time"].endswith("+08:00")  # China time, with its offset
    access = [line for line in lines if line["logger"] == "webapp.access"]
    assert [(a["request_id"], a["method"], a["path"], a["status"], a["user"]) for a in access] == [
        (ids[0], "GET", "/test-log", 200, None), (ids[1], "GET", "/test-log", 200, None)]
    assert all(isinstance(a["duration_ms"], float) for a in access)
    assert lines[-1]["message"] == "after the requests" and lines[-1]["request_id"] is None


def test_text_lines_carry_the_id_too(make_app, stderr):
    response = make_app(LOG_FORMAT="text").test_client().get("/test-log")
    line = next(line for line in stderr.getvalue().splitlines() if "inside the view" in line)
    assert f" WARNING tests.logs [{response.headers['X-Request-ID']}] inside the view" in line


def test_a_trusted_proxys_request_id_is_kept_when_well_formed(make_app):
    behind_proxy = make_app(TRUSTED_PROXIES=1).test_client()
    for sent, kept in (("edge-42.a:7", True), ("bad id", False), ("x" * 129, False), ("-starts-badly", False),
                       ("é", False)):
        answered = behind_proxy.get("/test-log", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
        assert answered == sent if kept else HEX_ID.fullmatch(answered), (sent, answered)
    direct = make_app().test_client()  # no proxy is believed: a client does not choose its id
    assert HEX_ID.fullmatch(direct.get("/test-log", headers={"X-Request-ID": "edge-42"}).headers["X-Request-ID"])


def test_the_access_log_names_the_user(make_app, stderr):
    app = make_app()
    platform = app.extensions["qianyue"]
    with platform.db.write() as session:
        token = platform.accounts.create_token(session, "legal")
    response = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    (access,) = [line for line in records(stderr) if line["logger"] == "webapp.access"]
    assert (access["user"], access["status"], access["request_id"]) == (
        "legal", 200, response.headers["X-Request-ID"])


def test_the_access_log_says_what_each_request_cost_in_cpu_and_statements(make_app, stderr):
    app = make_app()
    platform = app.extensions["qianyue"]
    with platform.db.write() as session:
        token = platform.accounts.create_token(session, "legal")
    client = app.test_client()
    client.get("/test-log")
    client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    with platform.db.read() as session:  # outside a request nothing is counted, and nothing leaks into the next one
        platform.tasks.query(session, roles={"legal"})
    client.get("/api/v1/tasks?role=legal", headers={"Authorization": f"Bearer {token}"})
    view, tasks, again = [line for line in records(stderr) if line["logger"] == "webapp.access"]
    assert view["statements"] == 0 and isinstance(view["cpu_ms"], float)
    # the token's user (its transaction: BEGIN, SELECT, ROLLBACK), then the tasks (BEGIN, the role's tasks named for
    # nobody, those named for the user, ROLLBACK)
    assert tasks["statements"] == again["statements"] == 7, (tasks, again)
    assert tasks["cpu_ms"] > 0 and tasks["message"].endswith(f"(CPU {tasks['cpu_ms']} ms, 7 statements)")


def test_a_job_logs_under_the_id_of_the_request_that_enqueued_it(make_app, stderr):
    app = make_app(WTF_CSRF_ENABLED=False)
    jobs = JobService(app.extensions["qianyue"].db)  # its own service: the platform's kinds stay out of it
    seen = []

    def handler(job):
        seen.append(logs.current_request_id())
        log.info("handling job %s", job.id)

    jobs.register("test.logged", handler, backoff=timedelta(minutes=1))

    @app.post("/test-enqueue")
    def enqueue_view():
        with jobs.db.write() as session:
            return {"job": jobs.enqueue(session, "test.logged", {})}

    response = app.test_client().post("/test-enqueue")
    request_id, job_id = response.headers["X-Request-ID"], response.json["job"]
    with jobs.db.read() as session:
        assert jobs.get(session, job_id).request_id == request_id
    assert logs.current_request_id() is None
    done = jobs.run_one("test-worker")  # outside any request, as the worker runs it
    assert done.status == "done" and seen == [request_id] and logs.current_request_id() is None
    (handled,) = [line for line in records(stderr) if line["message"] == f"handling job {job_id}"]
    assert handled["request_id"] == request_id
    with jobs.db.write() as session:  # enqueued outside a request: no id
        quiet = jobs.enqueue(session, "test.logged", {})
    with jobs.db.read() as session:
        assert jobs.get(session, quiet).request_id is None
