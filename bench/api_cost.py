"""What each request of bench/load.py's mix costs: CPU milliseconds in the app and in PostgreSQL, and statements.

    .venv/bin/python bench/api_cost.py [--clients 6] [--rounds 6] [--processes 3] [--pg URL] [--profile ENDPOINT]

The clients of bench/load.py play their rounds one request at a time (no concurrency), served in this process by
--processes apps on one new PostgreSQL database: each app has a Platform of its own, so caches of its own, as each of
gunicorn's worker processes has, and the requests go to them in turn. Per endpoint it prints the means of the CPU
this process spent on a request, the CPU PostgreSQL's backends spent meanwhile (/proc/PID/schedstat: the server must
run on this machine) and the statements of its access log line (webapp/request_log.py), then the means over the mix. CPU time, unlike wall time, hardly moves when other work shares the machine, so two runs compare where
two runs of bench/load.py do not. The job worker's work (preparing documents, packages) runs between requests and is
not counted. Then, as the baseline of the same run, the cheapest requests through the same apps (`GET /healthz`; a
token's `GET /api/v1/contracts?limit=1`): the mix's cost as a ratio to theirs, and the requests per second the
machine's cores could give at each cost.

--profile ENDPOINT (e.g. "POST /contracts"; again for another): pyinstrument's profile of that endpoint's requests
added up, written to a text file (the figures of a profiled run are inflated by the profiler).
"""
import argparse
import itertools
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session
from sqlalchemy import event
from werkzeug.test import Client as WsgiClient

import load  # bench/load.py: the mix, the users, the database
from webapp import create_app
from workflows.logs import current_request_id

BASE = "http://localhost"


class AccessLines(logging.Handler):
    """The statements of each request's access log line, by request id."""

    def __init__(self):
        super().__init__()
        self.by_id = {}

    def emit(self, record):
        self.by_id[current_request_id()] = record.statements


class Backends:
    """PostgreSQL's backends serving the apps' pooled connections, and the CPU they have used (ns, schedstat)."""

    def __init__(self, platforms):
        self.pids = set()
        for platform in platforms:
            event.listen(platform.db.engine, "connect", lambda connection, _record: self.pids.add(
                connection.info.backend_pid))

    def cpu_ns(self):
        total = 0
        for pid in list(self.pids):
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except FileNotFoundError:
                self.pids.discard(pid)
        return total


class Answer:
    """A Werkzeug test response as bench/load.py's Client reads a requests response."""

    def __init__(self, response):
        self.status_code, self.headers, self.text = response.status_code, response.headers, response.text
        self._response = response

    def json(self):
        return self._response.json


class InProcess:
    """What ``Client`` calls a session: its requests served by the apps in turn, in this thread, each one's CPU in
    this process and in PostgreSQL noted by request id (and its pyinstrument session, when profiling). The process's
    CPU, not the thread's (the access log's ``cpu_ms``): Argon2id hashes its lanes in threads of its own."""

    def __init__(self, apps, backends, costs, profiles):
        self.apps, self.backends, self.costs, self.profiles = apps, backends, costs, profiles
        self.client = WsgiClient(self.dispatch, use_cookies=True)  # one cookie jar, whichever app answers

    def dispatch(self, environ, start_response):
        return next(self.apps)(environ, start_response)

    def request(self, method, url, headers=None, json=None, data=None, timeout=None, allow_redirects=False):
        profiler = None
        if self.profiles is not None:
            profiler = Profiler(interval=0.0002)
            profiler.start()
        cpu, pg = time.process_time_ns(), self.backends.cpu_ns()
        response = self.client.open(url[len(BASE):], method=method, headers=headers, json=json, data=data)
        pg, cpu = self.backends.cpu_ns() - pg, time.process_time_ns() - cpu
        self.costs[response.headers["X-Request-ID"]] = (cpu, pg)
        if profiler is not None:
            self.profiles[response.headers["X-Request-ID"]] = profiler.stop()
        return Answer(response)


def make_apps(env, count):
    return [create_app({"DATABASE_URL": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"],
                        "AUDIT_KEY": env["AUDIT_KEY"], "APP_ENV": "production", "INSTANCE_PATH": env["QIANYUE_INSTANCE"],
                        "BASE_URL": BASE, "RUN_WORKER": False, "RATELIMIT_STORAGE_URI": "memory://",
                        **load.SHARED_ADDRESS})
            for _ in range(count)]


def report(recorder, statements, costs):
    """Means per endpoint, then over every request and over those outside the two signing acts (PDFs)."""
    print(f"{'endpoint':<40} {'n':>5} {'app CPU ms':>10} {'PG CPU ms':>9} {'statements':>10}")
    rows = {}
    for endpoint in sorted(recorder.request_ids):
        ids = [i for i in recorder.request_ids[endpoint] if i in statements and i in costs]
        if ids:
            rows[endpoint] = (len(ids), statistics.fmean(costs[i][0] for i in ids) / 1e6,
                              statistics.fmean(costs[i][1] for i in ids) / 1e6, statistics.fmean(statements[i] for i in ids))
            print(f"{endpoint:<40} {rows[endpoint][0]:>5} {rows[endpoint][1]:>10.1f} {rows[endpoint][2]:>9.2f} "
                  f"{rows[endpoint][3]:>10.1f}")
    for title, chosen in (("a request of the mix", rows),
                          ("one outside the signing acts", {e: r for e, r in rows.items() if e not in load.PDF_ENDPOINTS})):
        count = sum(r[0] for r in chosen.values()) or 1
        means = [sum(r[0] * r[k] for r in chosen.values()) / count for k in (1, 2, 3)]
        print(f"{title:<40} {count:>5} {means[0]:>10.1f} {means[1]:>9.2f} {means[2]:>10.1f}")
    return means  # outside the signing acts: app CPU ms, PostgreSQL CPU ms, statements


FLOOR_REQUESTS = 200


def measure_floor(session, token):
    """The baseline of the same run: what the cheapest requests cost in the same apps. ``GET /healthz`` is Flask and
    the access log alone; ``GET /api/v1/contracts?limit=1`` adds a token's lookup, one read transaction and JSON."""
    floor = {}
    for title, path, headers in (("GET /healthz", "/healthz", {}),
                                 ("GET /contracts?limit=1 (token)", "/api/v1/contracts?limit=1",
                                  {"Authorization": f"Bearer {token}"})):
        spent = []
        for _ in range(FLOOR_REQUESTS):
            answer = session.request("GET", BASE + path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
            spent.append(session.costs[answer.headers["X-Request-ID"]])
        warm = spent[FLOOR_REQUESTS // 10:]  # each app's first requests fill its caches
        floor[title] = (statistics.fmean(c for c, _ in warm) / 1e6, statistics.fmean(p for _, p in warm) / 1e6)
    return floor


def report_floor(floor, mix):
    """The mix's cost beside the floor, and the requests per second two cores could give at each (app and
    PostgreSQL CPU only: no client, no proxy, no idle time)."""
    cores = os.cpu_count() or 1
    print(f"{'baseline (same apps, same run)':<40} {'app CPU ms':>10} {'PG CPU ms':>9} {'ratio':>6} "
          f"{'req/s on ' + str(cores) + ' cores':>16}")
    for title, (app_ms, pg_ms) in floor.items():
        print(f"{title:<40} {app_ms:>10.2f} {pg_ms:>9.2f} {(mix[0] + mix[1]) / (app_ms + pg_ms):>6.1f} "
              f"{cores * 1000 / (app_ms + pg_ms):>16.0f}")
    print(f"{'the mix, outside the signing acts':<40} {mix[0]:>10.2f} {mix[1]:>9.2f} {1:>6.1f} "
          f"{cores * 1000 / (mix[0] + mix[1]):>16.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test", help="a PostgreSQL server here")
    parser.add_argument("--clients", type=int, default=6, help="teams, each with its rounds (one signs its contract)")
    parser.add_argument("--rounds", type=int, default=6, help="contracts per client")
    parser.add_argument("--processes", type=int, default=3, help="apps serving in turn (gunicorn's worker processes)")
    parser.add_argument("--profile", metavar="ENDPOINT", action="append", default=[],
                        help='e.g. "POST /contracts": its profile, to a file (more than one: each)')
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qianyue-cost-"))
    database_url, handle = load.pg_database(args.pg)
    env = load.server_env(folder / "instance", database_url, 0, "production")
    os.environ["SIGNING_KEY_PASSPHRASE"] = env["SIGNING_KEY_PASSPHRASE"]
    lines = AccessLines()
    try:
        apps = make_apps(env, args.processes)
        access = logging.getLogger("webapp.access")
        access.addHandler(lines)
        access.setLevel(logging.INFO)
        access.propagate = False  # no line a request on the terminal
        logging.getLogger().setLevel(logging.WARNING)
        platforms = [app.extensions["qianyue"] for app in apps]
        backends, costs = Backends(platforms), {}  # before any connection is made
        teams = load.prepare_users(platforms[0], args.clients)
        profiles = {} if args.profile else None
        recorder = load.Recorder()
        apps_in_turn = itertools.cycle(apps)
        worker = platforms[0]

        def run_jobs():
            worker.jobs.run_pending("bench")

        clients = [load.Client(BASE, team, recorder, load.code_reader(worker), index, math.inf,
                               new_session=lambda: InProcess(apps_in_turn, backends, costs, profiles),
                               wait_for_worker=run_jobs)
                   for index, team in enumerate(teams)]
        for client in clients:
            client.sign_in()
        for number in range(args.rounds):
            for client in clients:
                try:
                    client.round(number)
                except load.Failed:
                    pass
                run_jobs()
        print(f"api_cost: {args.clients} clients x {args.rounds} rounds, {args.processes} apps in turn, "
              f"{recorder.requests} requests, {recorder.error_count} errors; machine load {os.getloadavg()}")
        for endpoint, errors in recorder.errors.items():
            for error in sorted(set(errors))[:3]:
                print(f"  error {endpoint}: {error}")
        mix = report(recorder, lines.by_id, costs)
        floor = measure_floor(InProcess(apps_in_turn, backends, costs, None), teams[0]["legal"][1])
        report_floor(floor, mix)
        for endpoint in args.profile:
            write_profile(endpoint, recorder, profiles, folder)
        problems = load.check_invariants(worker, verify_packages=False)
        print(f"invariants: {'all hold' if not problems else problems[:5]}")
        for platform in platforms:
            platform.db.dispose()
    finally:
        load.drop_pg(handle)
    return 1 if recorder.error_count else 0


def write_profile(endpoint, recorder, profiles, folder):
    sessions = [profiles[i] for i in recorder.request_ids.get(endpoint, []) if i in profiles]
    if not sessions:
        print(f"no requests of {endpoint!r} to profile")
        return
    combined = sessions[0]
    for session in sessions[1:]:
        combined = Session.combine(combined, session)
    path = folder / (endpoint.replace(" ", "_").replace("/", "-").strip("-") + ".txt")
    path.write_text(ConsoleRenderer(unicode=True, show_all=False, time="percent_of_total").render(combined)
                    + ConsoleRenderer(unicode=True, flat=True, time="percent_of_total").render(combined),
                    encoding="utf-8")  # the call tree, then each function's own share
    print(f"profile of {len(sessions)} requests of {endpoint}: {path}")


if __name__ == "__main__":
    sys.exit(main())
