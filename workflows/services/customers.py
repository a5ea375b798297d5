"""Customers (甲方): external identities, their sessions, invitations to sign, bindings, and signatures.

A customer is not a staff ``User``. They act on the process through :class:`CustomerActor`, a small value that
``TaskService.complete`` accepts like a user (``username`` for the history, ``role_set`` = {"customer"}); the
history names them ``customer:<identity id>`` and the ``signature`` row keeps issuer, subject, name and email.
No staff row is created for a customer, so a customer can never reach a staff page or hold a staff role.

Invitations: when the process opens the customer task, the contract's contact (``customer.contact.email``)
receives a link with a random token (only its SHA-256 is stored). The first identity that accepts it with a
verified email equal to the contact's — or the identity an admin binds — becomes the contract's signer. An
invitation is alive while it is not revoked and the customer task it was made for is open; the BPMN timers
decide both the reminders (``customer_reminder`` history event) and the expiry (the task is cancelled).
"""
import base64
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Contract, CustomerIdentity, CustomerSession, HumanTask, Invitation, Signature
from ..clock import utcnow

SESSION_TTL = timedelta(hours=8)
MAX_IMAGE_BYTES = 1024 * 1024  # drawn signature or seal PNG
MAX_IMAGE_SIDE = 4000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHODS = ("drawn", "typed", "seal")
CONSENT_TEXT = ("本人确认已完整阅读上述合同及全部附件，同意以电子签名方式签署，电子签名与手写签名或盖章具有同等法律效力"
                "（《中华人民共和国电子签名法》第十四条）。\n"
                "I have read the whole contract and every attachment above, and I agree to sign it electronically; "
                "my electronic signature has the same legal effect as a handwritten signature or seal.")


def sha256_hex(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


@dataclass(frozen=True)
class CustomerActor:
    """A signed-in customer acting on the process: what ``TaskService.complete`` needs of a user."""

    identity_id: int
    display_name: str = ""
    role_set: frozenset = field(default=frozenset({"customer"}))

    @property
    def username(self):
        return f"customer:{self.identity_id}"


def actor_for(identity):
    return CustomerActor(identity.id, identity.name or identity.email)


class CustomerService:
    def __init__(self, platform, base_url="http://127.0.0.1:5000"):
        self.platform = platform
        self.base_url = base_url

    # --- identities and sessions ------------------------------------------------------------------------------
    def sign_in(self, session, claims, provider, ip="", user_agent=""):
        """Find or create the identity of verified login ``claims`` (issuer, subject, name, email, email_verified)
        and open a session for it. Returns (identity, session token)."""
        issuer, subject = str(claims.get("issuer") or ""), str(claims.get("subject") or "")
        if not issuer or not subject or len(issuer) > 300 or len(subject) > 255:
            raise ValidationFailed("the identity provider sent no usable issuer and subject", {"sub": "missing"})
        identity = session.exec(select(CustomerIdentity).where(CustomerIdentity.issuer == issuer,
                                                               CustomerIdentity.subject == subject)).first()
        if identity is None:
            identity = CustomerIdentity(issuer=issuer, subject=subject)
        identity.provider = provider[:50]
        identity.name = str(claims.get("name") or "")[:200]
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
        data = self.platform.contracts.version_data(session, contract.id, contract.current_version)
        contact = ((data.get("customer") or {}).get("contact") or {})
        return (contact.get("email") or "").strip() if isinstance(contact, dict) else ""

    def invite(self, session, contract_id, actor, email=None, keep_binding=False, reason="invitation"):
        """Make a new invitation for the open customer task (earlier links die) and mail it. Returns the token."""
        contract = self.platform.contracts.get(session, contract_id)
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
        self.platform.history.record(session, "customer_invited", actor, contract_id=contract.id, task_id=task.id,
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
        self.platform.notifications.enqueue(session, "customer_reminder" if reminder else "customer_invitation", email,
                                             subject, body, contract.id)

    def accept(self, session, token, identity):
        """Bind ``identity`` as the signer through the invitation ``token``. Returns the contract id."""
        if not token or not isinstance(token, str) or len(token) > 200:
            raise NotFound("no such invitation")
        invitation = session.exec(select(Invitation).where(Invitation.token_sha256 == sha256_hex(token))).first()
        if invitation is None:
            raise NotFound("no such invitation")
        if not self.is_alive(session, invitation):
            raise Conflict("this invitation is no longer valid (it was replaced, or signing has closed)")
        if invitation.identity_id == identity.id:
            return invitation.contract_id
        if invitation.identity_id is not None:
            raise Forbidden("this invitation was already accepted by someone else")
        if not identity.email_verified or identity.email.lower() != invitation.email.lower():
            raise Forbidden("sign in with the verified email address the invitation was sent to")
        now = utcnow()
        bound = session.execute(update(Invitation).where(Invitation.id == invitation.id, Invitation.identity_id.is_(None))
                                .values(identity_id=identity.id, bound_at=now, bound_by="invitation")).rowcount
        if bound != 1:
            raise Forbidden("this invitation was already accepted by someone else")
        self.platform.history.record(session, "customer_bound", actor_for(identity).username, contract_id=invitation.contract_id,
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
        self.platform.history.record(session, "customer_bound", admin.username, contract_id=contract_id,
                                     details=_who(identity) | {"invitation": invitation.id, "by": "admin"})
        return invitation

    def contracts_for(self, session, identity):
        """The contracts bound to ``identity`` (through their current invitation), newest first."""
        rows = session.exec(select(Contract).join(Invitation, Invitation.contract_id == Contract.id)
                            .where(Invitation.identity_id == identity.id, Invitation.revoked_at.is_(None))
                            .order_by(Contract.updated_at.desc())).all()
        seen, result = set(), []
        for contract in rows:
            if contract.id not in seen:
                seen.add(contract.id)
                result.append(contract)
        return result

    def check_signer(self, session, contract_id, identity):
        contract = self.platform.contracts.get(session, contract_id)
        signer = self.signer(session, contract.id)
        if signer is None or signer.id != identity.id:
            raise Forbidden("this contract is not bound to you")
        return contract

    def signatures(self, session, contract_id):
        return list(session.exec(select(Signature).where(Signature.contract_id == contract_id).order_by(Signature.id)))

    # --- signing -------------------------------------------------------------------------------------------------
    def sign(self, session, contract_id, identity, *, version, document_sha256, expected_sha256, method, consent,
             typed_name="", image_png=None, ip="", user_agent="", consent_text=CONSENT_TEXT):
        """Record the customer's signature and complete the customer task with ``sign``, in the caller's transaction.

        ``expected_sha256`` is the SHA-256 of the PDF of ``version`` as the server renders it now; the form sends the
        hash of the document it showed (``document_sha256``). A different hash or a newer version is a 409.
        """
        contract = self.check_signer(session, contract_id, identity)
        task = self.open_customer_task(session, contract.id)
        if task is None:
            raise Conflict(f"the contract is no longer waiting for your signature (it is {contract.status})")
        if contract.current_version != version or not isinstance(document_sha256, str) or document_sha256 != expected_sha256:
            raise Conflict("the document changed since you opened it; reload the page and read the current version")
        typed_name = check_signature_input(consent, method, typed_name, image_png)
        row = Signature(contract_id=contract.id, contract_version=version, task_id=task.id, role="customer",
                        identity_id=identity.id, issuer=identity.issuer, subject=identity.subject,
                        name=identity.name or typed_name or identity.email, email=identity.email,
                        document_sha256=document_sha256, method=method, typed_name=typed_name if method == "typed" else "",
                        image_png=image_png if method != "typed" else None,
                        image_sha256=sha256_hex(image_png) if method != "typed" and image_png else "",
                        consent_text=consent_text, ip=ip[:64], user_agent=user_agent[:300])
        session.add(row)
        session.flush()
        self.platform.tasks.complete(session, task.id, actor_for(identity), "sign")
        self.platform.history.record(session, "customer_signed", actor_for(identity).username, contract_id=contract.id,
                                     task_id=task.id, task_name=task.name,
                                     details=_who(identity) | {"signature": row.id, "method": method, "version": version,
                                                               "document_sha256": document_sha256, "ip": row.ip})
        return row

    def decline(self, session, contract_id, identity, reason):
        contract = self.check_signer(session, contract_id, identity)
        task = self.open_customer_task(session, contract.id)
        if task is None:
            raise Conflict(f"the contract is no longer waiting for your decision (it is {contract.status})")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationFailed("give a reason for declining", {"reason": "a reason is required to decline"})
        return self.platform.tasks.complete(session, task.id, actor_for(identity), "decline", reason)

    # --- the process ----------------------------------------------------------------------------------------------
    def invite_and_remind(self, session, step):
        """Step listener: invite when the customer task opens; remind when the diagram's reminder timer fired."""
        if step.contract_id is None:
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
                    self.platform.history.record(session, "customer_not_invited", "system", contract_id=step.contract_id,
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
        self.platform.notifications.enqueue(
            session, "customer_reminder", invitation.email, f"[签约] 提醒：请签署合同 {contract.number}",
            f"您好：\n\n提醒您，合同《{contract.title}》（{contract.number}）仍在等待贵方签署。\n请登录后签署：{link}\n\n"
            f"Reminder: the contract {contract.number} is waiting for your signature: {link}\n", contract.id)


def _who(identity):
    return {"issuer": identity.issuer, "subject": identity.subject, "name": identity.name, "email": identity.email}


def _looks_like_email(value):
    return isinstance(value, str) and 3 <= len(value) <= 200 and "@" in value and " " not in value and "\n" not in value


def check_signature_input(consent, method, typed_name, image_png):
    """The parts every signature needs (consent, a method, its name or image); all problems at once.
    Returns the typed name, stripped."""
    errors = {}
    if not consent:
        errors["consent"] = "tick the box to agree to sign electronically"
    if method not in METHODS:
        errors["method"] = "choose how to sign: draw, type your name, or upload a seal"
    typed_name = typed_name.strip() if isinstance(typed_name, str) else ""
    if method == "typed" and not typed_name:
        errors["typed_name"] = "type your full name"
    elif len(typed_name) > 200:
        errors["typed_name"] = "at most 200 characters"
    if method in ("drawn", "seal"):
        problem = check_png(image_png)
        if problem:
            errors["signature_image" if method == "drawn" else "seal"] = problem
    if errors:
        raise ValidationFailed("the signature is not complete", errors)
    return typed_name


def check_png(data):
    """None when ``data`` is a PNG of sane size; else the problem, in words for the form."""
    if not data:
        return "add a signature image"
    if len(data) > MAX_IMAGE_BYTES:
        return f"the image is larger than {MAX_IMAGE_BYTES // 1024} KB"
    if not data.startswith(PNG_MAGIC):
        return "the image must be a PNG file"
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return "the image must be a PNG file"
            width, height = image.size
            image.verify()
    except Exception:  # Pillow raises many kinds for a broken file
        return "the image could not be read as a PNG file"
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        return f"the image must be at most {MAX_IMAGE_SIDE} pixels on each side"
    return None


def png_from_data_url(value):
    """The bytes of a ``data:image/png;base64,...`` URL as signature_pad produces it (None if it is not one)."""
    prefix = "data:image/png;base64,"
    if not isinstance(value, str) or not value.startswith(prefix) or len(value) > MAX_IMAGE_BYTES * 4 // 3 + 100:
        return None
    try:
        return base64.b64decode(value[len(prefix):], validate=True)
    except ValueError:
        return None
