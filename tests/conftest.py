"""Fixtures: a fresh, migrated and seeded database per test, on SQLite or (QIANYUE_TEST_DATABASE_URL) PostgreSQL.

The schema is built once per session through the real Alembic migrations and seeded with
the demo data; each test then gets its own copy (a file copy on SQLite, ``CREATE DATABASE
... TEMPLATE`` on PostgreSQL), so tests never see each other's rows.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from werkzeug.serving import make_server

from webapp import create_app
from workflows import demo, migrate
from workflows.clock import china_time, utcnow
from workflows.demo import DEMO_PASSWORD
from workflows.settings import RATE_LIMITS

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("QIANYUE_TEST_DATABASE_URL")
AUDIT_KEY = "test-audit-key"  # the app's and any second node's (Platform) of a test: one deployment, one key
SIGNING_PASSPHRASE = "test-signing-passphrase"  # and one PKI passphrase, so that a copied database's keys open
DB_FIXTURES = {"database_url", "app", "platform", "client", "api"}
NO_RATE_LIMITS = {name: "100000 per minute" for name in RATE_LIMITS}  # tests/web/test_rate_limits.py sets its own


def pytest_collection_modifyitems(items):
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def free_port():
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """A real SMTP server on a loopback port (aiosmtpd) keeping what it receives: the tests read mail as its recipient
    would, after the application's mail jobs delivered it. ``port`` given: one that nothing listened on so far."""

    def __init__(self, port=None):
        self.messages, self.port = [], port or free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(make_header(decode_header(message["Subject"]))),
                              "body": message.get_payload(decode=True).decode("utf-8")})
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if address in m["to"]]

    def wait_for(self, address, subject, seen=0, timeout=30):
        """The next mail to ``address`` whose subject holds ``subject`` after the ``seen`` first ones, once a worker
        delivered it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrived = [m for m in self.to(address) if subject in m["subject"]]
            if len(arrived) > seen:
                return arrived[seen]
            time.sleep(0.1)
        raise AssertionError(f"no mail '{subject}' to {address} within {timeout} s; received: "
                             f"{[(m['to'], m['subject']) for m in self.messages]}")

    def close(self):
        self._controller.stop()


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


def load_fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _admin_dsn(url, database="postgres"):
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


def _recreate_pg_database(url, name, template=None):
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def _seeded(url, instance):
    """Migrate and seed the database at ``url``; the digest of what it holds (``content_digest``)."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "AUDIT_KEY": AUDIT_KEY, "APP_ENV": "development",
                      "INSTANCE_PATH": str(instance)})
    platform = app.extensions["qianyue"]
    migrate.upgrade(platform.db)
    demo.seed(platform)
    digest = content_digest(platform.db)
    platform.db.dispose()
    return digest


UNCOUNTED = {"api_token"}  # minted by the Api helper on a test's first call; a restored database gets fresh ones


def content_digest(db):
    """A digest of every row of every table but UNCOUNTED: equal to the template's while a test changed nothing."""
    digest = hashlib.sha256()
    with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in UNCOUNTED:
                digest.update(table.name.encode())
                for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
                    digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


class Snapshots:
    """Databases in a state a recipe reached, built once per session and copied into each test that asks for it.

    As every test's database is a copy of the seeded template, a test that activates a contract gets a copy of the
    database of the first test of the session that activated the same draft on the same (China) day with the same
    settings: activation signs and seals through the whole process (4 s), the copy takes a few milliseconds on
    SQLite and a fifth of a second on PostgreSQL. Only a database no test changed yet (its ``content_digest`` is the
    template's) is replaced, so nothing a test did before is lost; otherwise the recipe runs for real. The key holds
    whatever outside the database shapes the result: the app's settings and the webhook receiver."""

    def __init__(self, template_digest, folder):
        self.template_digest, self.folder, self.built = template_digest, folder, {}

    def prepared(self, api, recipe, build):
        """``build()``'s result, on a database as ``build`` leaves it (``recipe``: what it does, JSON)."""
        platform = api.platform
        settings = {name: value for name, value in api.client.application.config.items()
                    if name not in ("DATABASE_URL", "INSTANCE_PATH") and isinstance(value, (str, int, float, bool))}
        day = china_time(utcnow()).date()  # terms, timers and renewals are worked out from today
        key = hashlib.sha256(json.dumps([recipe, day, settings, platform.webhooks.url, platform.webhooks.secret],
                                        sort_keys=True, default=str).encode()).hexdigest()[:16]
        if content_digest(platform.db) != self.template_digest:
            return build()  # the test changed its database already: the recipe runs on it
        if key in self.built:
            result, signed_in = self.built[key]
            self._copy(platform.db, key, restore=True)
            api.tokens.clear()  # the copy holds the tokens of the test that built it: mint the same users' own
            for username in signed_in:
                api.token(username)
            return result
        result = build()
        self._copy(platform.db, key, restore=False)
        self.built[key] = result, list(api.tokens)
        return result

    def _copy(self, db, key, restore):
        """Copy the test's database into snapshot ``key`` or (``restore``) back; no connection of the app's stays
        open."""
        db.dispose()
        if PG_URL:
            snapshot, own = self._pg_name(key), db.url.database
            if restore:
                _recreate_pg_database(PG_URL, own, template=snapshot)
            else:
                _recreate_pg_database(PG_URL, snapshot, template=own)
            return
        path = str(self.folder / f"{key}.db")
        source, target = (path, db.url.database) if restore else (db.url.database, path)
        with closing(sqlite3.connect(source)) as read, closing(sqlite3.connect(target)) as written:
            read.backup(written)

    @staticmethod
    def _pg_name(key):
        return f"qianyue_snap_{os.getpid()}_{key}"

    def drop(self):
        if PG_URL:
            with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as conn:
                for key in self.built:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name(key)}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_database(tmp_path_factory):
    instance = tmp_path_factory.mktemp("template-instance")
    if PG_URL:
        name = f"qianyue_tpl_{os.getpid()}"
        _recreate_pg_database(PG_URL, name)
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        digest = _seeded(url, instance)
        yield name, digest
        with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = instance / "template.db"
        digest = _seeded(f"sqlite:///{path}", instance)
        yield path, digest


@pytest.fixture(scope="session")
def snapshots(template_database, tmp_path_factory):
    _template, digest = template_database
    shelf = Snapshots(digest, tmp_path_factory.mktemp("snapshots"))
    yield shelf
    shelf.drop()


class PgDatabases:
    """Each test's PostgreSQL database, made from the template one test ahead and dropped after it, in a thread:
    CREATE DATABASE copies the template through the WAL and DROP waits for the server (together 0.3 s quiet, up to a
    second beside the SQLite pass), while the test in between runs on this thread."""

    def __init__(self, template):
        self.template, self.server = template, ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self.ahead = self.server.submit(self._create)

    def take(self):
        made, self.ahead = self.ahead, self.server.submit(self._create)
        return made.result()

    def give_back(self, name):
        self.server.submit(self._drop, name)

    def close(self):
        self.give_back(self.ahead.result())
        self.server.shutdown(wait=True)

    def _create(self):
        name = f"qianyue_t_{uuid.uuid4().hex[:10]}"
        _recreate_pg_database(PG_URL, name, template=self.template)
        return name

    @staticmethod
    def _drop(name):
        with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases(template_database):
    if not PG_URL:
        yield None
        return
    databases = PgDatabases(template_database[0])
    yield databases
    databases.close()


@pytest.fixture
def database_url(template_database, pg_databases, tmp_path):
    template, _digest = template_database
    if PG_URL:
        name = pg_databases.take()
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        pg_databases.give_back(name)
    else:
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "AUDIT_KEY": AUDIT_KEY,
                      "SIGNING_KEY_PASSPHRASE": SIGNING_PASSPHRASE,
                      "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path), "TESTING": True, **NO_RATE_LIMITS})
    yield app
    app.extensions["qianyue"].db.dispose()


@pytest.fixture
def platform(app):
    return app.extensions["qianyue"]


@pytest.fixture
def users(platform):
    """The seeded users by name, detached from any session."""
    with platform.db.read() as session:
        return {name: platform.accounts.get(session, name) for name, *_ in demo.DEMO_USERS}


class Api:
    """A small client for the REST API that logs in with a fresh token per user."""

    def __init__(self, client, platform, snapshots=None):
        self.client, self.platform, self.tokens, self.snapshots = client, platform, {}, snapshots

    def prepared(self, recipe, build):
        """``build()``, or a copy of the database it left when the session ran the same ``recipe`` (Snapshots)."""
        return self.snapshots.prepared(self, recipe, build) if self.snapshots else build()

    def token(self, username):
        if username not in self.tokens:
            with self.platform.db.write() as session:
                self.tokens[username] = self.platform.accounts.create_token(session, username)
        return self.tokens[username]

    def call(self, method, path, user=None, json=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return self.client.open("/api/v1" + path, method=method, json=json, headers=headers, **kwargs)

    def tasks(self, user, contract_id):
        response = self.call("GET", f"/tasks?contract_id={contract_id}", user)
        assert response.status_code == 200, response.json
        return response.json["items"]

    def decide(self, user, contract_id, decision, comment=""):
        if decision == "sign":
            return self.sign(user, contract_id, comment)
        (task,) = self.tasks(user, contract_id)
        response = self.call("POST", f"/tasks/{task['id']}/complete", user, {"decision": decision, "comment": comment})
        assert response.status_code == 200, response.json
        return response.json

    def run_jobs(self):
        """What the worker does after the commit (tests run it themselves): prepare documents, build packages."""
        return self.platform.jobs.run_pending("tests")

    def index_clauses(self):
        """Run only the register.index jobs drafts leave (their clause text), for tests that count the other jobs."""
        return self.platform.jobs.run_pending("tests", kinds=["register.index"])

    def last_code(self, contract_id):
        with self.platform.db.read() as session:
            return self.platform.signing.last_code(session, contract_id)

    def intent_code(self, user, task_id, contract_id):
        """Request a confirmation code for the task and read it back (as `flask intent last-code` does)."""
        response = self.call("POST", f"/tasks/{task_id}/intent", user)
        assert response.status_code == 201, response.json
        return self.last_code(contract_id)

    def fill_letters(self, user, contract_id, values=None):
        """Fill every letter's applicable fields (``values`` by letter code, else plausible ones), then prepare."""
        letters = self.call("GET", f"/contracts/{contract_id}/letters", user).json["items"]
        for letter in letters:
            wanted = [f for f in letter.get("fields", []) if f["name"] in letter.get("applicable", [])]
            if not wanted or letter["status"] == "signed":
                continue
            given = (values or {}).get(letter["code"]) or {f["name"]: PLAUSIBLE[f.get("type", "text")] for f in wanted}
            response = self.call("PUT", f"/contracts/{contract_id}/letters/{letter['code']}", user, {"values": given})
            assert response.status_code == 200, response.json
        self.run_jobs()

    def signing_body(self, user, task, contract_id, **signature):
        """What a signer sends: the SHA-256 of the document as it stands, a fresh code, and for the customer their
        consent and how they sign."""
        if task["role"] == "customer":
            state = self.call("GET", f"/contracts/{contract_id}/signing", user).json
            if state["status"] != "ready":
                self.fill_letters(user, contract_id)
                state = self.call("GET", f"/contracts/{contract_id}/signing", user).json
            assert state["status"] == "ready", state
            digest = state["document_sha256"]
            signature = {"method": "typed", "typed_name": "徐永立", "consent": True, **signature}
        else:
            digest = self.call("GET", f"/contracts/{contract_id}", user).json["document"]["document_sha256"]
        return {"decision": "sign", "document_sha256": digest, "intent_code": self.intent_code(user, task["id"], contract_id),
                **signature}

    def complete_sign(self, user, task_id, contract_id, comment="", **signature):
        """POST a sign decision (the signing act) with a fresh confirmation code; returns the response."""
        task = self.call("GET", f"/tasks/{task_id}", user).json
        body = self.signing_body(user, task, contract_id, **signature)
        response = self.call("POST", f"/tasks/{task_id}/complete", user, {**body, "comment": comment})
        self.run_jobs()
        return response

    def sign(self, user, contract_id, comment=""):
        (task,) = self.tasks(user, contract_id)
        response = self.complete_sign(user, task["id"], contract_id, comment)
        assert response.status_code == 200, response.json
        return response.json


PLAUSIBLE = {"text": "张伟", "phone": "0373-8887112", "email": "zhang.wei@school.example"}


@pytest.fixture
def api(client, platform, snapshots):
    return Api(client, platform, snapshots)


# --- browser sessions (staff pages) ---------------------------------------------------
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html):
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as under a real server: pytest-flask keeps one context pushed for the
    whole test, and without this every client would share ``g`` (and with it Flask-WTF's cached CSRF token)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


class Browser:
    """A test client that signs in as a user and posts forms with the page's CSRF token."""

    def __init__(self, app):
        self.client = IsolatedClient(app, app.response_class, use_cookies=True)

    def sign_in(self, username, password=DEMO_PASSWORD):
        token = csrf_token(self.client.get("/login").get_data(as_text=True))
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def get(self, path, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path, data=None, page=None, **kwargs):
        """Post a form; the CSRF token comes from ``page`` (or the path itself) as a browser would have it."""
        html = self.client.get(page or path).get_data(as_text=True)
        return self.client.post(path, data={**(data or {}), "csrf_token": csrf_token(html)}, **kwargs)


@pytest.fixture
def browser(app):
    return Browser(app)


@pytest.fixture
def as_user(app):
    def signed_in(username):
        browser = Browser(app)
        response = browser.sign_in(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser
    return signed_in


# --- a real browser (Playwright driving Debian's chromium) ---------------------------------
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def live_url(app):
    """The app behind a real threaded HTTP server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def chromium():
    """A chromium per browser test: Playwright's sync API keeps an event loop running in this thread while it is
    open, and pyHanko (PDF signing in the tests that follow) refuses to start its own inside one."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    yield context.new_page()
    context.close()


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
