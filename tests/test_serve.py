"""`make serve`: gunicorn and a job worker beside it on PostgreSQL, started and stopped together (scripts/serve)."""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, _admin_dsn, free_port

ROOT = Path(__file__).resolve().parent.parent


def serve(env, **kwargs):
    return subprocess.Popen([str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def production_env(tmp_path, **settings):
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**keep, "APP_ENV": "production", "SECRET_KEY": "s" * 40, "AUDIT_KEY": "a" * 40,
            "SIGNING_KEY_PASSPHRASE": "p" * 40, "QIANYUE_INSTANCE": str(tmp_path), **settings}


def test_serve_refuses_without_postgresql(tmp_path):
    """The app's own settings refuse (workflows/settings.py), before anything is migrated or started."""
    for settings in ({}, {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}):
        process = serve(production_env(tmp_path, **settings))
        output, _ = process.communicate(timeout=60)
        assert process.returncode != 0 and "DATABASE_URL: must name PostgreSQL" in output, output
        assert "Traceback" not in output and not (tmp_path / "x.db").exists()


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def niceness(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def command_line(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.db
@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="make serve runs on PostgreSQL")
def test_serve_runs_gunicorn_and_a_worker_until_stopped(tmp_path):
    name = f"qianyue_serve_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    process = serve(production_env(tmp_path, DATABASE_URL=url, PORT=str(port), WEB_CONCURRENCY="2"))
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30) as response:
                    ready = response.status
                    break
            except OSError:  # not listening yet, or still opening the PKI
                time.sleep(0.5)
        assert ready == 200, process.stdout.read() if process.poll() is not None else "not ready in 90 s"
        with pytest.raises(urllib.error.HTTPError) as idp:  # the embedded identity provider is off
            urllib.request.urlopen(f"http://127.0.0.1:{port}/idp/.well-known/openid-configuration", timeout=5)
        assert idp.value.code == 404
        started = {pid: command_line(pid) for pid in children(process.pid)}
        assert any("gunicorn" in c for c in started.values()) and any("jobs run" in c for c in started.values()), started
        # the worker's PDF work yields the CPU to requests
        assert {niceness(pid) for pid, c in started.items() if "jobs run" in c} == {min(19, os.nice(0) + 10)}
        assert {niceness(pid) for pid, c in started.items() if "gunicorn" in c} == {os.nice(0)}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert process.returncode == 143
    assert not children(process.pid)
    # production logs JSON lines; each request once, by the app (with its id), none by gunicorn's access log
    lines = [json.loads(line) for line in process.stdout.read().splitlines() if line.startswith("{")]
    (refused,) = [line for line in lines if line["logger"] == "webapp.access" and line["path"].startswith("/idp/")]
    assert refused["status"] == 404 and len(refused["request_id"]) == 32
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert not any(line["logger"] == "gunicorn.access" for line in lines)
