"""Signing, as use cases: every door (the API, the pages, the CLI, the worker) calls these the same way.

- ``prepare`` (a job): once the reviewers approved and the customer filled the letters, the contract's one document
  (contract + letters) is rendered and certified with a signature field where the paper has each signing line; it
  must still be the rendering the reviewers approved.
- ``request_intent``: a one-time code to the signer's verified address; one code covers one signing act.
- ``sign_as_customer``: the customer's whole act: the contract and every letter, one PAdES signature in each field,
  the evidence, and the customer's task, in one transaction.
- ``countersign``: the provider's signatory signs, then the organisation's 合同专用章 is applied; the process activates
  the contract and the package is built by a job (``finalize``).
- ``verify``: a PDF's signatures against this deployment's root, and whether it is on record.

Each act signs outside any transaction (tens of milliseconds a field) and then, in one write transaction, spends the
code, moves the contract's current document from the one it signed into (``DocumentService.advance``: a concurrent
signer gets a 409, nothing is lost), writes one ``signature`` row per field and completes the task.
"""
import base64
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from sqlmodel import select

from ..actors import API_ISSUER, SEAL_ISSUER, STAFF_ISSUER, is_customer
from ..clock import china_time, utcnow
from ..db import Statement
from ..documents import (CUSTOMER_PLACE, PROVIDER_PLACE, SIGNATORY_PLACE, chinese_numeral, letter_place,
                         render_contract_html, render_contract_pdf, render_document_pdf)
from ..documents.pages import page_images
from ..errors import Conflict, Forbidden, ValidationFailed
from ..fingerprints import sha256_hex
from ..models import Contract, ContractAmendment, ContractLetter, OutboxMail, Signature
from ..models.jobs import DEAD, QUEUED, RUNNING
from ..signing import seals
from ..signing.certificate import METHOD_LABELS
from ..signing.intent import IntentService
from ..visible_text import hidden_characters_error

log = logging.getLogger(__name__)
INTENT_KIND = "intent_code"
CODE = re.compile(r"\b(\d{6})\b")
METHODS = ("drawn", "typed", "seal")
CONSENT_TEXT = ("本人确认已完整阅读上述合同及全部附件，同意以电子签名方式签署，电子签名与手写签名或盖章具有同等法律效力"
                "（《中华人民共和国电子签名法》第十四条）。\n"
                "I have read the whole contract and every attachment above, and I agree to sign it electronically; "
                "my electronic signature has the same legal effect as a handwritten signature or seal.")
PREPARE, FINALIZE = "document.prepare", "package.finalize"
SUPPLEMENT_SIGNATURE = "supplement:"  # a task property ``signature`` naming a 补充协议's signer: supplement:<party>
MAX_PREPARE_ROUNDS = 5
VERDICTS_KEPT = 256
PRIVATE_EVIDENCE = ("email", "issuer", "subject", "ip", "user_agent")  # of one party, not shown to the other
SIGNATURES_OF_CONTRACT = Statement(  # the contract's own: its 补充协议's are apart (``amendment_id``)
    f"SELECT {', '.join(c.name for c in Signature.__table__.c)} FROM signature WHERE contract_id = :id "
    "AND amendment_id IS NULL ORDER BY id", columns=Signature.__table__.c)
# Our own accounts, named as the certificate's reader knows them (their holder is named beside; the username is not
# evidence anyone outside can check). A person signed in at an identity provider is shown by issuer and subject.
CERTIFIED_ACCOUNTS = {STAFF_ISSUER: "乙方员工账号", API_ISSUER: "系统对接账号"}

@dataclass(frozen=True)
class Subject:
    """What one signing act signs: the contract's document, or one of its 补充协议 (``amendment``, its row). The same
    code, fields and evidence sign both; a code is for one subject alone."""

    contract: object
    amendment: object = None

    def intent_key(self, signer_key):
        return signer_key if self.amendment is None else f"{signer_key}#amendment:{self.amendment.number}"

    @property
    def label(self):
        which = f" 补充协议{self.amendment.number}" if self.amendment is not None else ""
        return f"（合同 {self.contract.number}{which}）"


@dataclass(frozen=True)
class SignatureInput:
    """What a signer sends: the SHA-256 of the document they read, consent, how they sign, and the one-time code."""

    document_sha256: object = None
    consent: bool = False
    method: object = None  # drawn | typed | seal
    typed_name: object = ""
    image_png: bytes | None = None  # the drawn signature, or the uploaded seal
    intent_code: object = None


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the evidence."""

    ip: str = ""
    user_agent: str = ""


class SigningService:
    def __init__(self, db, access, contracts, letters, documents, tasks, history, jobs, notifications, toolkit,
                 base_url, log_codes=False):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.letters = letters
        self.documents = documents
        self.tasks = tasks
        self.history = history
        self.jobs = jobs
        self.notifications = notifications
        self.toolkit = toolkit  # callable returning the SigningToolkit (the PKI is opened on first use)
        self.base_url = base_url
        self.log_codes = log_codes  # development without a mail server: the code is also logged
        self.intent = IntentService()
        self._verdicts, self._verdicts_lock = OrderedDict(), Lock()  # a signed PDF's SHA-256 -> its problem, or None
        self.supplements = None  # SupplementService, set by the platform: the acts of a 补充协议's tasks

    # --- the document to sign -----------------------------------------------------------------------------------------
    def request_prepare(self, session, contract_id):
        """Queue the rendering and certification of the contract's document (after the letters changed)."""
        self.jobs.enqueue(session, PREPARE, {"contract_id": contract_id}, contract_id=contract_id,
                          dedupe_key=f"{PREPARE}:{contract_id}")

    def prepare_when_customer_task_opens(self, session, step):
        """Step listener: the customer is asked to sign: prepare the document (its letters may need no values)."""
        if step.of_contract and any(task["role"] == "customer" for task in step.new_tasks):
            self.request_prepare(session, step.contract_id)

    def prepare(self, job):
        """Job: render the document with the customer's letter values and certify it with every signature field;
        then, in the next round, draw its pages as images to read on a phone. While the job runs the signing page
        says the document is being prepared, so it is ready with its pages.

        While the customer's letters are not complete yet, it draws the pages of a reading copy instead (the letters'
        blanks as they stand). Idempotent: nothing happens when the current document already renders from the same
        values and has its pages, or once anyone signed. Values that change while the job runs are taken up in
        another round."""
        contract_id = job.payload["contract_id"]
        for _round in range(MAX_PREPARE_ROUNDS):
            with self.db.read() as session:
                contract = session.get(Contract, contract_id)
                if contract is None or contract.status != "awaiting_customer":
                    return
                current = self.documents.current(session, contract)
                if current is not None and current.kind != "certified":
                    return  # signing began: the document is fixed
                document = self.documents.document(session, contract)
                source = sha256_hex(render_contract_html(document))
                drawn = self.documents.has_pages(session, contract_id, source)
                unfilled = bool(self._unfilled(session, contract))
                approved = None if unfilled else self.documents.fresh_review_digest(session, contract)
                as_approved = approved == contract.approved_sha256
                prepared = current is not None and current.source_sha256 == source
                replaces, prepared_pdf = contract.document_id, current.pdf if prepared and not drawn else None
            if unfilled:
                if not drawn:
                    self._keep_pages(contract_id, source, render_contract_pdf(document))
                return
            if not as_approved:
                self._refuse_to_certify(contract_id, approved)
            if prepared:
                if prepared_pdf is not None:  # just certified (the round before), or by a release that drew none
                    self._keep_pages(contract_id, source, prepared_pdf)
                return
            pdf, places = render_document_pdf(document)
            certified = self.verified(self.toolkit().certify(pdf, places))
            with self.db.write() as session:
                contract = session.get(Contract, contract_id, with_for_update=True)
                if contract.document_id != replaces:
                    continue  # someone else moved it meanwhile: look again
                row = self.documents.advance(session, contract, "certified", certified, replaces=replaces,
                                             approved_sha256=approved, source_sha256=source, verified=True,
                                             places_json=json.dumps([place_as_dict(p) for p in places]))
                self.history.record(session, "document_prepared", "system", contract_id=contract.id,
                                    details={"document_sha256": row.sha256, "approved_sha256": approved,
                                             "fields": [p.field_name for p in places]})
        raise Conflict(f"contract {contract_id}: the letters kept changing while the document was prepared")

    def _keep_pages(self, contract_id, source, pdf):
        """Draw the pages of ``pdf``, the rendering ``source`` of the contract's document, and keep them."""
        pages = page_images(pdf)
        with self.db.write() as session:
            self.documents.keep_pages(session, contract_id, source, pages)

    def _refuse_to_certify(self, contract_id, rendered):
        """The document no longer renders as approved (a template or the rendering code changed under the contract):
        say so in the history and to whoever drafted it, and fail the job for good (another try renders the same)."""
        with self.db.write() as session:
            contract = session.get(Contract, contract_id)
            self.history.record(session, "document_not_approved", "system", contract_id=contract.id,
                                details={"approved_sha256": contract.approved_sha256, "rendered_sha256": rendered})
            self.notifications.tell_drafter(
                session, contract.id, "document_not_approved", f"[签约] 待签文件与审核通过的文本不一致：{contract.number}",
                f"合同《{contract.title}》（{contract.number}）现在生成的待签文件与法务、财务审核通过的文本不一致"
                "（合同模板或系统的排版在审核后有变化），因此没有生成待签文件，客户暂时无法签署。\n"
                "请联系管理员：恢复原模板后重试该任务，或让客户拒签后重新起草。\n")
            number, approved = contract.number, contract.approved_sha256
        raise DocumentNotApproved(
            f"contract {number}: the document to sign does not render as the reviewers approved it "
            f"(approved {approved[:12] or 'nothing'}, now {rendered[:12]}); it is not certified")

    def document_state(self, session, contract):
        """Where the contract's document stands, for every door: while the customer is asked, the signing state;
        later the current PDF of the signing chain; once active, the package too."""
        if contract.status == "awaiting_customer":
            state = self.signing_state(session, contract)
        else:
            current = self.documents.current(session, contract)
            state = {"status": current.kind if current else "not_prepared",
                     "document_sha256": current.sha256 if current else None}
        if contract.status == "active":
            package = self.documents.package(session, contract.id)
            state["package"] = {"status": "ready" if package else "preparing", "sha256": package.sha256 if package else None}
        return state

    def signing_state(self, session, contract):
        """For the signing page and ``GET .../signing``: the document the signer reads and what is still to do; only
        while the contract waits for the customer's signature."""
        if contract.status != "awaiting_customer":
            raise Conflict(f"the contract is not waiting for the customer's signature (it is {contract.status})")
        current = self.documents.current_facts(session, contract)
        unfilled = self._unfilled(session, contract)
        job = self.jobs.latest(session, PREPARE, contract.id)
        pending = job is not None and job.status in (QUEUED, RUNNING)
        ready = (current is not None and not unfilled and not pending
                 and current.source_sha256 == self.documents.html_digest(session, contract))
        failed = not ready and not unfilled and job is not None and job.status == DEAD
        status = "ready" if ready else "letters" if unfilled else "failed" if failed else "preparing"
        return {"status": status, "document_sha256": current.sha256 if current is not None and ready else None,
                "kind": current.kind if current is not None else None, "unfilled_letters": unfilled,
                "problem": job.last_error.strip().splitlines()[-1] if failed and job.last_error.strip() else None}

    def _unfilled(self, session, contract):
        """The codes of the attached letters still waiting for values (and mandated ones not attached yet)."""
        rows = {row.code: row for row in self.letters.attached(session, contract.id)}
        pinned = [pin["code"] for pin in self.letters.pinned(session, contract)]
        return [code for code in pinned if code not in rows or rows[code].status == "attached"]

    def fill_letter(self, actor, contract_id, code, values):
        """The customer fills a letter's fields; the document is prepared again with them."""
        with self.db.write() as session:
            contract = self._customer_contract(session, actor, contract_id)
            current = self.documents.current_facts(session, contract)
            if current is not None and current.kind != "certified":
                raise Conflict("the contract is signed; its letters can no longer change")
            letter = self.letters.store_values(session, contract, code, values, actor)
            self.request_prepare(session, contract.id)
            return letter

    # --- intent -------------------------------------------------------------------------------------------------------
    def request_intent(self, actor, contract_id):
        """A one-time code for the signing act the actor has to do on this contract (theirs alone)."""
        with self.db.write() as session:
            if is_customer(actor):
                contract = self._customer_contract(session, actor, contract_id)
                self._task_to_sign(session, actor, contract, "customer")
                if self.signing_state(session, contract)["status"] != "ready":
                    raise Conflict("the document to sign is being prepared; request a code once it is ready")
                destination = actor.email if actor.email_verified else ""
            else:
                contract = self.access.contract(session, actor, contract_id)
                self._task_to_sign(session, actor, contract, "provider")
                destination = actor.email
            return self.send_intent(session, actor, Subject(contract), destination)

    def send_intent(self, session, actor, subject: Subject, destination):
        """Issue the one-time code of ``actor``'s signing act on ``subject`` (the caller checked they may sign it)."""
        contract = subject.contract

        def send(to, title, body):
            self.notifications.enqueue(session, INTENT_KIND, to, title, body, contract.id)
            if self.log_codes:
                log.info("development: signing confirmation code for contract %s (%s): %s", contract.id,
                         self._signer_key(actor), CODE.search(body).group(1))

        try:
            row = self.intent.issue(session, contract.id, subject.intent_key(self._signer_key(actor)), "email", send,
                                    destination, subject.label)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, {"intent_code": next(iter(exc.fields.values()), "")}) from None
        return {"channel": row.channel, "destination": row.destination, "expires_at": row.expires_at.isoformat()}

    def check_intent(self, actor, subject: Subject, code):
        """The code's evidence if it is ``actor``'s pending code for ``subject`` (spent by ``intent.consume``)."""
        return self.intent.check(self.db, subject.contract.id, subject.intent_key(self._signer_key(actor)), code)

    def request_task_intent(self, actor, task_id):
        """A one-time code for the signing act a task asks of the actor: the contract's, or a 补充协议's."""
        with self.db.read() as session:
            task = self.access.task(session, actor, task_id)
            kind = self.tasks.form(session, task)["signature"] if task.state == "open" else ""
        if kind.startswith(SUPPLEMENT_SIGNATURE):
            return self.supplements.request_task_intent(actor, task)
        return self.request_intent(actor, task.contract_id)

    def pending_code(self, session, actor, contract, amendment=None):
        """Where the code the actor may type to sign ``contract`` (or its 补充协议 ``amendment``) was sent (masked) and
        until when; None before one was sent, and once it is used, expired or blocked."""
        row = self.intent.pending(session, contract.id, Subject(contract, amendment).intent_key(self._signer_key(actor)))
        return {"channel": row.channel, "destination": row.destination, "expires_at": row.expires_at.isoformat()} \
            if row is not None else None

    def last_code(self, session, contract_id):
        """Development only (the CLI refuses under production): the newest code mailed for a contract."""
        row = session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id, OutboxMail.kind == INTENT_KIND)
                           .order_by(OutboxMail.id.desc()).limit(1)).first()
        match = CODE.search(row.body) if row else None
        return match.group(1) if match else None

    @staticmethod
    def _signer_key(actor):
        return actor.signer_key if is_customer(actor) else f"staff:{actor.username}"

    # --- the customer's act -------------------------------------------------------------------------------------------
    def sign_as_customer(self, actor, contract_id, given: SignatureInput, origin: Origin):
        """The customer signs the contract and every letter with one code: one PAdES signature in each field."""
        with self.db.read() as session:
            contract = self._customer_contract(session, actor, contract_id)
            task = self._task_to_sign(session, actor, contract, "customer")
            current = self._document_to_sign(session, contract, given.document_sha256)
            typed_name = check_signature_input(given.consent, given.method, given.typed_name, given.image_png)
            letters = self.letters.attached(session, contract.id)
            places = places_of(current)
        intent = self.check_intent(actor, Subject(contract), given.intent_code)
        when = utcnow()
        name = actor.name or typed_name or actor.email
        pdf, fields = self.sign_as_customer_into(
            current.pdf, places, contract, actor, given, typed_name, when,
            [*((letter_place(l.code), l, f"甲方签署《{l.title}》") for l in letters), (CUSTOMER_PLACE, None, "甲方签署合同")])
        with self.db.write() as session:
            self.intent.consume(session, intent)
            contract = session.get(Contract, contract.id)
            row = self.documents.advance(session, contract, "signed:customer", pdf, replaces=current.id,
                                         parent_id=current.id, verified=True)
            evidence = customer_evidence(actor, given, typed_name, name, intent, when, current.sha256, row.sha256)
            for field, letter, signer in fields:
                signature = self.record_signature(session, Subject(contract), task.id, "letter" if letter else "customer",
                                                  field, {**evidence, "signer": signer}, origin,
                                                  letter.code if letter else None)
                if letter is not None:
                    letter = session.get(ContractLetter, letter.id)
                    letter.signature_id, letter.status, letter.signed_at = signature.id, "signed", when
                    session.add(letter)
            self.tasks.complete(session, task.id, actor, "sign", data=self.contracts.process_variables(session, contract))
            self.history.record(session, "customer_signed", actor.username, contract_id=contract.id, task_id=task.id,
                                task_name=task.name, details={
                                    "name": name, "email": actor.email, "issuer": actor.issuer, "subject": actor.subject,
                                    "method": given.method, "fields": [f for f, _, _ in fields],
                                    "document_sha256": current.sha256, "signed_sha256": row.sha256, "ip": origin.ip})
            self.history.request_anchor(session, contract.id)
        return {"document_sha256": row.sha256, "fields": [f for f, _, _ in fields]}

    # --- the provider's act -------------------------------------------------------------------------------------------
    def countersign(self, actor, task_id, document_sha256, intent_code, origin: Origin):
        """The provider's signatory signs and applies the organisation's seal; the process then activates the contract
        (or refuses, with what is missing, before any code is spent)."""
        with self.db.read() as session:
            task = self.access.task_to_act_on(session, actor, task_id)
            if self.tasks.form(session, task)["signature"] != "provider":
                raise Conflict("this task is not the provider's countersignature")
            task = self.tasks.check(session, task_id, actor, "sign")
            contract = self.contracts.get(session, task.contract_id)
            current = self.documents.current(session, contract)
            if current is None or current.kind != "signed:customer":
                raise Conflict("the customer has not signed the document yet")
            if not isinstance(document_sha256, str) or document_sha256 != current.sha256:
                raise Conflict("the document changed since you opened it; reload the page and read the current version",
                               {"document_sha256": "not the current document"})
            provider = self.contracts.version_data(session, contract.id, contract.current_version)["provider"]
            places = places_of(current)
        intent = self.check_intent(actor, Subject(contract), intent_code)
        when = utcnow()
        pdf, person, seal_signer = self.sign_as_provider_into(current.pdf, places, provider, actor, when, "合同")
        with self.db.write() as session:
            self.intent.consume(session, intent)
            contract = session.get(Contract, contract.id)
            row = self.documents.advance(session, contract, "signed:provider", pdf, replaces=current.id,
                                         parent_id=current.id, verified=True)
            self.record_provider(session, Subject(contract), task.id, actor, provider, person, seal_signer, intent, when,
                                 current.sha256, row.sha256, origin)
            done = self.tasks.complete(session, task.id, actor, "sign",
                                       data=self.contracts.process_variables(session, contract))
            self.history.request_anchor(session, contract.id)
        return done

    # --- the acts' parts, for any subject ----------------------------------------------------------------------------
    def sign_as_customer_into(self, pdf, places, contract, actor, given, typed_name, when, fields):
        """The customer's PAdES signature in each of ``fields`` ((field, its letter or None, reason)), a key and
        certificate of its own for each (each key signs once); the verified PDF and (field, letter, signer)."""
        name = actor.name or typed_name or actor.email
        mark, seal = _marks(given.method, given.image_png, typed_name or name)
        toolkit = self.toolkit()
        signed = []
        for field, letter, reason in fields:
            signer = toolkit.person(name, actor.signer_key, contract.customer_name, contract.customer_credit_code,
                                    actor.email)
            pdf = toolkit.sign(pdf, field, signer, stamp(places[field], when, seal, mark), name, reason)
            signed.append((field, letter, signer))
        return self.verified(pdf), signed

    def sign_as_provider_into(self, pdf, places, provider, actor, when, what):
        """The provider's signatory signs ``what`` (合同, 补充协议) and the 合同专用章 is applied; the verified PDF and
        the two signers."""
        name = actor.display_name or actor.username
        toolkit = self.toolkit()
        person = toolkit.person(name, f"staff:{actor.username}", provider["name"], provider.get("credit_code", ""),
                                actor.email)
        pdf = toolkit.sign(pdf, SIGNATORY_PLACE, person,
                           stamp(places[SIGNATORY_PLACE], when, mark=seals.signature_image_from_text(name)),
                           name, f"乙方授权代表签署{what}")
        seal_signer = toolkit.seal(provider["name"], provider.get("credit_code", ""))
        pdf = toolkit.sign(pdf, PROVIDER_PLACE, seal_signer,
                           stamp(places[PROVIDER_PLACE], when, seal=seals.round_seal_png(provider["name"])),
                           provider["name"], "乙方加盖合同专用章")
        return self.verified(pdf), person, seal_signer

    def record_provider(self, session, subject, task_id, actor, provider, person, seal_signer, intent, when,
                        shown_sha256, signed_sha256, origin):
        """The evidence of the provider's act: the signatory's field and the seal's."""
        evidence = {"identity_id": None, "issuer": STAFF_ISSUER, "subject": actor.username,
                    "name": actor.display_name or actor.username, "email": actor.email, "method": "account_name",
                    "typed_name": "", "image_png": None, "consent_text": "", "intent": intent, "signer": person,
                    "signed_at": when, "document_sha256": shown_sha256, "pades_sha256": signed_sha256}
        self.record_signature(session, subject, task_id, "provider", SIGNATORY_PLACE, evidence, origin)
        self.record_signature(session, subject, task_id, "provider", PROVIDER_PLACE,
                              {**evidence, "issuer": SEAL_ISSUER, "subject": provider.get("credit_code", ""),
                               "name": provider["name"][:200], "method": "organisation_seal", "signer": seal_signer},
                              origin)

    def sign_task(self, actor, task_id, given: SignatureInput, origin: Origin):
        """A ``sign`` decision on a task whose diagram declares a signature: the act the declaration names (a
        ``supplement:*`` one is a 补充协议's, signed by ``supplement_act``, which the platform sets)."""
        with self.db.read() as session:
            task = self.access.task_to_act_on(session, actor, task_id)
            kind = self.tasks.form(session, task)["signature"]
        if kind.startswith(SUPPLEMENT_SIGNATURE):
            return self.supplements.sign_task(actor, task, given, origin)
        if kind == "customer":
            self.sign_as_customer(actor, task.contract_id, given, origin)
        elif kind == "provider":
            self.countersign(actor, task_id, given.document_sha256, given.intent_code, origin)
        else:
            raise Conflict("this task needs no signature")
        with self.db.read() as session:
            return self.tasks.get(session, task_id)

    # --- activation: the package --------------------------------------------------------------------------------------
    def finalize_when_active(self, session, step):
        """Step listener: the process activated the contract: build its package (a job, after commit)."""
        if step.contract_id is not None and any(e.get("event") == "contract_activated" for e in step.events):
            self.jobs.enqueue(session, FINALIZE, {"contract_id": step.contract_id}, contract_id=step.contract_id,
                              dedupe_key=f"{FINALIZE}:{step.contract_id}")

    def finalize(self, job):
        """Job: document-timestamp the signed contract (with its letters) and build the certified package, once."""
        with self.db.read() as session:
            contract = session.get(Contract, job.payload["contract_id"])
            if contract is None or contract.status != "active" or self.documents.package(session, contract.id):
                return
            current = self.documents.get_current(session, contract)
            data = self.certificate_data(session, contract)
        timestamped, package = self.toolkit().finalize(current.pdf, data)
        self.verified(package)  # the package and the contract it embeds
        with self.db.write() as session:
            contract = session.get(Contract, contract.id, with_for_update=True)
            if self.documents.package(session, contract.id):
                return
            self.documents.advance(session, contract, "timestamped", timestamped, replaces=current.id,
                                   parent_id=current.id, verified=True)
            row = self.documents.add_package(session, contract, package)
            self.history.record(session, "package_created", "system", contract_id=contract.id,
                                details={"package_sha256": row.sha256, "contract_sha256": sha256_hex(timestamped)})
            self.history.request_anchor(session, contract.id)

    def certificate_data(self, session, contract):
        """What the completion certificate states: each field's signer, role and method, the hash each was shown."""
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        roles = self.field_roles(session, contract.id)
        signers = []
        for s in self.signatures(session, contract.id):
            organisation = data["provider"] if s.role == "provider" else data["customer"]
            signers.append({
                "role_label": roles[s.field], "field": s.field, "name": s.name,
                "identity": ("合同专用章" if s.method == "organisation_seal"
                             else CERTIFIED_ACCOUNTS.get(s.issuer) or f"{s.issuer} {s.subject}".strip())
                + (f" <{s.email}>" if s.email and s.method != "organisation_seal" else ""),
                "organisation": organisation["name"], "credit_code": organisation.get("credit_code", ""),
                "method": METHOD_LABELS.get(s.method, s.method) + (f"：{s.typed_name}" if s.typed_name else ""),
                "intent": json.loads(s.intent_json) if s.intent_json else None,
                "signed_at": china_time(s.signed_at), "ip": s.ip, "user_agent": s.user_agent,
                "certificate_serial": s.certificate_serial or "-", "document_sha256": s.document_sha256})
        chain = self.documents.chain(session, contract.id)
        events = self.history.for_contract(session, contract.id)
        changes = [{"at": china_time(e.at), "actor": e.actor, **json.loads(e.details)}
                   for e in events if e.event == "signer_contact_changed"]
        return {"contract": {"number": contract.number, "title": contract.title, "customer": data["customer"]["name"],
                             "provider": data["provider"]["name"]},
                "sha256_before": chain[0].sha256 if chain else "", "approved_sha256": contract.approved_sha256,
                "audit_head": contract.audit_head, "audit_events": len(events), "signers": signers,
                "signer_changes": changes, "verify_url": f"{self.base_url}/verify"}

    def signatures(self, session, contract_id):
        """The contract's signatures in order: rows with the table's columns (one never changes once written)."""
        session.flush()  # as the ORM's autoflush would: one added in this transaction is read too
        return SIGNATURES_OF_CONTRACT.rows(session, {"id": contract_id})

    def evidence(self, session, actor, contract_id):
        """The signatures' evidence as ``actor`` may read it (the image and PDF bytes are served apart): staff all of it;
        a customer its own, and of the other party who signed, when and how, not their address, account or network."""
        items = []
        for row in self.signatures(session, contract_id):
            item = {"id": row.id, "role": row.role, "field": row.field, "letter": row.letter_code, "name": row.name,
                    "email": row.email, "issuer": row.issuer, "subject": row.subject, "method": row.method,
                    "contract_version": row.contract_version, "document_sha256": row.document_sha256,
                    "image_sha256": row.image_sha256, "pades_sha256": row.pades_sha256,
                    "certificate_serial": row.certificate_serial, "ip": row.ip, "user_agent": row.user_agent,
                    "consent_text": row.consent_text, "signed_at": row.signed_at.isoformat()}
            if is_customer(actor) and row.identity_id != actor.identity_id:
                item.update({key: None for key in PRIVATE_EVIDENCE})
            items.append(item)
        return items

    # --- verification -------------------------------------------------------------------------------------------------
    def verify(self, pdf):
        """The report of every signature in ``pdf`` and the contracts on record with its (or its embedded) SHA-256."""
        report = self.toolkit().verify(pdf)
        with self.db.read() as session:
            records = {}
            for digest in (d for d in (report.document_sha256, report.embedded_sha256) if d):
                for row in self.documents.on_record(session, digest):
                    contract = session.get(Contract, row.contract_id)
                    if contract is None:
                        continue
                    if row.amendment_id is not None:  # a 补充协议 of the contract
                        amendment = session.get(ContractAmendment, row.amendment_id)
                        records[(contract.id, amendment.number)] = {
                            "number": contract.number, "title": contract.title, "kind": row.kind,
                            "amendment": amendment.number, "fields": self.field_roles(session, contract.id, amendment.id)}
                    else:
                        records[contract.id] = {"number": contract.number, "title": contract.title, "kind": row.kind,
                                                "amendment": None, "fields": self.field_roles(session, contract.id)}
        return report, list(records.values())

    def field_roles(self, session, contract_id, amendment_id=None):
        """Each signature field of a contract (or of its 补充协议 ``amendment_id``) by whose it is, as the completion
        certificate names it (甲方, 甲方（附件一《…》）, 乙方授权代表, 乙方（合同专用章）)."""
        if amendment_id is not None:
            return {s.field: _role_label(s, None) for s in session.exec(
                select(Signature).where(Signature.amendment_id == amendment_id).order_by(Signature.id))}
        letters = {row.code: row for row in self.letters.attached(session, contract_id)}
        return {s.field: _role_label(s, letters.get(s.letter_code) if s.letter_code else None)
                for s in self.signatures(session, contract_id)}

    def verified(self, pdf):
        """``pdf``, once it verifies: nothing that does not is ever stored (a signing act that produced one fails)."""
        report = self.toolkit().verify(pdf)
        if not report.valid:
            raise Conflict("the signed document does not verify; nothing was stored: "
                           + "; ".join(report.problems[:3] or ["a signature is not valid"]))
        return pdf

    def current_document_verifies(self, session, contract_id):
        """The activation gate's check of the signed PDF itself: None when it verifies (or nothing is signed yet).

        A PDF is verified when it is stored (``verified``); the gate checks that the bytes are still those (their
        SHA-256) and verifies anything else in full. The verdict on given bytes never changes (signatures are
        validated at their timestamps' time), so it is kept by the PDF's SHA-256."""
        contract = session.get(Contract, contract_id)
        row = self.documents.current(session, contract) if contract is not None else None
        if row is None:
            return None
        digest = sha256_hex(row.pdf)
        if row.verified and digest == row.sha256:
            return None
        if digest not in self._verdicts:
            report = self.toolkit().verify(row.pdf)
            problem = None if report.valid else (
                "the signed PDF does not verify: " + "; ".join(report.problems[:3] or ["a signature is not valid"]))
            with self._verdicts_lock:
                self._verdicts[digest] = problem
                while len(self._verdicts) > VERDICTS_KEPT:
                    self._verdicts.popitem(last=False)
        return self._verdicts[digest]

    # --- shared checks ------------------------------------------------------------------------------------------------
    def _customer_contract(self, session, actor, contract_id):
        if not is_customer(actor):
            raise Forbidden("only the customer's signer signs as 甲方")
        return self.access.contract(session, actor, contract_id)

    def _task_to_sign(self, session, actor, contract, role):
        """The contract's open task asking for ``role``'s signature, if ``actor`` may sign it now (completing it checks
        the same again): asked before a code is sent and before any PDF work."""
        task = self.contracts.open_task(session, contract.id, role)
        if task is None or self.tasks.form(session, task)["signature"] != role:
            raise Conflict(f"the contract is not waiting for this signature (it is {contract.status})")
        return self.tasks.check(session, task.id, actor, "sign")

    def _document_to_sign(self, session, contract, shown_sha256):
        """The certified document, if it is the one the signer read, renders from the current values and is what the
        reviewers approved."""
        state = self.signing_state(session, contract)
        if state["status"] == "letters":
            raise Conflict("fill in every letter first", {f"letters.{c}": "not filled" for c in state["unfilled_letters"]})
        if state["status"] != "ready":
            raise Conflict("the document to sign is being prepared; try again in a moment")
        current = self.documents.current(session, contract)
        if current.kind != "certified":
            raise Conflict("the contract is already signed")
        if current.approved_sha256 != contract.approved_sha256 or not contract.approved_sha256:
            raise Conflict("the document to sign is not the one the reviewers approved")
        if not isinstance(shown_sha256, str) or shown_sha256 != current.sha256:
            raise Conflict("the document changed since you opened it; reload the page and read the current version",
                           {"document_sha256": "not the current document"})
        return current

    def record_signature(self, session, subject, task_id, role, field, evidence, origin, letter_code=None):
        """One ``signature`` row: a field of ``subject``'s document, who signed it, how, on which bytes."""
        signer = evidence["signer"]
        intent = {k: v for k, v in evidence["intent"].items() if k != "code_id"} if evidence.get("intent") else None
        contract = subject.contract
        row = Signature(contract_id=contract.id, contract_version=contract.current_version, task_id=task_id, role=role,
                        amendment_id=subject.amendment.id if subject.amendment is not None else None,
                        field=field, letter_code=letter_code, identity_id=evidence["identity_id"],
                        issuer=evidence["issuer"], subject=evidence["subject"], name=evidence["name"][:200],
                        email=(evidence["email"] or "")[:200], document_sha256=evidence["document_sha256"],
                        method=evidence["method"], typed_name=(evidence["typed_name"] or "")[:200],
                        image_png=evidence["image_png"],
                        image_sha256=sha256_hex(evidence["image_png"]) if evidence["image_png"] else "",
                        consent_text=evidence["consent_text"], ip=(origin.ip or "")[:64],
                        user_agent=(origin.user_agent or "")[:300], signed_at=evidence["signed_at"],
                        pades_sha256=evidence["pades_sha256"], certificate_serial=signer.serial,
                        intent_json=json.dumps(intent, ensure_ascii=False) if intent else None)
        session.add(row)
        session.flush()
        return row


class DocumentNotApproved(Conflict):
    """The document no longer renders as the reviewers approved it: never certified, never signed."""

    retryable = False  # rendering again gives the same document


def place_as_dict(place):
    return {"field": place.field_name, "page": place.page_index, "box": list(place.box),
            "areas": {name: list(box) for name, box in place.areas}}


def places_of(document):
    """The places a certified document's fields sit at, by field name (kept with the document when it was made)."""
    if not document.places_json:
        raise Conflict("this document was prepared by a release before signature places and cannot be signed on; "
                       "the customer declines it and sales draft the contract again")
    return {place["field"]: place for place in json.loads(document.places_json)}


def stamp(place, when, seal=None, mark=None):
    """What a field shows: the seal over its seal area, the mark on its signature row, the date (China time)."""
    x1, y1, x2, y2 = place["box"]
    return seals.place_stamp_png((x2 - x1, y2 - y1), place["areas"], when, seal_png=seal, mark_png=mark)


def _marks(method, image_png, name):
    """(the signer's mark, the seal) a place shows: a drawn signature or a typed name's; an uploaded seal alone."""
    if method == "seal":
        return None, image_png
    return (image_png if method == "drawn" else seals.signature_image_from_text(name)), None


def _role_label(signature, letter):
    if signature.role == "letter":
        title = letter.title if letter else signature.letter_code
        return f"甲方（附件{chinese_numeral(letter.position) if letter else ''}《{title}》）"
    if signature.role == "provider":
        return "乙方（合同专用章）" if signature.method == "organisation_seal" else "乙方授权代表"
    return "甲方"


def customer_evidence(actor, given, typed_name, name, intent, when, shown_sha256, signed_sha256,
                      consent_text=CONSENT_TEXT):
    """What a customer's act records of each field it signed (the signer's certificate is added per field)."""
    return {"identity_id": actor.identity_id, "issuer": actor.issuer, "subject": actor.subject, "name": name,
            "email": actor.email, "method": given.method, "typed_name": typed_name if given.method == "typed" else "",
            "image_png": given.image_png if given.method != "typed" else None, "consent_text": consent_text,
            "intent": intent, "signed_at": when, "document_sha256": shown_sha256, "pades_sha256": signed_sha256}


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
    elif hidden := hidden_characters_error(typed_name):
        errors["typed_name"] = hidden
    if method in ("drawn", "seal"):
        problem = seals.image_problem(image_png)
        if problem:
            errors["signature_image" if method == "drawn" else "seal"] = problem
    if errors:
        raise ValidationFailed("the signature is not complete", errors)
    return typed_name


def png_from_data_url(value):
    """The bytes of a ``data:image/png;base64,...`` URL as signature_pad produces it (None if it is not one)."""
    prefix = "data:image/png;base64,"
    if not isinstance(value, str) or not value.startswith(prefix) or len(value) > seals.MAX_UPLOAD * 4 // 3 + 100:
        return None
    try:
        return base64.b64decode(value[len(prefix):], validate=True)
    except ValueError:
        return None


