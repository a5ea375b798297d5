"""The signing chain of a contract in the real flow, wiring ``workflows.signing`` (the engine is not changed here).

* **One certified PDF per contract.** The first time the contract is needed for signing (the customer opens the
  signing page, asks for a code or signs; a staff member signs) the rendered contract PDF is certified by
  ``SigningService.prepare`` with every signature field: ``customer``, ``letter-1..n``, ``provider`` and
  ``provider-signatory``. Rendering (~1 s) and certifying run outside any write transaction.
* **The single source of the current signed PDF** is ``signed_document``: every PDF of the chain is stored there
  (``record_document`` + its bytes); the newest row of a contract that is not the package is the current one.
  Each signer signs into the current PDF; storing checks that it is still the current one (else 409).
* **Intent**: a one-time code (``IntentService``) to the signer's verified email through the outbox; confirmed at
  the moment of signing, before any key is made; the evidence is kept on the ``signature`` row.
* **Activation**: after the commit that activates the contract, ``SigningService.finalize`` document-timestamps the
  signed contract and builds the package with the completion certificate; both are stored and recorded.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re

from flask import current_app
from sqlmodel import select

from workflows.errors import Conflict, ValidationFailed
from workflows.models import Contract, OutboxMail, Signature, SignedDocument
from workflows.signing import pdf as pades
from workflows.signing.intent import IntentService
from workflows.signing.service import ROLE_LABELS, sha256

log = logging.getLogger(__name__)
INTENT_KIND = "intent_code"
SIGNATORY_FIELD = "provider-signatory"
SIGNATORY_BOX = (315, 20, 535, 76)  # under the provider's seal on the last page
CODE = re.compile(r"\b(\d{6})\b")
_intent = IntentService()


def platform():
    return current_app.extensions["qianyue"]


def service():
    from .verify import signing_service
    return signing_service(current_app._get_current_object())


def pades_enabled(config=None) -> bool:
    config = config if config is not None else current_app.config
    return bool(config.get("SIGNING_PADES", config.get("CUSTOMER_PADES", True)))


# --- intent codes -----------------------------------------------------------------------------------------------------
def staff_signer(user) -> dict:
    return {"key": f"staff:{user.username}", "email": user.email, "name": user.display_name or user.username,
            "identity": f"staff:{user.username}"}


def customer_signer(identity) -> dict:
    return {"key": f"{identity.issuer}|{identity.subject}", "email": identity.email if identity.email_verified else "",
            "name": identity.name or identity.email, "identity": f"{identity.issuer}|{identity.subject}"}


def issue_code(contract_id: int, signer: dict) -> dict:
    """Send a code to the signer (outbox, same transaction); in development without MAIL_SERVER also log it."""
    services = platform()
    log_code = current_app.config.get("APP_ENV") != "production" and not current_app.config.get("MAIL_SERVER")
    with services.db.write() as session:
        contract = session.get(Contract, contract_id)
        if contract is None:
            from workflows.errors import NotFound
            raise NotFound("no such contract")

        def send(to, subject, body):
            services.notifications.enqueue(session, INTENT_KIND, to, subject, body, contract_id)
            if log_code:
                log.info("development: signing confirmation code for contract %s (%s): %s", contract_id,
                         signer["key"], CODE.search(body).group(1))

        try:
            row = _intent.issue(session, contract_id, signer["key"], "email", send, signer["email"],
                                f"（合同 {contract.number}）")
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, {"intent_code": next(iter(exc.fields.values()), "")}) from None
        return {"channel": row.channel, "destination": row.destination, "expires_at": row.expires_at.isoformat()}


def confirm_code(contract_id: int, signer: dict, code) -> dict:
    """The intent evidence, or 422 on ``intent_code`` (missing, wrong, expired); 409 after 5 wrong attempts."""
    if not isinstance(code, str) or not code.strip():
        raise ValidationFailed("a confirmation code is required to sign; request one first",
                               {"intent_code": "required"})
    try:
        return _intent.confirm(platform().db, contract_id, signer["key"], code.strip())
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, {"intent_code": next(iter(exc.fields.values()), "wrong code")}) from None


def last_code(session, contract_id: int) -> str | None:
    """Development only (the CLI refuses under production): the newest code mailed for a contract, from the outbox."""
    row = session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id, OutboxMail.kind == INTENT_KIND)
                       .order_by(OutboxMail.id.desc()).limit(1)).first()
    match = CODE.search(row.body) if row else None
    return match.group(1) if match else None


# --- the current signed PDF -------------------------------------------------------------------------------------------
def current(session, contract_id: int) -> SignedDocument | None:
    return session.exec(select(SignedDocument).where(
        SignedDocument.contract_id == contract_id, SignedDocument.pdf.is_not(None), SignedDocument.kind != "package")
        .order_by(SignedDocument.id.desc()).limit(1)).first()


def verify_current(session, contract_id: int) -> str | None:
    """The activation gate's PAdES check (LetterService.verifier): None when the contract's current signed PDF
    verifies (or nothing is PAdES-signed yet), else what is wrong."""
    row = current(session, contract_id)
    if row is None:
        return None
    report = service().verify(row.pdf)
    if report.valid:
        return None
    return "the signed PDF does not verify: " + "; ".join(report.problems[:3] or ["a signature is not valid"])


def package_row(session, contract_id: int) -> SignedDocument | None:
    return session.exec(select(SignedDocument).where(
        SignedDocument.contract_id == contract_id, SignedDocument.kind == "package", SignedDocument.pdf.is_not(None))
        .order_by(SignedDocument.id.desc()).limit(1)).first()


def store(session, contract_id: int, kind: str, base_sha256: str | None, pdf: bytes) -> str:
    """Make ``pdf`` the current PDF, if the current one is still ``base_sha256`` (None: there must be none yet)."""
    row = current(session, contract_id)
    if (row.sha256 if row else None) != base_sha256:
        raise Conflict("the signed document changed at the same moment (another signature); try again")
    digest = service().record_document(session, contract_id, kind, pdf)
    latest = session.exec(select(SignedDocument).where(SignedDocument.contract_id == contract_id)
                          .order_by(SignedDocument.id.desc()).limit(1)).first()
    latest.pdf = pdf
    session.add(latest)
    return digest


def ensure_certified(contract_id: int) -> tuple[bytes, str]:
    """(current PDF, its SHA-256): certified once per contract, with every signature field."""
    from .views.customer import document_for, document_pdf

    services = platform()
    with services.db.read() as session:
        row = current(session, contract_id)
        if row is not None:
            return row.pdf, row.sha256
        contract = services.contracts.get(session, contract_id)
        document = document_for(session, contract)
    rendered, _digest = document_pdf(document)
    signing = service()
    specs = signing.layout(rendered, [letter["title"] for letter in document["letters"]])
    specs.append(pades.FieldSpec(SIGNATORY_FIELD, specs[0].page, SIGNATORY_BOX))
    certified = pades.certify(rendered, specs, signing.pki, timestamper=signing.timestamper)
    try:
        with services.db.write() as session:
            store(session, contract_id, f"certified:v{contract.current_version}", None, certified)
    except Conflict:  # another request certified it first: theirs is the one
        with services.db.read() as session:
            row = current(session, contract_id)
            return row.pdf, row.sha256
    return certified, sha256(certified)


def sign_into(pdf: bytes, field: str, identity: dict, stamp_png, evidence: dict):
    """Outside any transaction: one PAdES signature into ``field`` (SigningService.sign_as)."""
    return service().sign_as(pdf, field, identity, stamp_png, evidence)


def letter_field(session, contract, code: str) -> str | None:
    """The certified field of a letter: ``letter-<position in the certified layout>``."""
    document = platform().contracts.document(session, contract)
    codes = [letter.get("code") for letter in platform().contracts.letters(session, contract, document["data"])]
    return f"letter-{codes.index(code) + 1}" if code in codes else None


def sign_letter_pdf(contract, code, signer, document_sha256, consent, intent_code, method, typed_name, image, ip,
                    user_agent) -> dict:
    """Before the letter's write transaction: when the request would be accepted (filled, the hash the signer saw,
    consent), confirm the intent code and sign the letter's field of the contract's certified PDF.
    Otherwise nothing: ``LetterService.sign`` then refuses with its own 409 / 422 without spending a code."""
    services = platform()
    nothing = {"pdf": None, "base": None, "record": None, "intent": None}
    with services.db.read() as session:
        letter = services.letters.get(session, contract.id, code)
        if letter.status != "filled" or not isinstance(document_sha256, str) or document_sha256 != letter.document_sha256 \
                or not consent or method not in ("drawn", "typed", "seal") or (method == "typed" and not (typed_name or "").strip()):
            return nothing
        field = letter_field(session, contract, code)
    intent = confirm_code(contract.id, signer, intent_code)
    if not pades_enabled() or field is None:
        return {**nothing, "intent": intent}
    pdf, base = ensure_certified(contract.id)
    identity = {"name": signer["name"], "subject_id": signer["identity"], "organisation": contract.customer_name,
                "email": signer["email"], "role": "letter", "method": method, "caption": letter.title}
    signed, record = sign_into(pdf, field, identity, image if method != "typed" else None,
                               {"intent": intent, "ip": ip, "user_agent": user_agent})
    return {"pdf": signed, "base": base, "record": record, "intent": intent}


def signature_evidence(row: Signature, record: dict | None, intent: dict | None, pdf_after: bytes | None):
    row.intent_json = json.dumps(intent, ensure_ascii=False) if intent else None
    if record:
        row.certificate_serial = record["certificate_serial"]
    if pdf_after is not None:
        row.pades_sha256 = sha256(pdf_after)


# --- staff and API users: a task that needs a signature -------------------------------------------------------------
def complete_task(task_id, user, decision, comment="", intent_code=None, ip="", user_agent=""):
    """Complete a task; when the diagram declares a ``signature`` on it and the decision is ``sign``, confirm the
    intent code, sign the current PDF (provider: the signatory, then the organisation's seal) and record it all in
    the decision's transaction. Returns the completed task (and finalizes the package after an activation)."""
    services = platform()
    kind = ""
    if decision == "sign":  # only a sign decision can need a signature: other decisions keep their statements
        with services.db.read() as session:
            task = services.tasks.get(session, task_id)
            kind = services.tasks.form(session, task)["signature"] if task.state == "open" else ""
    if not kind:
        with services.db.write() as session:
            return services.tasks.complete(session, task_id, user, decision, comment)
    with services.db.read() as session:  # the checks that refuse before a code is spent (role, state, guards)
        task = services.tasks._open_task_for(session, task_id, user)
        for guard in services.tasks.guards:
            guard(session, task, decision)
        contract = services.contracts.get(session, task.contract_id)
        data = services.contracts.version_data(session, contract.id, contract.current_version)
    signer = staff_signer(user)
    intent = confirm_code(contract.id, signer, intent_code)
    evidence = {"intent": intent, "ip": ip, "user_agent": user_agent}
    pdf = base = record = seal_record = None
    if pades_enabled():
        pdf, base = ensure_certified(contract.id)
        if kind == "provider":
            provider = data["provider"]
            person = {"name": signer["name"], "subject_id": signer["identity"], "organisation": provider["name"],
                      "credit_code": provider.get("credit_code", ""), "email": user.email, "role": "provider",
                      "method": "typed"}
            pdf, record = sign_into(pdf, SIGNATORY_FIELD, person, None, evidence)
            from workflows.signing import seals
            seal = {"name": provider["name"], "organisation": provider["name"], "credit_code": provider.get("credit_code", ""),
                    "role": "provider", "method": "seal", "seal": True, "caption": "合同专用章"}
            pdf, seal_record = sign_into(pdf, "provider", seal, seals.round_seal_png(provider["name"]), evidence)
        else:
            person = {"name": signer["name"], "subject_id": signer["identity"], "organisation": contract.customer_name,
                      "email": user.email, "role": "customer", "method": "typed"}
            pdf, record = sign_into(pdf, "customer", person, None, evidence)
    with services.db.write() as session:
        if pdf is not None:
            store(session, contract.id, f"signed:{kind}", base, pdf)
        done = services.tasks.complete(session, task_id, user, decision, comment)
        row = Signature(contract_id=contract.id, contract_version=contract.current_version, task_id=done.id, role=kind,
                        issuer="qianyue:staff", subject=user.username, name=signer["name"], email=user.email,
                        document_sha256=base or "", method="typed", consent_text="", ip=(ip or "")[:64],
                        user_agent=(user_agent or "")[:300])
        signature_evidence(row, record, intent, pdf)
        session.add(row)
        if kind == "provider":  # the organisation's seal, applied by the same signatory in the same act
            seal_row = Signature(contract_id=contract.id, contract_version=contract.current_version, task_id=done.id,
                                 role="provider", issuer="seal", subject=data["provider"].get("credit_code", ""),
                                 name=data["provider"]["name"][:200], email=user.email, document_sha256=base or "",
                                 method="seal", consent_text="", ip=(ip or "")[:64], user_agent=(user_agent or "")[:300])
            signature_evidence(seal_row, seal_record, intent, pdf)
            session.add(seal_row)
        status = session.get(Contract, contract.id).status
    if status == "active":
        finalize(contract.id)
    return done


# --- activation: the document timestamp and the package ------------------------------------------------------------
def certificate_data(session, contract) -> dict:
    services = platform()
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    letters = {row.signature_id: row for row in services.letters.attached(session, contract.id)}
    first = session.exec(select(SignedDocument).where(SignedDocument.contract_id == contract.id)
                         .order_by(SignedDocument.id).limit(1)).first()
    signers = []
    for s in session.exec(select(Signature).where(Signature.contract_id == contract.id).order_by(Signature.id)):
        letter = letters.get(s.id)
        organisation = data["provider"] if s.role == "provider" else data["customer"]
        signers.append({
            "role_label": f"甲方（{letter.title}）" if letter else {"customer": "甲方", "provider": "乙方（合同专用章）" if s.method == "seal" else "乙方（授权代表）"}.get(
                s.role, ROLE_LABELS.get(s.role, s.role)),
            "name": s.name, "identity": f"{s.issuer} {s.subject}".strip() + (f" <{s.email}>" if s.email else ""),
            "organisation": organisation["name"], "credit_code": organisation.get("credit_code", ""),
            "method": s.method, "intent": json.loads(s.intent_json) if s.intent_json else None,
            "signed_at": s.signed_at.isoformat(), "ip": s.ip, "user_agent": s.user_agent,
            "certificate_serial": s.certificate_serial or "-",
            "field": f"letter {letter.code}: {s.document_sha256}" if letter else s.role})
    events = services.history.for_contract(session, contract.id)
    return {"contract": {"number": contract.number, "title": contract.title, "customer": data["customer"]["name"],
                         "provider": data["provider"]["name"]},
            "sha256_before": first.sha256 if first else "", "audit_head": contract.audit_head,
            "audit_events": len(events), "signers": signers}


def finalize(contract_id: int) -> bytes | None:
    """SigningService.finalize on the current PDF; stores the timestamped contract and the package (once)."""
    if not pades_enabled():
        return None
    services = platform()
    with services.db.read() as session:
        existing = package_row(session, contract_id)
        if existing is not None:
            return existing.pdf
        contract = services.contracts.get(session, contract_id)
        row = current(session, contract_id)
        if contract.status != "active" or row is None:
            return None
        base, signed = row.sha256, row.pdf
        data = certificate_data(session, contract)
    package = service().finalize(signed, data)
    from pyhanko.pdf_utils.reader import PdfFileReader

    from workflows.signing.verify import PACKAGE_ATTACHMENT, _embedded_files
    embedded = _embedded_files(PdfFileReader(io.BytesIO(package), strict=False)).get(PACKAGE_ATTACHMENT)
    try:
        with services.db.write() as session:
            if package_row(session, contract_id) is not None:
                return package_row(session, contract_id).pdf
            if embedded:
                store(session, contract_id, "timestamped", base, embedded[0])
            service().record_document(session, contract_id, "package", package)
            latest = session.exec(select(SignedDocument).where(SignedDocument.contract_id == contract_id)
                                  .order_by(SignedDocument.id.desc()).limit(1)).first()
            latest.pdf = package
            session.add(latest)
            services.history.record(session, "package_created", "system", contract_id=contract_id,
                                    details={"package_sha256": sha256(package),
                                             "contract_sha256": sha256(embedded[0]) if embedded else ""})
    except Conflict:
        log.warning("package of contract %s: the signed document changed while it was built", contract_id)
        return None
    return package


def package_pdf(session_factory, contract) -> bytes | None:
    """The finalized package on record (built now when the activation did not get to it)."""
    with session_factory() as session:
        row = package_row(session, contract.id)
        if row is not None:
            return row.pdf
    return finalize(contract.id)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
