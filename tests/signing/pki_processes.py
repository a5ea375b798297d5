"""What test_signing_pki.py runs in spawned processes: separate interpreters racing for one PKI or one passphrase.

Not a test module; the spawned process imports it by name, so it must not need pytest.
"""
import multiprocessing
import secrets
import time

from workflows.db import Database
from workflows.signing import pki
from workflows.signing.pki import DeploymentPKI, signing_passphrase

PASSPHRASE = b"race-passphrase"
SEAL = ("中国电信股份有限公司福州分公司", "91350100MA2XN0001K")
WAIT = 60  # seconds; a process that never arrives breaks the barrier and fails the test


def open_pki(url, start, candidates, results):
    """Open the PKI on ``url`` together with the other processes, and report what it ended up with.

    The first key this process generates (the root's on a fresh database, the TSA's when renewing) waits until
    every process has generated one: they all hold a candidate before any stores it, so all but one lose.
    """
    generate = pki.new_key
    generated = []

    def new_key_in_step():
        generated.append(generate())
        if len(generated) == 1:
            candidates.wait(WAIT)
        return generated[-1]

    pki.new_key = new_key_in_step
    db = Database(url)
    start.wait(WAIT)
    opened = DeploymentPKI.open(db, PASSPHRASE)
    results.put({"root": opened.root.fingerprint, "issuing": opened.issuing.fingerprint, "tsa": opened.tsa.fingerprint,
                 "platform": opened.platform.fingerprint, "seal": opened.seal_certificate(*SEAL).fingerprint})
    db.dispose()


def read_passphrase(instance, start, results):
    """Read the development passphrase together with the other processes; generating one takes half a second
    here, so a file that can be seen before its content is written would be read empty by someone."""
    generate = secrets.token_urlsafe

    def slow_token(*args):
        time.sleep(0.5)
        return generate(*args)

    secrets.token_urlsafe = slow_token
    start.wait(WAIT)
    results.put(signing_passphrase(None, instance, "development"))


def run_together(target, *args, barriers=1, processes=2):
    """Run ``target(*args, *barriers, results)`` in ``processes`` spawned processes; what each put in ``results``."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    shared = [context.Barrier(processes) for _ in range(barriers)]
    workers = [context.Process(target=target, args=(*args, *shared, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(3 * WAIT)
    assert [worker.exitcode for worker in workers] == [0] * processes, "a process failed (its traceback is above)"
    return [results.get(timeout=5) for _ in workers]
