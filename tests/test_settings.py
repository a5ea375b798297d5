"""The deployment's settings (workflows/settings.py): one typed object from the environment, checked together.

Production refuses to start on a missing or bad setting, naming every problem at once, and never falls back to the
development secrets of the instance folder; BASE_URL is derived in one place, the same for the server and the CLI.
"""
import os
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path

import pytest
from sqlmodel import select, update

from tests.conftest import AUDIT_KEY
from tests.process.test_lifecycle import create, small_contract, submit
from webapp import config, create_app
from workflows import settings as settings_module
from workflows.clock import utcnow
from workflows.models import HumanTask, OutboxMail
from workflows.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": "postgresql://qianyue@db/qianyue", "SECRET_KEY": "s" * 40,
              "AUDIT_KEY": "a" * 40, "SIGNING_KEY_PASSPHRASE": "p" * 40}


@pytest.fixture(autouse=True)
def env(monkeypatch):
    """The environment of a test: none of the settings of the shell that runs the tests, then what the test sets."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def setenv(env, environment):
    for name, value in environment.items():
        env.setenv(name, value)


def refusals(env, environment, instance):
    setenv(env, environment)
    with pytest.raises(SettingsError) as refused:
        Settings.load({"QIANYUE_INSTANCE": str(instance)})
    return refused.value.problems


@pytest.mark.parametrize("given, problem", [
    ({"SECRET_KEY": ""}, "SECRET_KEY: must be set when APP_ENV=production"),
    ({"AUDIT_KEY": ""}, "AUDIT_KEY: must be set when APP_ENV=production"),
    ({"SIGNING_KEY_PASSPHRASE": ""}, "SIGNING_KEY_PASSPHRASE: must be set when APP_ENV=production"),
    ({"DATABASE_URL": ""}, "DATABASE_URL: must name PostgreSQL (postgresql://user@host/db) when APP_ENV=production"),
    ({"DATABASE_URL": "sqlite:///q.db"}, "DATABASE_URL: must name PostgreSQL (postgresql://user@host/db) when "
                                         "APP_ENV=production, not sqlite"),
    ({"DATABASE_URL": "mysql://q@db/q"}, "DATABASE_URL: names mysql: write postgresql://user@host/db or sqlite:///"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL: is not a database URL"),
    ({"BASE_URL": "contracts.example"}, "BASE_URL: 'contracts.example' is not an http(s) address"),
    ({"BASE_URL": "https://contracts.example:443x"}, "BASE_URL: 'https://contracts.example:443x' has a port that is "
                                                     "not a number"),
    ({"BASE_URL": "https://contracts.example/?next=1"}, "BASE_URL: 'https://contracts.example/?next=1': an address "
                                                        "without ?query or #fragment"),
    ({"PORT": "80a"}, "PORT: Input should be a valid integer, unable to parse string as an integer (got '80a')"),
    ({"PORT": "70000"}, "PORT: Input should be less than or equal to 65535 (got '70000')"),
    ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES: Input should be greater than or equal to 0 (got '-1')"),
    ({"RATELIMIT_API": "lots"}, "RATELIMIT_API: 'lots' is not a rate limit (write e.g. '10 per minute'"),
    ({"RATELIMIT_SIGN_IN": "10 per fortnight"}, "RATELIMIT_SIGN_IN: '10 per fortnight' is not a rate limit"),
    ({"APP_ENV": "prod"}, "APP_ENV: Input should be 'production' or 'development' (got 'prod')"),
    ({"MAIL_USE_TLS": "1", "MAIL_USE_SSL": "1"}, "MAIL_USE_SSL: cannot be set with MAIL_USE_TLS"),
    ({"MAIL_PORT": "smtp"}, "MAIL_PORT: Input should be a valid integer"),
    ({"OIDC_PROVIDERS": "[{"}, "OIDC_PROVIDERS: is not JSON"),
    ({"OIDC_ISSUER": "https://id.example"}, "OIDC_CLIENT_ID: must be set when OIDC_ISSUER is"),
    ({"OIDC_SCOPES": "email"}, "OIDC_SCOPES: must include openid"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT: Input should be 'json' or 'text' (got 'xml')"),
    ({"WEB_THREADS": "0"}, "WEB_THREADS: Input should be greater than or equal to 1 (got '0')"),
    ({"DIGEST_AT": "25:00"}, "DIGEST_AT: must be a time of day as HH:MM on the 24-hour clock"),
    ({"DIGEST_AT": "8"}, "DIGEST_AT: must be a time of day as HH:MM on the 24-hour clock"),
])
def test_each_refusal_names_the_variable_and_what_is_wrong(given, problem, tmp_path, env):
    problems = refusals(env, {**PRODUCTION, **given}, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_every_problem_is_named_at_once_and_no_secret_is_repeated(tmp_path, env):
    problems = refusals(env, {"APP_ENV": "production", "PORT": "eighty", "TRUSTED_PROXIES": "-2",
                         "BASE_URL": "ftp://x", "RATELIMIT_VERIFY": "ten", "MAIL_PASSWORD": "hunter2"}, tmp_path)
    assert [p.split(":")[0] for p in problems] == [
        "PORT", "BASE_URL", "DATABASE_URL", "SECRET_KEY", "AUDIT_KEY", "SIGNING_KEY_PASSPHRASE", "TRUSTED_PROXIES",
        "RATELIMIT_VERIFY"]
    with pytest.raises(SettingsError) as refused:  # a secret that is wrong is named, never shown
        Settings.load({"QIANYUE_INSTANCE": str(tmp_path), "SECRET_KEY": 123456789})
    assert "SECRET_KEY" in str(refused.value) and "123456789" not in str(refused.value)


def test_production_never_reads_nor_makes_the_instance_folder_secrets(tmp_path, env):
    for name in ("secret_key", "audit_key", "signing_passphrase"):
        (tmp_path / name).write_text(f"development {name}")
    without = {name: value for name, value in PRODUCTION.items() if name != "SECRET_KEY"}
    assert refusals(env, without, tmp_path) == [
        "SECRET_KEY: must be set when APP_ENV=production (the same on every node; the development one in the "
        "instance folder is never used there)"]
    env.setenv("SECRET_KEY", PRODUCTION["SECRET_KEY"])
    empty = tmp_path / "empty"
    empty.mkdir()
    for instance in (tmp_path, empty):
        loaded = Settings.load({"QIANYUE_INSTANCE": str(instance)})
        assert (loaded.SECRET_KEY.get_secret_value(), loaded.AUDIT_KEY.get_secret_value()) == ("s" * 40, "a" * 40)
        assert loaded.signing().passphrase() == b"p" * 40
    assert list(empty.iterdir()) == []


def test_development_creates_its_secrets_once_in_the_instance_folder(tmp_path):
    first = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    second = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert (first["SECRET_KEY"], first["AUDIT_KEY"]) == (second["SECRET_KEY"], second["AUDIT_KEY"])
    assert len(first["SECRET_KEY"]) > 40 and (tmp_path / "audit_key").read_text().strip() == first["AUDIT_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["DATABASE_URL"] == f"sqlite:///{tmp_path / 'qianyue.db'}"
    assert (first["DEMO_DATA_ENABLED"], first["EMBEDDED_IDP"], first["LOG_FORMAT"]) == (True, True, "text")


def test_production_defaults(tmp_path, env):
    loaded = Settings.load({"QIANYUE_INSTANCE": str(tmp_path), **PRODUCTION})
    assert (loaded.DEMO_DATA_ENABLED, loaded.EMBEDDED_IDP, loaded.RUN_WORKER, loaded.LOG_FORMAT) == (
        False, False, False, "json")
    env.setenv("DEMO_DATA_ENABLED", "1")
    assert Settings.load({"QIANYUE_INSTANCE": str(tmp_path), **PRODUCTION}).DEMO_DATA_ENABLED is True


def test_base_url_is_derived_from_port_in_one_place(tmp_path, env):
    env.setenv("PORT", "5123")
    assert Settings.load({"APP_ENV": "development", "QIANYUE_INSTANCE": str(tmp_path)}).BASE_URL == \
        "http://127.0.0.1:5123"
    env.setenv("BASE_URL", "https://contracts.example/")
    assert Settings.load({"APP_ENV": "development", "QIANYUE_INSTANCE": str(tmp_path)}).BASE_URL == \
        "https://contracts.example"


def test_create_app_checks_its_overrides_like_the_environment(tmp_path):
    with pytest.raises(SettingsError, match="PORT: Input should be a valid integer"):
        create_app({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path), "PORT": "x", "TESTING": True})


def test_settings_check_prints_the_effective_settings_with_secrets_masked(tmp_path, capsys, env):
    setenv(env, {**PRODUCTION, "QIANYUE_INSTANCE": str(tmp_path), "MAIL_PASSWORD": "hunter2",
                       "DATABASE_URL": "postgresql://qianyue:pgsecret@db/qianyue",
                       "OIDC_PROVIDERS": '[{"name": "gov", "kind": "oidc", "client_secret": "oidcsecret"}]'})
    assert settings_module.main() == 0
    shown = capsys.readouterr().out
    assert "SECRET_KEY=(set)" in shown and "MAIL_PASSWORD=(set)" in shown and "TSA_TOKEN=(unset)" in shown
    assert "DATABASE_URL=postgresql://qianyue:***@db/qianyue" in shown and "OIDC_PROVIDERS=gov (oidc)" in shown
    assert not any(secret in shown for secret in ("s" * 40, "a" * 40, "p" * 40, "hunter2", "pgsecret", "oidcsecret"))
    env.setenv("PORT", "none")
    assert settings_module.main() == 1
    assert "PORT: Input should be a valid integer" in capsys.readouterr().err


def test_the_digest_runs_at_digest_at_china_time(tmp_path, env):
    assert Settings.load({**PRODUCTION, "QIANYUE_INSTANCE": str(tmp_path)}).DIGEST_AT == time(8, 0)
    env.setenv("DIGEST_AT", "07:30")
    app = create_app({"APP_ENV": "development", "QIANYUE_INSTANCE": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"})
    task = app.extensions["qianyue"].jobs.recurring["overdue_digest"]
    assert (task.at, str(task.zone)) == (time(7, 30), "Asia/Shanghai")
    app.extensions["qianyue"].db.dispose()


def test_done_jobs_are_kept_job_retention_days_at_least_two(tmp_path, env):
    assert Settings.load({**PRODUCTION, "QIANYUE_INSTANCE": str(tmp_path)}).JOB_RETENTION_DAYS == 14
    with pytest.raises(SettingsError, match="JOB_RETENTION_DAYS"):
        Settings.load({**PRODUCTION, "QIANYUE_INSTANCE": str(tmp_path), "JOB_RETENTION_DAYS": "1"})
    env.setenv("JOB_RETENTION_DAYS", "30")
    app = create_app({"APP_ENV": "development", "QIANYUE_INSTANCE": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"})
    jobs = app.extensions["qianyue"].jobs
    assert jobs.retention == timedelta(days=30) and jobs.recurring["purge_jobs"].at == time(3, 0)
    app.extensions["qianyue"].db.dispose()


def test_a_cli_command_links_mail_to_the_servers_port(api, database_url, tmp_path):
    """The daily digest written by `flask --app wsgi jobs run --once` under PORT=5123 (BASE_URL unset) links to
    :5123, as the server does."""
    contract = create(api, small_contract())
    api.index_clauses()
    submit(api, contract["id"])
    db = api.platform.db
    with db.write() as session:
        session.execute(update(HumanTask).where(HumanTask.contract_id == contract["id"])
                        .values(due_at=utcnow() - timedelta(days=1)))
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    environment = {**keep, "APP_ENV": "development", "PORT": "5123", "DATABASE_URL": database_url,
                   "QIANYUE_INSTANCE": str(tmp_path), "AUDIT_KEY": AUDIT_KEY}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "run", "--once"], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ran 3 job(s)" in done.stdout, done.stderr  # the day's digest, purge, payment scan
    with db.read() as session:
        (body,) = session.exec(select(OutboxMail.body).where(OutboxMail.kind == "overdue_digest")).all()
    assert "http://127.0.0.1:5123/tasks/" in body
