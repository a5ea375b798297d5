"""Password hashes: Argon2id at OWASP's m=19 MiB, t=2, p=1 (workflows/services/accounts.py). A hash made earlier with
argon2-cffi's default parameters (RFC 9106 low-memory: m=64 MiB, t=3, p=4) still signs in, and that sign-in stores it
made anew; a wrong password changes nothing. For the staff /login and the embedded identity provider's alike."""
import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import update
from sqlmodel import select

from tests.conftest import Browser
from tests.web.test_sign_in_throttle import post_login
from workflows.demo import DEMO_PASSWORD
from workflows.models import IdpUser, User

BEFORE = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)  # what made every hash until now
OLD_PREFIX, NEW_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$", "$argon2id$v=19$m=19456,t=2,p=1$"


def stored(platform, model, username):
    with platform.db.read() as session:
        return session.exec(select(model.password_hash).where(model.username == username)).one()


@pytest.mark.parametrize("model, username, path", [(User, "sales", "/login"), (IdpUser, "xu.yongli", "/idp/login")])
def test_an_old_hash_signs_in_and_is_made_anew_at_todays_parameters(app, platform, model, username, path):
    with platform.db.write() as session:
        session.execute(update(model).where(model.username == username).values(
            password_hash=BEFORE.hash(DEMO_PASSWORD)))
    assert stored(platform, model, username).startswith(OLD_PREFIX)
    assert post_login(Browser(app), path, username, "wrong password").status_code == 401
    assert stored(platform, model, username).startswith(OLD_PREFIX)  # a wrong password changes nothing
    assert post_login(Browser(app), path, username, DEMO_PASSWORD).status_code == 302
    renewed = stored(platform, model, username)
    assert renewed.startswith(NEW_PREFIX)
    assert post_login(Browser(app), path, username, DEMO_PASSWORD).status_code == 302  # the new hash signs in
    assert stored(platform, model, username) == renewed  # and is current: not made again
