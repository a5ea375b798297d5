"""Who signs for the customer: accepting an invitation, resending it, changing the contact (after a signer accepted,
only with an administrator's approval), and an administrator binding a signer."""
from dataclasses import dataclass
from decimal import Decimal

from ..actors import API_ISSUER, is_customer
from ..errors import DomainError, Forbidden, ValidationFailed
from sqlmodel import select

from ..models import Contract, CustomerIdentity, User
from .approval import MAX_BULK


@dataclass(frozen=True)
class InvitationPreview:
    """What an invited signer reads before accepting: which contract, between whom, their account manager, and the
    letters signed with it (by their titles: 《用户入网责任书》 is no 承诺书)."""

    number: str
    title: str
    total: Decimal
    customer: str
    provider: str
    sender: str
    email: str
    letters: tuple = ()  # the titles, in attachment order


class InvitationService:
    def __init__(self, db, access, contracts, customers, letters):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.customers = customers
        self.letters = letters

    def accept(self, actor, token):
        """A signed-in customer accepts an invitation; returns the contract id."""
        if not is_customer(actor):
            raise Forbidden("invitations are accepted by the customer's signer")
        with self.db.write() as session:
            identity = session.get(CustomerIdentity, actor.identity_id)
            return self.customers.accept(session, token, identity)

    def preview(self, actor, token):
        """The contract an invitation is for, shown to the signed-in person it was sent to (anyone else is refused,
        as accepting would refuse them)."""
        if not is_customer(actor):
            raise Forbidden("invitations are accepted by the customer's signer")
        with self.db.read() as session:
            identity = session.get(CustomerIdentity, actor.identity_id)
            invitation = self.customers.invitation_for(session, token, identity)
            contract = session.get(Contract, invitation.contract_id)
            data = self.contracts.version_data(session, contract.id, contract.current_version)
            sender = session.exec(select(User.display_name).where(User.username == contract.created_by)).first()
            letters = tuple(pin["title"] for pin in self.letters.pinned(session, contract))
            return InvitationPreview(contract.number, contract.title, contract.total, contract.customer_name,
                                     data.get("provider", {}).get("name", ""), sender or "", invitation.email, letters)

    def resend(self, actor, contract_id):
        """A new link to the same contact (the old one dies); the accepted signer stays."""
        self.access.require_role(actor, "sales", "admin")
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            return self.customers.invite(session, contract.id, actor.username, keep_binding=True, reason="resent")

    def resend_many(self, actor, contract_ids):
        """Bulk: :meth:`resend` for several contracts, each in its own transaction; a refusal of one does not stop the
        others. Returns one result per contract, in order."""
        self.access.require_role(actor, "sales", "admin")
        if not isinstance(contract_ids, list) or not 1 <= len(contract_ids) <= MAX_BULK \
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in contract_ids) \
                or len(set(contract_ids)) != len(contract_ids):
            raise ValidationFailed(f"send a list of 1 to {MAX_BULK} contract ids, each once",
                                   {"contract_ids": f"a list of 1 to {MAX_BULK} ids, each once"})
        results = []
        for contract_id in contract_ids:
            try:
                self.resend(actor, contract_id)
                results.append({"id": contract_id, "ok": True})
            except DomainError as exc:
                results.append({"id": contract_id, "ok": False, "error": exc.code, "message": exc.message,
                                "fields": exc.fields})
        return results

    def change_contact(self, actor, contract_id, email, reason=""):
        """Returns the pending request when an administrator must approve it, None when the invitation went out."""
        self.access.require_role(actor, "sales", "admin")
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            return self.customers.change_contact(session, contract.id, actor, email, reason)

    def decide_contact_change(self, admin, change_id, approve, comment=""):
        with self.db.write() as session:
            return self.customers.decide_contact_change(session, change_id, admin, approve, comment)

    def bind(self, admin, contract_id, identity_id=None, username=None):
        """An administrator binds a signer: an identity that signed in once, or an integration's API account."""
        self.access.require_role(admin, "admin")
        with self.db.write() as session:
            contract = self.access.contract(session, admin, contract_id)
            if username is not None:
                identity = self.customers.find_by_subject(session, API_ISSUER, username)
                if identity is None:
                    raise ValidationFailed("no API account with the customer role of that name",
                                           {"username": "an API account with the customer role"})
                identity_id = identity.id
            if identity_id is None:
                raise ValidationFailed("name the signer to bind", {"username": "an API account, or an identity_id"})
            return self.customers.bind(session, contract.id, identity_id, admin)
