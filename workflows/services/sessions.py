"""Staff sign-in: password checks with rate limits, and server-side browser sessions.

A session is a random token in the (signed, HttpOnly) cookie; the server keeps only its SHA-256,
so logging out, expiry and an admin disabling the user end it at once.
"""
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import select

from ..clock import aware, utcnow
from ..db import serialize_on
from ..errors import DomainError, ValidationFailed
from ..models import LoginAttempt, User, WebSession
from ..visible_text import hidden_characters_error
from .accounts import REHASH, ROLES, hash_password, password_matches, rehashed

SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
_DUMMY_HASH = hash_password("not a real password")  # keeps unknown usernames as slow as known ones


class TooManyAttempts(DomainError):
    """Refused before the password was looked at; ``retry_after``: seconds until the oldest counted failure expires."""

    code = "too_many_attempts"

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class BadCredentials(DomainError):
    code = "bad_credentials"


@dataclass
class Login:
    user: User
    token: str


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class SignInThrottle:
    """The one limit on password sign-ins, for every form that takes a password (the staff ``/login`` and the
    embedded identity provider's ``/idp/login``): 5 failures per account (``realm`` and username) and 20 per
    address (all realms together) in 15 minutes; past either, no password is looked at until the oldest failure
    leaves the window.

    An attempt is counted *before* its password is checked, as a failure, in a transaction of its own that commits
    whatever the check then says (a failure raised inside the sign-in's transaction used to roll its own count back);
    a right password turns it into a success afterwards. Counting and inserting are one step per account and per
    address (``serialize_on``: advisory locks on PostgreSQL, the single writer on SQLite), so attempts arriving
    together are admitted one at a time against the committed count: however many run in parallel, at most the limit
    of passwords is ever evaluated, and a refused attempt costs no password hashing.
    """

    def __init__(self, window=WINDOW, per_account=MAX_FAILURES_PER_USER, per_address=MAX_FAILURES_PER_ADDRESS):
        self.window, self.per_account, self.per_address = window, per_account, per_address

    def authenticate(self, db, realm, username, ip, verify):
        """Who ``verify()`` says signed in (it returns None for a wrong password and runs outside any transaction:
        password hashing is slow). Raises ``TooManyAttempts`` before calling it when the limit is reached, and
        ``BadCredentials`` when it says no."""
        attempt_id = self._admit(db, realm, (username or "")[:100], (ip or "")[:64])
        principal = verify()
        if principal is None:
            raise BadCredentials("the username or password is not right")
        with db.write() as session:
            session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(success=True))
        return principal

    def _admit(self, db, realm, username, ip):
        """Count the attempt as a failure, committed, unless the account or the address is at its limit."""
        with db.write() as session:
            serialize_on(session, f"sign-in:{realm}:{username}", f"sign-in-address:{ip}")
            now = utcnow()
            failures = select(func.count(), func.min(LoginAttempt.at)).where(LoginAttempt.success.is_(False),
                                                                           LoginAttempt.at >= now - self.window)
            for limit, where in ((self.per_account, (LoginAttempt.realm == realm, LoginAttempt.username == username)),
                                 (self.per_address, (LoginAttempt.ip == ip,))):
                count, oldest = session.exec(failures.where(*where)).one()
                if count >= limit:
                    wait = aware(oldest) + self.window - now
                    raise TooManyAttempts("too many failed sign-ins; wait 15 minutes and try again",
                                          max(1, math.ceil(wait.total_seconds())))
            attempt = LoginAttempt(realm=realm, username=username, ip=ip, success=False, at=now)
            session.add(attempt)
            session.flush()
            return attempt.id


class SessionService:
    def __init__(self, throttle=None):
        self.throttle = throttle or SignInThrottle()

    def sign_in(self, db, username, password, ip, user_agent):
        """Check the password (``SignInThrottle``: limited per account and per address) and open a new session."""
        username = (username or "").strip()[:100]

        def verify():
            with db.read() as session:
                user = session.exec(select(User).where(User.username == username, User.active)).first()
            matches = password_matches(user.password_hash if user else _DUMMY_HASH, password or "")
            if not matches or user is None:
                return None
            new_hash = rehashed(user.password_hash, password)  # slow work too: outside any transaction
            return user, new_hash

        user, new_hash = self.throttle.authenticate(db, "staff", username, ip, verify)
        with db.write() as session:
            if new_hash:  # unless the password changed meanwhile
                REHASH.execute(session, {"id": user.id, "old": user.password_hash, "new": new_hash})
            return self._open(session, user, ip, user_agent)

    def sign_in_federated(self, session, claims, role_claim=None, ip="", user_agent=""):
        """Staff sign-in through the organisation's identity provider: the verified email names the local user.

        Roles come from the local account (the mapping admins keep), or, when the provider is trusted to send
        them (``role_claim``, e.g. "roles"), from that claim: a known user gets those roles, an unknown one is
        created with them. No verified email, or no active user and no usable role claim: refused.
        """
        email = str(claims.get("email") or "").strip().lower()
        if not email or not claims.get("email_verified"):
            raise BadCredentials("the identity provider did not send a verified email")
        user = session.exec(select(User).where(func.lower(User.email) == email)).first()
        claimed = claims.get("claims", {}).get(role_claim) if role_claim else None
        roles = sorted({r for r in (claimed if isinstance(claimed, list) else str(claimed or "").split()) if r in ROLES} - {"customer"})
        if user is None and roles:
            if session.exec(select(User).where(User.username == email[:100])).first() is not None:
                raise BadCredentials("a different account already uses this identity's email as its username")
            name = str(claims.get("name") or email)[:100]
            if hidden := hidden_characters_error(name):  # shown as the reviewer's name in every history
                raise ValidationFailed("the identity provider sent a name that cannot be printed", {"name": hidden})
            user = User(username=email[:100], email=email, display_name=name, roles=",".join(roles), password_hash="")
            session.add(user)
            session.flush()
        elif user is not None and roles:
            user.roles = ",".join(roles)
        if user is None or not user.active or not user.role_set - {"customer"}:
            raise BadCredentials("no active staff account for this identity")
        session.add(LoginAttempt(username=user.username, ip=ip, success=True))
        return self._open(session, user, ip, user_agent)

    def _open(self, session, user, ip, user_agent):
        token = secrets.token_urlsafe(32)
        session.add(WebSession(token_sha256=_digest(token), user_id=user.id, expires_at=utcnow() + SESSION_LIFETIME,
                               ip=ip[:64], user_agent=(user_agent or "")[:300]))
        return Login(user, token)

    def user_for(self, session, token):
        if not token or len(token) > 100:
            return None
        query = (select(User).join(WebSession, WebSession.user_id == User.id)
                 .where(WebSession.token_sha256 == _digest(token), WebSession.revoked_at.is_(None),
                        WebSession.expires_at > utcnow(), User.active))
        return session.exec(query).first()

    def sign_out(self, session, token):
        row = session.get(WebSession, _digest(token)) if token else None
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
