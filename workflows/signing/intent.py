"""One-time intent codes: the signer confirms, at the moment of signing, through a channel bound to them.

A 6-digit code is sent to the signer's verified email (or by SMS through an ``SmsSender`` adapter); only a
salted SHA-256 of it is stored. A code expires after 10 minutes, works once, and allows 5 wrong attempts;
a signer may ask for at most 5 codes per hour. One code covers one signing act (the contract and all its
letters); ``check`` returns the evidence to keep with the signature and ``consume`` spends it.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from typing import Callable, Protocol

from sqlalchemy import update
from sqlmodel import func, select

from workflows.clock import aware, utcnow
from workflows.db import serialize_on
from workflows.errors import Conflict, ValidationFailed

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


class IntentService:
    def __init__(self, sms: SmsSender | None = None):
        self.sms = sms or LoggingSmsSender()

    def issue(self, session, contract_id: int, signer_key: str, channel: str, send: Callable | None,
              destination: str, contract_label: str = "") -> IntentCode:
        """Create and send a code in the caller's write transaction. ``send(to, subject, body)`` sends email; SMS goes
        through the adapter. At most ``MAX_CODES_PER_HOUR`` per signer, however many requests arrive at once."""
        if channel not in ("email", "sms"):
            raise ValidationFailed("unknown channel for the confirmation code", {"channel": "email or sms"})
        if not destination:
            raise ValidationFailed("no verified address to send the confirmation code to",
                                   {"channel": "no verified " + channel})
        serialize_on(session, f"intent-codes:{signer_key}")  # parallel requests count one after the other
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

    def pending(self, session, contract_id: int, signer_key: str) -> IntentCode | None:
        """The code the signer may still type for this contract (the newest, unused, unexpired, not blocked), or
        None: the signing page asks for a code only once one was sent."""
        row = session.exec(select(IntentCode).where(
            IntentCode.contract_id == contract_id, IntentCode.signer_key == signer_key, IntentCode.used_at.is_(None))
            .order_by(IntentCode.id.desc()).limit(1)).first()
        return row if row is not None and aware(row.expires_at) > utcnow() and row.attempts < MAX_ATTEMPTS else None

    def check(self, db, contract_id: int, signer_key: str, code) -> dict:
        """Check ``code`` against the signer's newest unused code for this contract, without using it up.

        The code's row is locked (``FOR UPDATE``; SQLite's single writer does the same) while it is compared and a
        wrong guess counted, in a transaction of its own that commits although the check fails: parallel guesses are
        compared one at a time against the committed count, so at most ``MAX_ATTEMPTS`` are ever compared (a right code
        among them is refused like the others once the wrong ones have used the attempts up). Returns the evidence to
        keep with the signature; :meth:`consume` spends the code in the signing act's own transaction.
        """
        if not isinstance(code, str) or not code.strip():
            raise ValidationFailed("a confirmation code is required to sign; request one first",
                                   {"intent_code": "required"})
        code = code.strip()
        now = utcnow()
        with db.write() as session:
            row = session.exec(select(IntentCode).where(
                IntentCode.contract_id == contract_id, IntentCode.signer_key == signer_key,
                IntentCode.used_at.is_(None)).order_by(IntentCode.id.desc()).limit(1).with_for_update()).first()
            if row is None:
                raise ValidationFailed("no confirmation code is pending (a code works once); request a new one",
                                       {"intent_code": "request a new code"})
            if aware(row.expires_at) <= now:
                raise ValidationFailed("the confirmation code has expired; request a new one", {"intent_code": "expired"})
            if row.attempts >= MAX_ATTEMPTS:
                raise Conflict("too many wrong attempts for this code; request a new one")
            right = code.isdigit() and len(code) == 6 and hmac.compare_digest(_hash(row.salt, code), row.code_sha256)
            if not right:
                row.attempts += 1  # read under the lock: no other check can have counted in between
        if not right:
            raise ValidationFailed("the confirmation code is wrong", {"intent_code": "wrong code"})
        return {"channel": row.channel, "destination": row.destination, "issued_at": aware(row.issued_at).isoformat(),
                "verified_at": now.isoformat(), "code_id": row.id}

    def consume(self, session, evidence: dict) -> None:
        """Spend the checked code in the caller's transaction: it works once, and not after too many wrong tries."""
        used = session.execute(update(IntentCode).where(
            IntentCode.id == evidence["code_id"], IntentCode.used_at.is_(None), IntentCode.attempts < MAX_ATTEMPTS)
            .values(used_at=utcnow())).rowcount
        if used != 1:
            raise Conflict("the confirmation code was used or blocked at the same moment; request a new one")
