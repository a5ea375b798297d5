"""gunicorn's settings for `make serve` (scripts/serve), from the environment (README, "Deploying").

Threads in a few processes: a request mostly waits on PostgreSQL, and each process keeps its own connection pool and
opened PKI. Jobs never run here: `flask jobs run` runs them beside the web processes.
"""
import multiprocessing
import os

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 4)
timeout = 60  # a signing act is about half a second; one that takes a minute is stuck
graceful_timeout = 30
keepalive = 5
max_requests, max_requests_jitter = 5000, 500  # recycle a process now and then: a slow leak never becomes an outage
accesslog = "-"
errorlog = "-"
