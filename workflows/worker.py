"""The job worker: runs due background jobs until stopped, in a daemon thread (``make run``) or in the foreground
(``flask --app wsgi jobs run``, one or more per machine in production).

It enqueues the runs of recurring jobs that came due (the daily digest: once across every worker and node), drains
what is due, then waits: ``POLL_SECONDS`` at most, less when a transaction of this process that enqueued jobs commits
(``JobService.wake``). Jobs enqueued on other machines, and timers coming due, are seen at the next poll.
"""
import atexit
import logging
import os
import socket
import threading
import uuid

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
STOP_TIMEOUT = 30.0  # seconds a stop waits for the job in hand; an unfinished one is run again after its lease

_in_process = None
_in_process_lock = threading.Lock()


class Worker:
    def __init__(self, jobs, poll=POLL_SECONDS):
        self.jobs = jobs
        self.poll = poll
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"  # the lease holder's name
        self._stopping = threading.Event()
        self._thread = None

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        """Run in a daemon thread; returns the worker."""
        self._thread = threading.Thread(target=self.run, name=f"job-worker {self.id}", daemon=True)
        self._thread.start()
        return self

    def run(self):
        """Schedule recurring runs, drain, wait, repeat until ``stop``. A database outage is logged and tried again
        at the next poll."""
        log.info("job worker %s started (kinds: %s)", self.id, ", ".join(sorted(self.jobs.policies)) or "none")
        while not self._stopping.is_set():
            try:
                self.jobs.enqueue_recurring()
                while not self._stopping.is_set() and self.jobs.run_one(self.id) is not None:
                    pass
            except Exception:  # the database went away: keep the worker alive and try again
                log.exception("job worker %s could not claim or record a job", self.id)
            self.jobs.wait_for_work(self.poll)
        log.info("job worker %s stopped", self.id)

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop after the job in hand; from another thread, wait for that (at most ``timeout`` seconds)."""
        self._stopping.set()
        self.jobs.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


def start_in_process(jobs, poll=POLL_SECONDS):
    """The one worker thread of this process (``RUN_WORKER``): started by the first call, returned by later ones."""
    global _in_process
    with _in_process_lock:
        if _in_process is None or not _in_process.alive:
            _in_process = Worker(jobs, poll).start()
            atexit.register(_in_process.stop)  # let the job in hand finish when the server exits
        return _in_process
