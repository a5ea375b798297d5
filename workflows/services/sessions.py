"""Staff sign-in: password checks with rate limits, and server-side browser sessions.

A session is a random token in the (signed, HttpOnly) cookie; the server keeps only its SHA-256,
so logging out, expiry and an admin disabling the user end it at once.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from ..errors import DomainError
from ..models import LoginAttempt, User, WebSession
from ..clock import utcnow
from .accounts import ROLES, hash_password, password_matches

SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
_DUMMY_HASH = hash_password("not a real password")  # keeps unknown usernames as slow as known ones


class TooManyAttempts(DomainError):
    code = "too_many_attempts"


class BadCredentials(DomainError):
    code = "bad_credentials"


@dataclass
class Login:
    user: User
    token: str


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    def sign_in(self, session, username, password, ip, user_agent):
        """Check the password (rate-limited per account and per address) and open a new session."""
        username = (username or "").strip()[:100]
        since = utcnow() - WINDOW
        failures = lambda *where: session.exec(  # noqa: E731
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.success.is_(False),
                                                                 LoginAttempt.at >= since, *where)).one()
        if (failures(LoginAttempt.username == username) >= MAX_FAILURES_PER_USER
                or failures(LoginAttempt.ip == ip) >= MAX_FAILURES_PER_ADDRESS):
            raise TooManyAttempts("too many failed sign-ins; wait 15 minutes and try again")
        user = session.exec(select(User).where(User.username == username, User.active)).first()
        ok = password_matches(user.password_hash if user else _DUMMY_HASH, password or "") and user is not None
        session.add(LoginAttempt(username=username, ip=ip, success=ok))
        if not ok:
            raise BadCredentials("the username or password is not right")
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
            user = User(username=email[:100], email=email, display_name=str(claims.get("name") or email)[:100],
                        roles=",".join(roles), password_hash="")
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
