"""The embedded identity provider's store (development and tests): its users, authorization codes, access tokens.

The protocol lives in ``webapp/idp`` (authlib's server side); this module only keeps the records. Codes and
tokens are stored as SHA-256. A code is single use, expires after ``CODE_TTL`` and belongs to one client —
authlib's code grant checks neither, so :meth:`IdpStore.take_code` does.
"""
import hashlib
import re
from datetime import timedelta, timezone

from sqlalchemy import update
from sqlmodel import select

from ..errors import Conflict, ValidationFailed
from ..clock import utcnow
from ..models import IdpAuthorizationCode, IdpToken, IdpUser
from .accounts import hash_password, password_matches, rehashed

CODE_TTL = timedelta(minutes=5)
TOKEN_TTL = timedelta(hours=1)
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")
_DUMMY_HASH = hash_password("not a password")  # equal work for unknown names (no user enumeration by timing)


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


def aware(value):
    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


class IdpStore:
    # --- users -----------------------------------------------------------------------------------------------
    def create_user(self, session, username, password, name, email, email_verified=True):
        if not _USERNAME.match(username or ""):
            raise ValidationFailed("invalid username", {"username": "letters, digits and _.@- only"})
        if len(password or "") < 8:
            raise ValidationFailed("password too short", {"password": "at least 8 characters"})
        if self.find_user(session, username) is not None:
            raise Conflict(f"the identity provider already has a user {username}")
        user = IdpUser(username=username, password_hash=hash_password(password), name=name, email=email,
                       email_verified=email_verified)
        session.add(user)
        session.flush()
        return user

    def find_user(self, session, username):
        return session.exec(select(IdpUser).where(IdpUser.username == username)).first()

    def get_user(self, session, user_id):
        user = session.get(IdpUser, user_id) if isinstance(user_id, int) else None
        return user if user is not None and user.active else None

    def authenticate(self, session, username, password):
        user = self.find_user(session, username) if isinstance(username, str) and len(username) <= 100 else None
        if user is None or not user.active:
            password_matches(_DUMMY_HASH, password or "")
            return None
        return user if password_matches(user.password_hash, password or "") else None

    def sign_in(self, db, username, password):
        """The user whose password this is (None otherwise), their hash made anew if older parameters made it."""
        with db.read() as session:
            user = self.authenticate(session, username, password)
        new_hash = rehashed(user.password_hash, password) if user is not None else None
        if new_hash:
            with db.write() as session:
                session.execute(update(IdpUser).where(IdpUser.id == user.id, IdpUser.password_hash == user.password_hash)
                                .values(password_hash=new_hash))
        return user

    # --- codes and tokens ------------------------------------------------------------------------------------
    def save_code(self, session, code, client_id, redirect_uri, scope, user_id, nonce, code_challenge,
                  code_challenge_method, auth_time):
        now = utcnow()
        session.add(IdpAuthorizationCode(code_sha256=digest(code), client_id=client_id, redirect_uri=redirect_uri or "",
                                         scope=scope or "", user_id=user_id, nonce=nonce, code_challenge=code_challenge,
                                         code_challenge_method=code_challenge_method, auth_time=auth_time,
                                         created_at=now, expires_at=now + CODE_TTL))

    def find_code(self, session, code, client_id):
        """The unused, unexpired code issued to ``client_id`` (None otherwise)."""
        if not isinstance(code, str) or not code or len(code) > 200:
            return None
        row = session.exec(select(IdpAuthorizationCode).where(IdpAuthorizationCode.code_sha256 == digest(code))).first()
        if row is None or row.client_id != client_id or row.used_at is not None or aware(row.expires_at) <= utcnow():
            return None
        return row

    def use_code(self, session, row):
        """Mark a code used; False when another request used it first."""
        return session.execute(update(IdpAuthorizationCode).where(IdpAuthorizationCode.id == row.id,
                                                                  IdpAuthorizationCode.used_at.is_(None))
                               .values(used_at=utcnow())).rowcount == 1

    def save_token(self, session, access_token, client_id, user_id, scope, expires_in):
        now = utcnow()
        session.add(IdpToken(access_token_sha256=digest(access_token), client_id=client_id, user_id=user_id, scope=scope or "",
                             issued_at=now, expires_at=now + timedelta(seconds=int(expires_in or TOKEN_TTL.total_seconds()))))

    def user_for_token(self, session, access_token):
        if not isinstance(access_token, str) or not access_token or len(access_token) > 500:
            return None, None
        row = session.exec(select(IdpToken).where(IdpToken.access_token_sha256 == digest(access_token))).first()
        if row is None or aware(row.expires_at) <= utcnow():
            return None, None
        return self.get_user(session, row.user_id), row
