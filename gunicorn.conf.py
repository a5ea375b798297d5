"""gunicorn's settings for `make serve` (scripts/serve), from the deployment's settings (README, "Deploying").

Threads in a few processes: a request mostly waits on PostgreSQL, and each process keeps its own connection pool and
opened PKI. Jobs never run here: `flask jobs run` runs them beside the web processes.
"""
import multiprocessing

from workflows.settings import Settings, SettingsError

try:
    settings = Settings.load()
except SettingsError as exc:
    raise SystemExit(str(exc)) from None

bind = settings.BIND or f"127.0.0.1:{settings.PORT}"
workers = settings.WEB_CONCURRENCY or multiprocessing.cpu_count() + 1
worker_class = "gthread"
threads = settings.WEB_THREADS
timeout = 60  # a signing act is about half a second; one that takes a minute is stuck
graceful_timeout = 30
keepalive = 5
max_requests, max_requests_jitter = 5000, 500  # recycle a process now and then: a slow leak never becomes an outage
accesslog = "-"
errorlog = "-"
