"""Customers (甲方): external identities, their sessions, invitations to sign and bindings.

A customer is not a staff ``User``. A person who signs in through OpenID Connect acts as a ``CustomerActor`` of their
``CustomerIdentity``; an integration's API account with the customer role acts as the identity mirrored for it
(issuer ``qianyue:api``, subject its username), which an administrator may bind to the customer organisation's
credit code. Which contracts an identity may act on is ``AccessService``'s.

Invitations: when the process opens the customer task, the contract's contact (``customer.contact.email``)
receives a link with a random token (only its SHA-256 is stored). The first identity that accepts it with a
verified email equal to the contact's — or the identity an admin binds — becomes the contract's signer. An
invitation is alive while it is not revoked and the customer task it was made for is open; the BPMN timers
decide both the reminders (``customer_reminder`` history event) and the expiry (the task is cancelled). Once a signer
accepted, sending the contract to someone else needs an administrator's approval (``ContactChange``).
"""
import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from ..actors import API_ISSUER, CustomerActor
from ..clock import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..fingerprints import sha256_hex
from ..models import ContactChange, Contract, CustomerIdentity, CustomerSession, HumanTask, Invitation
from ..visible_text import hidden_characters_error

SESSION_TTL = timedelta(hours=8)


class CustomerService:
    def __init__(self, contracts, history, notifications, base_url="http://127.0.0.1:5000"):
        self.contracts = contracts
        self.history = history
        self.notifications = notifications
        self.base_url = base_url

    # --- identities and sessions ------------------------------------------------------------------------------
    def sign_in(self, session, claims, provider, ip="", user_agent=""):
        """Find or create the identity of verified login ``claims`` (issuer, subject, name, email, email_verified)
        and open a session for it. Returns (identity, session token)."""
        issuer, subject = str(claims.get("issuer") or ""), str(claims.get("subject") or "")
        if not issuer or not subject or len(issuer) > 300 or len(subject) > 255:
            raise ValidationFailed("the identity provider sent no usable issuer and subject", {"sub": "missing"})
        name = str(claims.get("name") or "")[:200]
        if hidden := hidden_characters_error(name):  # printed as the signer's name in the completion certificate
            raise ValidationFailed("the identity provider sent a name that cannot be printed", {"name": hidden})
        identity = session.exec(select(CustomerIdentity).where(CustomerIdentity.issuer == issuer,
                                                               CustomerIdentity.subject == subject)).first()
        if identity is None:
            identity = CustomerIdentity(issuer=issuer, subject=subject)
        identity.provider = provider[:50]
        identity.name = name
        identity.email = str(claims.get("email") or "")[:200].strip()
        identity.email_verified = bool(claims.get("email_verified")) and bool(identity.email)
        identity.last_login_at = utcnow()
        session.add(identity)
        session.flush()
        token = secrets.token_urlsafe(32)
        session.add(CustomerSession(token_sha256=sha256_hex(token), identity_id=identity.id, expires_at=utcnow() + SESSION_TTL,
                                    ip=ip[:64], user_agent=user_agent[:300]))
        return identity, token

    def identity_for(self, session, token):
        if not token or not isinstance(token, str):
            return None
        row = session.exec(select(CustomerIdentity).join(CustomerSession, CustomerSession.identity_id == CustomerIdentity.id)
                           .where(CustomerSession.token_sha256 == sha256_hex(token), CustomerSession.revoked_at.is_(None),
                                  CustomerSession.expires_at > utcnow())).first()
        return row

    def sign_out(self, session, token):
        if token and isinstance(token, str):
            session.execute(update(CustomerSession).where(CustomerSession.token_sha256 == sha256_hex(token),
                                                          CustomerSession.revoked_at.is_(None)).values(revoked_at=utcnow()))

    def find_by_subject(self, session, issuer, subject):
        return session.exec(select(CustomerIdentity).where(CustomerIdentity.issuer == issuer,
                                                           CustomerIdentity.subject == subject)).first()

    def api_identity(self, session, user):
        """The identity an API account with the customer role acts as (created with the account, see AccountService)."""
        return self.find_by_subject(session, API_ISSUER, user.username)

    def actor_for_api_user(self, session, user):
        identity = self.api_identity(session, user)
        if identity is None:
            raise Forbidden("this API account is not set up as a customer (an administrator saves it once more)")
        return CustomerActor.of(identity)

    def find_identity(self, session, identity_id=None, email=None):
        if identity_id is not None:
            return session.get(CustomerIdentity, identity_id)
        return session.exec(select(CustomerIdentity).where(CustomerIdentity.email == email)
                            .order_by(CustomerIdentity.last_login_at.desc())).first()

    # --- invitations -------------------------------------------------------------------------------------------
    def open_customer_task(self, session, contract_id):
        return session.exec(select(HumanTask).where(HumanTask.contract_id == contract_id, HumanTask.role == "customer",
                                                    HumanTask.state == "open")).first()

    def current_invitation(self, session, contract_id):
        """The newest invitation that was not replaced (it may be dead because its task closed)."""
        return session.exec(select(Invitation).where(Invitation.contract_id == contract_id, Invitation.revoked_at.is_(None))
                            .order_by(Invitation.id.desc())).first()

    def invitations(self, session, contract_id):
        return list(session.exec(select(Invitation).where(Invitation.contract_id == contract_id).order_by(Invitation.id)))

    def is_alive(self, session, invitation):
        if invitation is None or invitation.revoked_at is not None:
            return False
        task = session.get(HumanTask, invitation.task_id)
        return task is not None and task.state == "open"

    def signer(self, session, contract_id):
        """The identity bound to the contract (through its current invitation), or None."""
        invitation = self.current_invitation(session, contract_id)
        if invitation is None or invitation.identity_id is None:
            return None
        return session.get(CustomerIdentity, invitation.identity_id)

    def contact_email(self, session, contract):
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        contact = ((data.get("customer") or {}).get("contact") or {})
        return (contact.get("email") or "").strip() if isinstance(contact, dict) else ""

    def invite(self, session, contract_id, actor, email=None, keep_binding=False, reason="invitation"):
        """Make a new invitation for the open customer task (earlier links die) and mail it. Returns the token."""
        contract = self.contracts.get(session, contract_id)
        task = self.open_customer_task(session, contract.id)
        if task is None:
            raise Conflict(f"the contract is not waiting for the customer (it is {contract.status})")
        previous = self.current_invitation(session, contract.id)
        if email is None:
            email = previous.email if previous is not None else self.contact_email(session, contract)
        email = (email or "").strip()
        if not _looks_like_email(email):
            raise ValidationFailed("the customer contact needs a valid email address", {"email": "a valid email address"})
        now = utcnow()
        if previous is not None:
            session.execute(update(Invitation).where(Invitation.contract_id == contract.id, Invitation.revoked_at.is_(None))
                            .values(revoked_at=now))
        token = secrets.token_urlsafe(32)
        invitation = Invitation(contract_id=contract.id, task_id=task.id, email=email, token_sha256=sha256_hex(token),
                                created_by=actor, created_at=now)
        if keep_binding and previous is not None and previous.identity_id is not None and previous.email.lower() == email.lower():
            invitation.identity_id, invitation.bound_at, invitation.bound_by = previous.identity_id, previous.bound_at, previous.bound_by
        session.add(invitation)
        session.flush()
        self.history.record(session, "customer_invited", actor, contract_id=contract.id, task_id=task.id,
                                     task_name=task.name, details={"email": email, "invitation": invitation.id, "reason": reason})
        self._mail_invitation(session, contract, email, token, reminder=reason == "reminder")
        return token

    def _mail_invitation(self, session, contract, email, token, reminder=False):
        link = f"{self.base_url}/invitations/{token}"
        subject = (f"[签约] 提醒：请签署合同 {contract.number}" if reminder else f"[签约] 请签署合同 {contract.number}")
        body = (f"您好：\n\n{'提醒您，' if reminder else ''}合同《{contract.title}》（{contract.number}）等待贵方（{contract.customer_name}）签署。\n"
                f"请打开以下链接，使用与本邮箱（{email}）一致且已验证的账号登录后查看并签署：\n\n{link}\n\n"
                + ("此链接替代之前邮件中的链接，之前的链接已失效。\n" if reminder else "")
                + "链接仅供本人使用，请勿转发。签署期限届满后链接失效。\n\n"
                f"The contract {contract.number} is waiting for your signature: {link}\n")
        self.notifications.enqueue(session, "customer_reminder" if reminder else "customer_invitation", email,
                                             subject, body, contract.id)

    def invitation_for(self, session, token, identity):
        """The live invitation ``token`` names, when ``identity`` may accept it (or already did); else the refusal
        ``accept`` would give, so the invitation page can say it before anything is clicked."""
        if not token or not isinstance(token, str) or len(token) > 200:
            raise NotFound("no such invitation")
        invitation = session.exec(select(Invitation).where(Invitation.token_sha256 == sha256_hex(token))).first()
        if invitation is None:
            raise NotFound("no such invitation")
        if not self.is_alive(session, invitation):
            raise Conflict("this invitation is no longer valid (it was replaced, or signing has closed)")
        if invitation.identity_id not in (None, identity.id):
            raise Forbidden("this invitation was already accepted by someone else")
        if not identity.email_verified or identity.email.lower() != invitation.email.lower():
            raise Forbidden("sign in with the verified email address the invitation was sent to")
        return invitation

    def accept(self, session, token, identity):
        """Bind ``identity`` as the signer through the invitation ``token``. Returns the contract id."""
        invitation = self.invitation_for(session, token, identity)
        if invitation.identity_id == identity.id:
            return invitation.contract_id
        now = utcnow()
        bound = session.execute(update(Invitation).where(Invitation.id == invitation.id, Invitation.identity_id.is_(None))
                                .values(identity_id=identity.id, bound_at=now, bound_by="invitation")).rowcount
        if bound != 1:
            raise Forbidden("this invitation was already accepted by someone else")
        self.history.record(session, "customer_bound", CustomerActor.of(identity).username, contract_id=invitation.contract_id,
                                     details=_who(identity) | {"invitation": invitation.id, "by": "invitation"})
        return invitation.contract_id

    def bind(self, session, contract_id, identity_id, admin):
        """An admin binds an identity (one that has signed in once) as the contract's signer."""
        if "admin" not in admin.role_set:
            raise Forbidden("only an administrator can bind a signer")
        identity = session.get(CustomerIdentity, identity_id) if isinstance(identity_id, int) else None
        if identity is None:
            raise ValidationFailed("no such customer identity", {"identity": "pick an identity that has signed in"})
        invitation = self.current_invitation(session, contract_id)
        if not self.is_alive(session, invitation):
            raise Conflict("the contract has no open invitation to bind a signer to")
        invitation.identity_id, invitation.bound_at, invitation.bound_by = identity.id, utcnow(), admin.username
        session.add(invitation)
        self.history.record(session, "customer_bound", admin.username, contract_id=contract_id,
                                     details=_who(identity) | {"invitation": invitation.id, "by": "admin"})
        return invitation

    # --- changing the signer --------------------------------------------------------------------------------------
    def change_contact(self, session, contract_id, actor, email, reason=""):
        """Send the invitation to another contact. Before anyone accepted it this happens at once; once a signer
        accepted, it becomes a request an administrator decides (the accepted signer stays until then).
        Returns the ``ContactChange`` request, or None when the invitation went out at once."""
        email = (email or "").strip() if isinstance(email, str) else ""
        if not _looks_like_email(email):
            raise ValidationFailed("the customer contact needs a valid email address", {"email": "a valid email address"})
        contract = self.contracts.get(session, contract_id)
        current = self.current_invitation(session, contract.id)
        if current is None or current.identity_id is None:
            self.invite(session, contract.id, actor.username, email=email, reason="contact changed")
            return None
        if current.email.lower() == email.lower():
            raise ValidationFailed("this is already the signer's address", {"email": "the same address as now"})
        if self.pending_contact_change(session, contract.id) is not None:
            raise Conflict("a change of signer is already waiting for an administrator")
        change = ContactChange(contract_id=contract.id, from_email=current.email, to_email=email,
                               reason=_free_text(reason, "reason"), requested_by=actor.username)
        session.add(change)
        session.flush()
        self.history.record(session, "signer_change_requested", actor.username, contract_id=contract.id,
                            comment=change.reason, details={"from": current.email, "to": email, "request": change.id})
        return change

    def pending_contact_change(self, session, contract_id):
        return session.exec(select(ContactChange).where(ContactChange.contract_id == contract_id,
                                                        ContactChange.status == "pending")).first()

    def contact_changes(self, session, contract_id):
        return list(session.exec(select(ContactChange).where(ContactChange.contract_id == contract_id)
                                 .order_by(ContactChange.id)))

    def decide_contact_change(self, session, change_id, admin, approve, comment=""):
        """An administrator approves (the new contact is invited, the accepted signer loses the contract) or
        rejects a change of signer; both names are kept in the history and the completion certificate."""
        if "admin" not in admin.role_set:
            raise Forbidden("only an administrator decides a change of signer")
        if not isinstance(approve, bool):
            raise ValidationFailed("approve is true or false", {"approve": "true or false"})
        comment = _free_text(comment, "comment")
        change = session.get(ContactChange, change_id) if isinstance(change_id, int) else None
        if change is None:
            raise NotFound(f"no change of signer {change_id}")
        moved = session.execute(update(ContactChange).where(ContactChange.id == change.id,
                                                            ContactChange.status == "pending")
                                .values(status="approved" if approve else "rejected", decided_by=admin.username,
                                        decided_at=utcnow(), comment=comment)).rowcount
        if moved != 1:
            raise Conflict(f"this change of signer was already {change.status}")
        details = {"from": change.from_email, "to": change.to_email, "requested_by": change.requested_by,
                   "decided_by": admin.username, "reason": change.reason, "request": change.id}
        if approve:
            self.invite(session, change.contract_id, admin.username, email=change.to_email,
                        reason="contact changed (approved)")
            self.history.record(session, "signer_contact_changed", admin.username, contract_id=change.contract_id,
                                on_behalf_of=change.requested_by, comment=comment, details=details)
        else:
            self.history.record(session, "signer_change_rejected", admin.username, contract_id=change.contract_id,
                                on_behalf_of=change.requested_by, comment=comment, details=details)
        return change

    # --- the process ----------------------------------------------------------------------------------------------
    def invite_and_remind(self, session, step):
        """Step listener: invite when the customer task opens; remind when the diagram's reminder timer fired."""
        if not step.of_contract:
            return
        reminded = any(e.get("event") == "customer_reminder" for e in step.events if isinstance(e, dict))
        for task in step.new_tasks:
            if task["role"] == "customer":
                contract = session.get(Contract, step.contract_id)
                email = self.contact_email(session, contract) if contract is not None else ""
                previous = self.current_invitation(session, step.contract_id) if reminded else None
                if previous is not None:  # back from the activation gate: the same signer, a reminder with a new link
                    self.invite(session, step.contract_id, "system", email=previous.email, keep_binding=True,
                                reason="reminder")
                    return
                if _looks_like_email(email):
                    self.invite(session, step.contract_id, step.actor, email=email)
                else:
                    self.history.record(session, "customer_not_invited", "system", contract_id=step.contract_id,
                                                 details={"reason": "the contract has no customer contact email"})
        if reminded:
            self.remind(session, step.contract_id)

    def remind(self, session, contract_id):
        """The reminder timer fired: a bound signer gets a link to the signing page, an unbound contact a fresh link."""
        invitation = self.current_invitation(session, contract_id)
        if not self.is_alive(session, invitation):
            return
        invitation.reminders += 1
        session.add(invitation)
        contract = session.get(Contract, contract_id)
        if invitation.identity_id is None:
            self.invite(session, contract_id, "system", email=invitation.email, reason="reminder")
            return
        link = f"{self.base_url}/sign/{contract.id}"
        self.notifications.enqueue(
            session, "customer_reminder", invitation.email, f"[签约] 提醒：请签署合同 {contract.number}",
            f"您好：\n\n提醒您，合同《{contract.title}》（{contract.number}）仍在等待贵方签署。\n请登录后签署：{link}\n\n"
            f"Reminder: the contract {contract.number} is waiting for your signature: {link}\n", contract.id)


def _who(identity):
    return {"issuer": identity.issuer, "subject": identity.subject, "name": identity.name, "email": identity.email}


def _looks_like_email(value):
    return isinstance(value, str) and 3 <= len(value) <= 200 and "@" in value and " " not in value and "\n" not in value


def _free_text(value, field, limit=2000):
    """A reason or comment as given: text of at most ``limit`` characters (none is empty), lines but nothing hidden."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"the {field} must be text", {field: "must be text"})
    if len(value) > limit:
        raise ValidationFailed(f"the {field} is too long", {field: f"at most {limit} characters"})
    if hidden := hidden_characters_error(value, multiline=True):
        raise ValidationFailed(f"the {field} has invisible or control characters", {field: hidden})
    return value.strip()
