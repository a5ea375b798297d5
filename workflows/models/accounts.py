"""Staff and integration users, their API tokens, browser sessions and sign-in attempts."""
from datetime import datetime
from typing import Optional

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from ..clock import utcnow


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    display_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=200)
    password_hash: str = Field(default="", max_length=200)
    roles: str = Field(default="", max_length=200)  # comma-separated role names
    # the provider branch (乙方, ``Provider.code``) an account manager drafts for: their new contracts default to it
    provider_code: str = Field(default="", max_length=50, sa_column_kwargs={"server_default": ""})
    department_id: Optional[int] = Field(default=None, foreign_key="department.id", index=True)  # their department
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def role_set(self):
        return frozenset(r for r in self.roles.split(",") if r)


class ApiToken(SQLModel, table=True):
    """Bearer tokens for integrations; only a SHA-256 of the token is kept."""

    __tablename__ = "api_token"

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(default="", max_length=100)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None


class WebSession(SQLModel, table=True):
    """A browser session: the cookie carries only the token; logout and expiry revoke it here."""

    __tablename__ = "web_session"

    token_sha256: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: Optional[datetime] = None
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class LoginAttempt(SQLModel, table=True):
    """Password attempts, for rate limiting by account and by address (``workflows/services/sessions.py``).

    ``realm`` says whose account ``username`` names: ``staff`` (``app_user``) or ``idp`` (the embedded identity
    provider's ``idp_user``), so the same name in both is two accounts; the address counts across both."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_realm_username_at", "realm", "username", "at"),
                      Index("ix_login_attempt_ip_at", "ip", "at"))

    id: Optional[int] = Field(default=None, primary_key=True)
    realm: str = Field(default="staff", max_length=16, sa_column_kwargs={"server_default": "staff"})
    username: str = Field(max_length=100)
    ip: str = Field(max_length=64)
    success: bool
    at: datetime = Field(default_factory=utcnow)
