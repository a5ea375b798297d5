"""How long the server takes for every page, as each role that sees it, and for the clicks people found slow.

    .venv/bin/python bench/pages.py [--runs 20] [--database-url postgresql://postgres@127.0.0.1:5432/test] [--worker]

The world of the route × role table (tests/security/world.py) on a fresh migrated, seeded database (SQLite by default;
with --database-url, a private database created on that PostgreSQL server and dropped after): a draft, a contract in
legal review, one with its customer (letter filled, document prepared), the staff signed in through the sign-in page,
the customer's person through the embedded identity provider; N+1 more contracts at the customer's step. It is built
by one app; everything timed runs on a second app on the same database that has served nothing yet (a fresh process,
as after a deploy or a gunicorn worker's recycling, its templates compiled as the servers do), through Flask's WSGI test
client with the same cookies:

- the clicks: accepting each invitation and saving each letter (with the signing page each redirects to), the
  customer's sign-in at the provider (its five requests), staff sign-in (POST /login);
- every GET page of the table (tests/security/pages.py: HTML pages and what they fetch or offer, never a PDF) as each
  role it lets see it (sales, legal, finance, signatory, admin, customer; anonymous for the public ones), plus the
  pages of a contract that became active on the first app; one request first, then N timed.

"first" is the first request of a page and role on the fresh app (cold caches and connections); p50 and
p95 are of the N after it, with the request thread's CPU time beside. Server time is taken inside the WSGI callable:
from the request's arrival until its body is produced (every hook, the database, the rendering; not the test client).
"again" counts the static files a page links that a browser asks for again on the next visit (no max-age).
Baseline in the same run: GET /healthz, the app's cheapest answer. Goal: p95 <= 300 ms for every page but the PDFs;
pages over it are flagged. Argon2id's share of a staff sign-in: one verification of the user's stored hash
alone after each sign-in.
--worker runs the job worker in a thread of the timed app, as `make run` does.
"""
import argparse
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import AUDIT_KEY, NO_RATE_LIMITS, Api, IsolatedClient, csrf_token, load_fixture  # noqa: E402
from tests.letters.helpers import SECURITY_VALUES, customer_signs  # noqa: E402
from tests.security.pages import pages  # noqa: E402
from tests.security.world import STAFF, at_customer, build, customer_sign_in, relative  # noqa: E402
from tests.web.customer_flow import LiveApp, invitation_links  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.warmup import compile_templates  # noqa: E402
from workflows import demo, migrate  # noqa: E402
from workflows.demo import DEMO_PASSWORD  # noqa: E402
from workflows.services.accounts import password_matches  # noqa: E402

GOAL_MS = 300
SHOWN = {**STAFF, "customer": "customer", "anonymous": "anonymous"}  # role in the table -> who the report names
STATIC = re.compile(r'(?:src|href)="(/static/[^"]+)"')
CUSTOMER_PERSON = "xu.yongli"


class ServerClock:
    """The app's WSGI callable, timed: wall and thread CPU seconds from a request's arrival until its body is produced
    and closed, kept per thread (the first app's server answers the provider's token calls in threads of its own)."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.local = wsgi_app, threading.local()

    def __call__(self, environ, start_response):
        started, cpu = time.perf_counter(), time.thread_time()
        body = self.wsgi_app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            getattr(body, "close", lambda: None)()
        self.local.last = (time.perf_counter() - started, time.thread_time() - cpu)
        return chunks

    def last(self):
        return self.local.last


class Timings:
    """(wall, CPU) seconds by (what, who); the first request of each kept apart."""

    def __init__(self, clock):
        self.clock, self.first, self.samples, self.again = clock, {}, {}, {}

    def record(self, what, who, response, expected=(200,)):
        assert response.status_code in expected, (what, who, response.status_code, response.get_data(as_text=True)[:300])
        if (what, who) not in self.first:
            self.first[(what, who)] = self.clock.last()
        else:
            self.samples.setdefault((what, who), []).append(self.clock.last())
        return response


def p95(samples):
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def database(server_url, folder):
    """A migrated, seeded database: a file in ``folder``, or a private one on the PostgreSQL server named. Returns its
    URL and what drops it."""
    if server_url is None:
        url, drop = f"sqlite:///{folder / 'pages.db'}", lambda: None
    else:
        name = f"qianyue_pages_{uuid.uuid4().hex[:8]}"
        admin = make_url(server_url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

        def drop():
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "AUDIT_KEY": AUDIT_KEY, "APP_ENV": "development",
                      "INSTANCE_PATH": str(folder)})
    migrate.upgrade(app.extensions["qianyue"].db)
    demo.seed(app.extensions["qianyue"])
    app.extensions["qianyue"].db.dispose()
    return url, drop


def at_customers(app, count):
    """Contracts at the customer's step, their invitations mailed: (contract id, invitation path) each."""
    platform = app.extensions["qianyue"]
    api = Api(app.test_client(), platform)
    contracts = [at_customer(api, load_fixture("contract-technical-service.json")) for _ in range(count)]
    return [(contract_id, relative(link)) for contract_id in contracts
            for _, kind, link, _ in invitation_links(platform, contract_id) if kind == "customer_invitation"]


def customer_clicks(timings, customer, invited):
    """Accept each invitation, then save its letter; each with the page the click redirects to (the signing page)."""
    customer.keep_csrf("/portal")
    form = {f"value.{name}": value for name, value in SECURITY_VALUES.items()}
    for contract_id, invitation in invited:
        accepted = timings.record("POST /invitations/{token} (accept)", "customer", customer.call("POST", invitation),
                                  expected=(302,))
        timings.record("  → GET /sign/{id}, letters to fill", "customer", customer.client.get(relative(accepted.location)))
        saved = timings.record("POST /sign/{id}/letters/{code} (save)", "customer",
                               customer.call("POST", f"/sign/{contract_id}/letters/information_security", form),
                               expected=(302,))
        timings.record("  → GET /sign/{id}, document being prepared", "customer",
                       customer.client.get(relative(saved.location)))


def sign_ins(timings, app, runs):
    """The customer's sign-in at the provider, then each staff user's POST /login, in a fresh browser each time; beside
    each staff sign-in, one Argon2id verification of the same password alone. Returns those verifications' seconds."""
    for _ in range(runs + 1):
        customer_sign_in(IsolatedClient(app, app.response_class, use_cookies=True), CUSTOMER_PERSON,
                         lambda step, response: timings.record(f"{step} (customer sign-in)", "customer", response,
                                                               expected=(200, 302)))
    platform, argon2 = app.extensions["qianyue"], []
    for username in STAFF.values():
        with platform.db.read() as session:
            stored = platform.accounts.get(session, username).password_hash
        for _ in range(runs + 1):
            client = IsolatedClient(app, app.response_class, use_cookies=True)
            token = csrf_token(client.get("/login").get_data(as_text=True))
            timings.record("POST /login (staff sign-in)", username, client.post("/login", data={
                "username": username, "password": DEMO_PASSWORD, "csrf_token": token}), expected=(302,))
            started = time.perf_counter()
            assert password_matches(stored, DEMO_PASSWORD)
            argon2.append(time.perf_counter() - started)
    return argon2


def walk(timings, visitors, paths, runs):
    """Each page as each role, then the static files its first answer links: how many a revisit asks for again."""
    for path, roles in paths:
        for role in (role for role in roles if role in SHOWN):  # the other customer sees what the customer sees
            client = visitors[role].client
            first = timings.record(path, SHOWN[role], client.get(path))
            for _ in range(runs):
                timings.record(path, SHOWN[role], client.get(path))
            linked = set(STATIC.findall(first.get_data(as_text=True))) if first.mimetype == "text/html" else set()
            timings.again[(path, SHOWN[role])] = sum(
                "max-age=" not in (client.get(url.replace("&amp;", "&")).headers.get("Cache-Control") or "")
                for url in linked)


def report(timings, baseline):
    """One line per page or click; returns how many missed the goal."""
    over = 0
    print(f"{'page or click':<62} {'as':<9} {'first':>6} {'p50':>6} {'p95':>6} {'cpu p50':>7} {'×healthz':>8} {'again':>5}")
    for (what, who), samples in timings.samples.items():
        wall, cpu = [s[0] * 1000 for s in samples], [s[1] * 1000 for s in samples]
        flag = "  OVER" if p95(wall) > GOAL_MS else ""
        over += bool(flag)
        again = timings.again.get((what, who), "")
        print(f"{what[:62]:<62} {who:<9} {timings.first[(what, who)][0] * 1000:6.0f} {statistics.median(wall):6.1f}"
              f" {p95(wall):6.1f} {statistics.median(cpu):7.1f} {statistics.median(wall) / baseline:7.0f}x {again:>5}{flag}")
    return over


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page and role (after the first)")
    parser.add_argument("--database-url", help="a PostgreSQL server to make a private database on (default SQLite)")
    parser.add_argument("--worker", action="store_true", help="the job worker in a thread of the timed app")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the access log's line per request is not what is measured
    folder = Path(tempfile.mkdtemp(prefix="qianyue-pages-"))
    url, drop = database(args.database_url, folder)
    builder = LiveApp(url, folder, AUDIT_KEY=AUDIT_KEY, **NO_RATE_LIMITS)  # served: the sign-in fetches tokens from it
    node = None
    try:
        visitors, ids = build(builder.app)
        invited = at_customers(builder.app, args.runs + 1)
        node = create_app({"DATABASE_URL": url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                           "INSTANCE_PATH": str(folder), "BASE_URL": builder.base, "AUDIT_KEY": AUDIT_KEY,
                           "RUN_WORKER": args.worker, **NO_RATE_LIMITS})
        compile_templates(node)  # as gunicorn's workers and `make run`'s server do before their first request
        clock = ServerClock(node.wsgi_app)
        node.wsgi_app = clock
        for visitor in visitors.values():  # the same sessions, on the app that has served nothing yet
            visitor.client.application = node
        timings = Timings(clock)
        customer_clicks(timings, visitors["customer"], invited)
        api = Api(builder.app.test_client(), builder.platform)  # signed on the first app, as by another process
        api.run_jobs()
        active = invited[0][0]
        assert customer_signs(api, active).status_code == 200
        api.sign("signatory", active)
        walk(timings, visitors, [("/healthz", ["anonymous"]), *pages(ids, fetched=True),
                                 (f"/contracts/{active}", list(STAFF)), (f"/sign/{active}", ["customer"])], args.runs)
        argon2 = statistics.median(sign_ins(timings, node, args.runs)) * 1000
        baseline = statistics.median(s[0] for s in timings.samples.pop(("/healthz", "anonymous"))) * 1000
        print(f"{'PostgreSQL' if args.database_url else 'SQLite'}{', worker thread' if args.worker else ''}: "
              f"the first request of each page on a fresh app, then {args.runs} timed; server time in ms")
        over = report(timings, baseline)
        staff_sign_in = statistics.median(s[0] for (what, _), samples in timings.samples.items()
                                          if what.startswith("POST /login") for s in samples) * 1000
        print(f"baseline GET /healthz: median {baseline:.2f} ms")
        print(f"Argon2id verification: median {argon2:.0f} ms, {argon2 / staff_sign_in:.0%} of a staff sign-in's median"
              f" ({staff_sign_in:.0f} ms)")
        print(f"goal: p95 <= {GOAL_MS} ms on every page: {'met' if not over else f'MISSED on {over}'}")
    finally:
        if node is not None:
            node.extensions["qianyue"].db.dispose()
        builder.close()
        drop()


if __name__ == "__main__":
    main()
