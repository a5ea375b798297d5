"""Who acts on a contract.

Staff act as their ``User`` row (``username``, ``role_set``, ``display_name``, ``email``). A customer (甲方) acts as a
:class:`CustomerActor`: a person who signed in through OpenID Connect, or an integration's API account, both known by
a ``CustomerIdentity``. The services take either and decide what it may do (``AccessService``); the history names a
customer ``customer:<identity id>``.
"""
from dataclasses import dataclass, field

STAFF_ROLES = frozenset({"sales", "legal", "finance", "provider", "admin"})
API_ISSUER = "qianyue:api"  # the issuer of the identity an API account with the customer role acts as
STAFF_ISSUER = "qianyue:staff"  # a provider's signature: the staff account (subject: its username) that signed
SEAL_ISSUER = "seal"  # the organisation's 合同专用章 (subject: its 统一社会信用代码)


@dataclass(frozen=True)
class CustomerActor:
    identity_id: int
    name: str = ""
    email: str = ""
    email_verified: bool = False
    issuer: str = ""
    subject: str = ""
    credit_code: str | None = None  # the organisation an administrator bound this identity to, if any
    role_set: frozenset = field(default=frozenset({"customer"}))

    @property
    def username(self):
        return f"customer:{self.identity_id}"

    @property
    def display_name(self):
        return self.name or self.email

    @property
    def signer_key(self):
        """Who a one-time code belongs to: the identity's issuer and subject."""
        return f"{self.issuer}|{self.subject}"

    @classmethod
    def of(cls, identity):
        return cls(identity.id, identity.name, identity.email, identity.email_verified, identity.issuer, identity.subject,
                   identity.credit_code)


def is_customer(actor):
    return isinstance(actor, CustomerActor)


def is_staff(actor):
    return not is_customer(actor) and bool(actor.role_set & STAFF_ROLES)
