"""Users, roles and API tokens.

Role names are the lane names of the process (a lane's user tasks belong to that role),
plus ``admin``. Passwords are hashed with Argon2id; tokens are stored as SHA-256 only.

An account with the ``customer`` role is an integration of a customer organisation: it acts as a customer identity of
its own (issuer ``qianyue:api``, subject the username), kept here with the account, which an administrator binds to
the organisation's 统一社会信用代码 (then it acts on every contract of that organisation) or to single contracts.
"""
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import select

from ..actors import API_ISSUER
from ..clock import utcnow
from ..contracts.credit_code import credit_code_error
from ..db import Statement
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import ApiToken, CustomerIdentity, Provider, User
from ..visible_text import hidden_characters_error

ROLES = ("sales", "legal", "finance", "customer", "provider", "admin")
ROLE_TITLES = {
    "sales": "客户经理", "legal": "法务", "finance": "财务", "customer": "客户（甲方）",
    "provider": "乙方授权代表", "admin": "管理员",
}
TOKEN_PREFIX = "qy_"
DISPLAY_NAME_LENGTH = 100  # the column's
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")
# Argon2id at OWASP's first recommended setting (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1): about 25 ms of CPU
# a check on this machine, where argon2-cffi's default (RFC 9106's low-memory profile: m=64 MiB, t=3, p=4), which
# hashes made before used, takes about 200 ms and threads of its own. Those still verify (a hash names its parameters)
# and are made anew at the next successful sign-in (``rehashed``).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
USER_COLUMNS = [c for c in User.__table__.c if c.name != "password_hash"]
REHASH = Statement("UPDATE app_user SET password_hash = :new WHERE id = :id AND password_hash = :old")
USER_FOR_TOKEN = Statement(
    f"SELECT {', '.join('app_user.' + c.name for c in USER_COLUMNS)} FROM app_user "
    "JOIN api_token ON api_token.user_id = app_user.id "
    "WHERE api_token.token_sha256 = :digest AND api_token.revoked_at IS NULL AND app_user.active", columns=USER_COLUMNS)


def check_roles(roles):
    """What is wrong with a set of roles, or None. ``customer`` stands alone: such an account acts as the customer
    identity of one organisation (an integration), never as staff too, or it could decide its own contracts' reviews
    and act on other customers' tasks as staff."""
    unknown = sorted(set(roles or ()) - set(ROLES))
    if not roles or unknown:
        return f"choose from {', '.join(ROLES)}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
    if "customer" in roles and len(set(roles)) > 1:
        return "the customer role cannot be combined with staff roles"
    return None


def hash_password(password):
    return _hasher.hash(password)


def password_matches(password_hash, password):
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def rehashed(password_hash, password):
    """``password`` (which matched ``password_hash``) hashed anew when that hash was made with other parameters than
    today's, else None: a sign-in keeps its account's hash current."""
    try:
        return hash_password(password) if _hasher.check_needs_rehash(password_hash) else None
    except InvalidHashError:
        return None


def _token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def create_user(self, session, username, roles, password, display_name="", email="", customer_org=None,
                    provider_code=""):
        """``provider_code``: the provider branch (乙方) an account manager drafts for, the default of their drafts."""
        errors = {}
        if not _USERNAME.match(username or ""):
            errors["username"] = "letters, digits and _ . @ - only, at most 100 characters"
        roles_error = check_roles(roles)
        if roles_error:
            errors["roles"] = roles_error
        if not password or len(password) < 8:
            errors["password"] = "at least 8 characters"
        display_name = display_name.strip() if isinstance(display_name, str) else None
        if display_name is None or len(display_name) > DISPLAY_NAME_LENGTH:
            errors["display_name"] = f"text of at most {DISPLAY_NAME_LENGTH} characters"
        elif hidden := hidden_characters_error(display_name):
            errors["display_name"] = hidden
        if branch_error := self._branch_error(session, provider_code):
            errors["provider_code"] = branch_error
        if errors:
            raise ValidationFailed("invalid user", errors)
        if self.find(session, username) is not None:
            raise Conflict(f"user {username!r} already exists", {"username": "already exists"})
        user = User(username=username, roles=",".join(sorted(set(roles))), password_hash=hash_password(password),
                    display_name=display_name or username, email=email, provider_code=provider_code or "")
        session.add(user)
        session.flush()
        self._keep_customer_identity(session, user, customer_org)
        return user

    def find(self, session, username):
        return session.exec(select(User).where(User.username == username)).first()

    def get(self, session, username):
        user = self.find(session, username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def set_roles(self, session, username, roles, active, acting, customer_org=None, provider_code=None):
        """An admin changes a user's roles, the customer organisation an integration account acts for, the provider
        branch an account manager drafts for (None: unchanged, "": none), or disables the account (not their own
        admin role)."""
        user = self.get(session, username)
        roles_error = check_roles(roles)
        if roles_error:
            raise ValidationFailed("invalid roles", {"roles": roles_error})
        if username == acting and ("admin" not in roles or not active):
            raise ValidationFailed("you cannot remove your own admin role", {"roles": "keep your own admin role"})
        if branch_error := self._branch_error(session, provider_code):
            raise ValidationFailed("invalid provider branch", {"provider_code": branch_error})
        user.roles, user.active = ",".join(sorted(set(roles))), active
        if provider_code is not None:
            user.provider_code = provider_code
        self._keep_customer_identity(session, user, customer_org)
        return user

    @staticmethod
    def _branch_error(session, provider_code):
        if provider_code and session.exec(select(Provider.code).where(Provider.code == provider_code)).first() is None:
            return f"no provider profile {provider_code!r}"
        return None

    def customer_org(self, session, user):
        """The credit code an integration account is bound to (None: it acts only on contracts bound to it)."""
        identity = self._customer_identity(session, user)
        return identity.credit_code if identity else None

    def _customer_identity(self, session, user):
        return session.exec(select(CustomerIdentity).where(CustomerIdentity.issuer == API_ISSUER,
                                                           CustomerIdentity.subject == user.username)).first()

    def _keep_customer_identity(self, session, user, customer_org):
        """An account with the customer role has its identity, named and addressed like the account (its email was
        set by an administrator, so codes may go there); ``customer_org`` ("" unbinds) binds it to an organisation."""
        if "customer" not in user.role_set:
            return
        if customer_org:
            customer_org = customer_org.strip().upper()
            problem = credit_code_error(customer_org)
            if problem:
                raise ValidationFailed("invalid credit code", {"customer_org": problem})
        identity = self._customer_identity(session, user) or CustomerIdentity(issuer=API_ISSUER, subject=user.username,
                                                                              provider="api")
        identity.name, identity.email = user.display_name or user.username, user.email or ""
        identity.email_verified = bool(user.email)
        if customer_org is not None:
            identity.credit_code = customer_org or None
        session.add(identity)
        session.flush()

    def create_token(self, session, username, name=""):
        """Returns the token text; it is shown once and only its digest is kept."""
        user = self.get(session, username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, name=name or username, token_sha256=_token_digest(token)))
        return token

    def user_for_token(self, session, token):
        """The active user a live token belongs to (every API request asks: a driver-level statement)."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = USER_FOR_TOKEN.first(session, {"digest": _token_digest(token)})
        return User(**row._asdict()) if row else None

    def revoke_tokens(self, session, username):
        user = self.get(session, username)
        tokens = session.exec(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
        count = 0
        for token in tokens:
            token.revoked_at = utcnow()
            count += 1
        return count
