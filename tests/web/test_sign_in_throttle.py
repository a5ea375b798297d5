"""The sign-in throttle: failures counted in the database, per account and per address, for the staff /login and the
embedded identity provider's /idp/login alike; parallel attempts never get more passwords evaluated than the limit."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from tests.conftest import csrf_token
from workflows.clock import utcnow
from workflows.demo import DEMO_PASSWORD
from workflows.models import LoginAttempt
from workflows.services.sessions import (MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USER, WINDOW, BadCredentials,
                                         TooManyAttempts)


def window_passes(platform):
    """Every attempt so far is older than the window, as if 15 minutes had gone by."""
    with platform.db.write() as session:
        session.execute(update(LoginAttempt).values(at=utcnow() - WINDOW - timedelta(seconds=1)))


def post_login(browser, path, username, password):
    token = csrf_token(browser.get(path).get_data(as_text=True))
    return browser.client.post(path, data={"username": username, "password": password, "csrf_token": token})


@pytest.mark.slow  # passwords are hashed (Argon2), each check about half a second here
def test_failed_staff_sign_ins_are_counted_and_then_refused_until_the_window_passes(browser, platform):
    for _ in range(MAX_FAILURES_PER_USER):
        assert post_login(browser, "/login", "sales", "wrong password").status_code == 401
    refused = post_login(browser, "/login", "sales", DEMO_PASSWORD)  # even the right password: nothing is evaluated
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= WINDOW.total_seconds()
    assert "15" in refused.get_data(as_text=True)
    with platform.db.read() as session:
        attempts = session.exec(select(LoginAttempt)).all()
    assert [(a.realm, a.username, a.success) for a in attempts] == [("staff", "sales", False)] * MAX_FAILURES_PER_USER
    window_passes(platform)
    assert post_login(browser, "/login", "sales", DEMO_PASSWORD).status_code == 302


@pytest.mark.slow  # passwords are hashed (Argon2), each check about half a second here
def test_the_identity_providers_login_has_the_same_throttle(browser, platform):
    for _ in range(MAX_FAILURES_PER_USER):
        assert post_login(browser, "/idp/login", "xu.yongli", "wrong password").status_code == 401
    refused = post_login(browser, "/idp/login", "xu.yongli", DEMO_PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert post_login(browser, "/login", "sales", DEMO_PASSWORD).status_code == 302  # another realm, another account
    window_passes(platform)
    assert post_login(browser, "/idp/login", "xu.yongli", DEMO_PASSWORD).status_code == 302


def test_an_account_is_counted_per_realm_and_an_address_across_realms(platform):
    throttle, db = platform.sessions.throttle, platform.db
    wrong = lambda: None  # noqa: E731  (a password that does not match)
    for _ in range(MAX_FAILURES_PER_USER):
        with pytest.raises(BadCredentials):
            throttle.authenticate(db, "idp", "sales", "10.0.0.1", wrong)
    assert throttle.authenticate(db, "staff", "sales", "10.0.0.2", lambda: "staff sales") == "staff sales"
    for n in range(MAX_FAILURES_PER_ADDRESS - MAX_FAILURES_PER_USER):
        with pytest.raises(BadCredentials):
            throttle.authenticate(db, "staff", f"user{n}", "10.0.0.1", wrong)
    with pytest.raises(TooManyAttempts) as refused:
        throttle.authenticate(db, "staff", "someone-else", "10.0.0.1", lambda: "never asked")
    assert refused.value.retry_after >= 1
    assert throttle.authenticate(db, "staff", "someone-else", "10.0.0.3", lambda: "signed in") == "signed in"


@pytest.mark.slow  # passwords are hashed (Argon2), each check about half a second here
def test_parallel_wrong_passwords_get_at_most_the_limit_evaluated(platform):
    """40 wrong passwords for one account at once (a race on PostgreSQL): 5 are evaluated and answered "wrong", the
    others are refused without evaluation, and then the right password is refused too until the window passes."""
    start, outcomes = threading.Barrier(40), []

    def attempt(n):
        start.wait()
        try:
            platform.sessions.sign_in(platform.db, "sales", f"wrong {n}", "10.0.0.9", "race")
            outcomes.append("signed in")
        except (BadCredentials, TooManyAttempts) as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["bad_credentials"] * MAX_FAILURES_PER_USER + ["too_many_attempts"] * 35
    with pytest.raises(TooManyAttempts):
        platform.sessions.sign_in(platform.db, "sales", DEMO_PASSWORD, "10.0.0.9", "race")
    window_passes(platform)
    assert platform.sessions.sign_in(platform.db, "sales", DEMO_PASSWORD, "10.0.0.9", "race").user.username == "sales"
