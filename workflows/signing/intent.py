"""One-time intent codes: the signer confirms, at the moment of signing, through a channel bound to them.

A 6-digit code is sent to the signer's verified email (or by SMS through an ``SmsSender`` adapter); only a
salted SHA-256 of it is stored. A code expires after 10 minutes, works once, and allows 5 wrong attempts;
a signer may ask for at most 5 codes per hour. ``verify`` returns the evidence to keep with the signature.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from typing import Callable, Protocol

from sqlmodel import func, select

from workflows.errors import Conflict, ValidationFailed
from workflows.clock import utcnow

from ..models import IntentCode

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 5
log = logging.getLogger(__name__)


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LoggingSmsSender:
    """Development SMS adapter: logs the message instead of sending it."""

    def __init__(self):
        self.sent = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("SMS to %s: %s", mask(phone), text)


def mask(destination: str) -> str:
    if "@" in destination:
        local, domain = destination.split("@", 1)
        return (local[:1] + "***" + local[-1:] if len(local) > 2 else local[:1] + "***") + "@" + domain
    digits = destination.strip()
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****" + digits[-2:]


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256((salt + code).encode()).hexdigest()


def _aware(value):
    from datetime import timezone
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class IntentService:
    def __init__(self, sms: SmsSender | None = None):
        self.sms = sms or LoggingSmsSender()

    def issue(self, session, contract_id: int, signer_key: str, channel: str, send: Callable | None,
              destination: str, contract_label: str = "") -> IntentCode:
        """Create and send a code. ``send(to, subject, body)`` sends email; SMS goes through the adapter."""
        if channel not in ("email", "sms"):
            raise ValidationFailed("unknown channel for the confirmation code", {"channel": "email or sms"})
        if not destination:
            raise ValidationFailed("no verified address to send the confirmation code to",
                                   {"channel": "no verified " + channel})
        now = utcnow()
        recent = session.exec(select(func.count()).select_from(IntentCode).where(
            IntentCode.signer_key == signer_key, IntentCode.issued_at > now - timedelta(hours=1))).one()
        if recent >= MAX_CODES_PER_HOUR:
            raise Conflict("too many confirmation codes requested; try again within the hour (每小时最多 5 次)")
        code = f"{secrets.randbelow(10 ** 6):06d}"
        salt = secrets.token_hex(16)
        row = IntentCode(contract_id=contract_id, signer_key=signer_key, channel=channel,
                         destination=mask(destination), salt=salt, code_sha256=_hash(salt, code),
                         issued_at=now, expires_at=now + CODE_TTL)
        session.add(row)
        session.flush()
        text = (f"您的签署确认码为 {code}，10 分钟内有效，仅可使用一次。{contract_label}\n"
                f"Your signing confirmation code is {code}; valid for 10 minutes, single use.")
        if channel == "email":
            send(destination, "签署确认码 Signing confirmation code", text)
        else:
            self.sms.send(destination, text)
        return row

    def verify(self, session, contract_id: int, signer_key: str, code: str) -> dict:
        """Check the newest unused code of this signer for this contract; on success mark it used.

        Returns the evidence to record with the signature. A wrong code counts an attempt in the caller's
        transaction, which the raised error rolls back: web callers use :meth:`confirm`, which commits it.
        """
        now = utcnow()
        row = session.exec(select(IntentCode).where(
            IntentCode.contract_id == contract_id, IntentCode.signer_key == signer_key,
            IntentCode.used_at.is_(None)).order_by(IntentCode.id.desc()).limit(1)).first()
        if row is None:
            raise ValidationFailed("no confirmation code is pending; request a new one", {"code": "request a code"})
        if _aware(row.expires_at) <= now:
            raise ValidationFailed("the confirmation code has expired; request a new one", {"code": "expired"})
        if row.attempts >= MAX_ATTEMPTS:
            raise Conflict("too many wrong attempts for this code; request a new one")
        if not (code and code.isdigit() and len(code) == 6
                and hmac.compare_digest(_hash(row.salt, code), row.code_sha256)):
            row.attempts += 1
            session.add(row)
            session.flush()
            raise ValidationFailed("the confirmation code is wrong", {"code": "wrong code"})
        row.used_at = now
        session.add(row)
        session.flush()
        return {"channel": row.channel, "destination": row.destination, "issued_at": _aware(row.issued_at).isoformat(),
                "verified_at": now.isoformat(), "code_id": row.id}

    def confirm(self, db, contract_id: int, signer_key: str, code: str) -> dict:
        """``verify`` in its own write transaction, so that a wrong attempt is counted even though it fails."""
        error = None
        with db.write() as session:
            try:
                return self.verify(session, contract_id, signer_key, code)
            except ValidationFailed as exc:
                error = exc  # leave the block normally: the attempt counter is committed
        raise error
