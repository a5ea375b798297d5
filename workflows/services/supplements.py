"""The 补充协议 of an agreed amendment, as a document signed like the contract.

- ``prepare`` (the job ``supplement.prepare``, queued when the amendment's diagram reaches 生成补充协议): the change
  rendered (``templates/supplement.html``: the parties with their credit codes, 合同编号 and 补充协议编号, each changed
  term old → new, amounts in ¥ and 大写, the reason) and certified with a signature field for each party that signs:
  both, or on deemed agreement the proposer alone (the document cites the contract's article and 民法典第五百四十三条).
- ``request_intent`` / ``sign``: the signing act of the party the diagram asks now (甲方签署补充协议, then 乙方签署盖章),
  with the contract's own parts (``SigningService``: one-time code, PAdES signature in the field, evidence); the
  amendment's ``document_id`` moves from the PDF it signed into by a compare-and-set, so of two acts one wins (409).
- ``download``: its current PDF (certified, then with every signature so far); the amendment's ``document`` (its
  ``as_dict``) says whether it is being prepared, ready to sign or signed.
"""
import json

from sqlmodel import select

from ..actors import is_customer
from ..clock import china_time, utcnow
from ..contracts.money import amount_in_words, to_decimal
from ..db import Statement
from ..documents import CUSTOMER_PLACE, PROVIDER_PLACE, SIGNATORY_PLACE, render_supplement_html, render_supplement_pdf
from ..documents.formatting import chinese_date, money
from ..errors import Conflict, Forbidden, NotFound
from ..fingerprints import sha256_hex
from ..models import Contract, ContractAmendment, ProcessInstance, SignedDocument
from .amendments import FIELD_TITLES, clause_numbers, values_in_force
from .documents import Download
from .signing import SUPPLEMENT_SIGNATURE, Subject, check_signature_input, customer_evidence, place_as_dict, places_of

PREPARE = "supplement.prepare"
SIGNATURE_KINDS = {f"{SUPPLEMENT_SIGNATURE}{party}": party for party in ("customer", "provider")}
PLACES = {"customer": (CUSTOMER_PLACE,), "provider": (PROVIDER_PLACE, SIGNATORY_PLACE)}
PARTY_TITLES = {"customer": "甲方", "provider": "乙方"}
CONSENT_TEXT = ("本人确认已完整阅读上述补充协议，同意以电子签名方式签署，电子签名与手写签名或盖章具有同等法律效力"
                "（《中华人民共和国电子签名法》第十四条）。\n"
                "I have read the whole supplementary agreement above, and I agree to sign it electronically; my "
                "electronic signature has the same legal effect as a handwritten signature or seal.")
MOVE_DOCUMENT = Statement("UPDATE contract_amendment SET document_id = :new, signed_at = :signed_at WHERE id = :id "
                          "AND coalesce(document_id, 0) = :expected", signed_at=ContractAmendment.__table__.c.signed_at)


class SupplementService:
    def __init__(self, db, access, contracts, documents, amendments, signing, tasks, history, jobs):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.documents = documents
        self.amendments = amendments
        self.signing = signing
        self.tasks = tasks
        self.history = history
        self.jobs = jobs

    # --- the document -------------------------------------------------------------------------------------------------
    def prepare_when_agreed(self, session, step):
        """Step listener: the amendment's diagram reached 生成补充协议: render and certify it (a job, after commit)."""
        for event in step.events:
            if event.get("event") == "amendment_to_sign":
                amendment_id = event["details"]["amendment_id"]
                self.jobs.enqueue(session, PREPARE, {"amendment_id": amendment_id}, contract_id=step.contract_id,
                                  dedupe_key=f"{PREPARE}:{amendment_id}")

    def prepare(self, job):
        """Job: the 补充协议 rendered and certified, once (nothing when it has its document or no longer waits)."""
        with self.db.read() as session:
            row = session.get(ContractAmendment, job.payload["amendment_id"])
            if row is None or row.status != "signing" or row.document_id is not None:
                return
            supplement = self.document(session, session.get(Contract, row.contract_id), row)
        source = sha256_hex(render_supplement_html(supplement))
        pdf, places = render_supplement_pdf(supplement)
        certified = self.signing.verified(self.signing.toolkit().certify(pdf, places))
        with self.db.write() as session:
            row = session.get(ContractAmendment, row.id)
            contract = session.get(Contract, row.contract_id)
            document = self._advance(session, contract, row, "certified", certified, replaces=None, source_sha256=source,
                                     places_json=json.dumps([place_as_dict(p) for p in places]))
            self.history.record(session, "supplement_prepared", "system", contract_id=contract.id,
                                details={"amendment": row.number, "document_sha256": document.sha256,
                                         "fields": [p.field_name for p in places]})

    def document(self, session, contract, row):
        """What the 补充协议 renders from: the parties as signed, each change old → new, who signs."""
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        changes = json.loads(row.changes_json)
        before = json.loads(row.before_json) if row.before_json else values_in_force(
            self.amendments.effective_terms(session, contract), changes)
        signed_clauses = clause_numbers(self.documents.html(session, contract, with_values=False)) \
            if "clauses" in changes else {}
        signers = signing_parties(row)
        deemed = None
        if row.answer == "deemed_agreed":
            silent = "乙方" if row.party == "customer" else "甲方"
            deemed = {"silent": silent, "article": self._change_article(session, contract),
                      "working_days": row.working_days, "due": chinese_date(china_time(row.answer_due_at).date())}
        return {"number": contract.number, "supplement_number": supplement_number(contract, row),
                "title": f"《{contract.title}》补充协议{row.number}", "contract_title": contract.title,
                "signed_on": chinese_date(contract.effective_from) if contract.effective_from else "",
                "customer": data["customer"], "provider": data["provider"],
                "proposer": PARTY_TITLES[row.party], "proposed_on": chinese_date(china_time(row.proposed_at).date()),
                "reason": row.reason, "changes": change_rows(changes, before, signed_clauses), "deemed": deemed,
                "signer_party": PARTY_TITLES[row.party],
                "places": [place for party in signers for place in PLACES[party]]}

    def _change_article(self, session, contract):
        """The contract's article on changes that deems silence agreement (its number as the contract prints it)."""
        numbered = clause_numbers(self.documents.html(session, contract, with_values=False))
        return next((number for number, text in numbered.items() if "视为同意" in text), "关于合同变更的条款")

    def download(self, session, actor, contract_id, number):
        """The 补充协议's current PDF (to sign, or with every signature so far); NotFound before it is rendered."""
        contract = self.access.contract(session, actor, contract_id)
        row = self.amendments.row(session, contract.id, number)
        current = session.get(SignedDocument, row.document_id) if row.document_id else None
        if current is None:
            raise NotFound(f"supplementary agreement {number} of contract {contract.number} has no document yet")
        return Download(current.pdf, f"{contract.number}-amendment-{row.number}.pdf", current.sha256)

    # --- signing ------------------------------------------------------------------------------------------------------
    def request_intent(self, actor, contract_id, number):
        """A one-time code for the actor's signature on the 补充协议 (theirs alone, for this one)."""
        with self.db.write() as session:
            contract, row, _task = self._to_sign(session, actor, contract_id, number)
            if row.document_id is None:
                raise Conflict("the supplementary agreement is being prepared; request a code once it is ready")
            destination = (actor.email if actor.email_verified else "") if is_customer(actor) else actor.email
            return self.signing.send_intent(session, actor, Subject(contract, row), destination)

    def sign_task(self, actor, task, given, origin):
        """``SigningService.sign_task`` for a 补充协议's task (the task page's and the task API's sign decision)."""
        with self.db.read() as session:
            number = self.amendment_of_task(session, task).number
        self.sign(actor, task.contract_id, number, given, origin)
        with self.db.read() as session:
            return self.tasks.get(session, task.id)

    def request_task_intent(self, actor, task):
        """``SigningService.request_task_intent`` for a 补充协议's task."""
        with self.db.read() as session:
            number = self.amendment_of_task(session, task).number
        return self.request_intent(actor, task.contract_id, number)

    @staticmethod
    def amendment_of_task(session, task):
        """The amendment whose process a task belongs to, or None (a task of the contract's own process)."""
        key = session.get(ProcessInstance, task.instance_id).business_key
        contract_id, _sep, number = key.partition(":amendment:")
        if not number:
            return None
        return session.exec(select(ContractAmendment).where(ContractAmendment.contract_id == int(contract_id),
                                                            ContractAmendment.number == int(number))).first()

    @staticmethod
    def current_sha256(session, row):
        """The SHA-256 of the 补充协议's current PDF (what its next signer signs into), or None before it is made."""
        return session.exec(select(SignedDocument.sha256).where(SignedDocument.id == row.document_id)).first() \
            if row.document_id else None

    def awaiting_customer(self, session, contract_ids):
        """{contract id: amendment number} of the 补充协议 waiting for the customer's signature (the portal's button)."""
        rows = session.exec(select(ContractAmendment).where(ContractAmendment.contract_id.in_(list(contract_ids)),
                                                            ContractAmendment.status == "signing")).all() \
            if contract_ids else []
        waiting = {}
        for row in rows:
            task = self.amendments.open_task(session, row)
            if task is not None and SIGNATURE_KINDS.get(self.tasks.form(session, task)["signature"]) == "customer":
                waiting[row.contract_id] = row.number
        return waiting

    def sign(self, actor, contract_id, number, given, origin):
        """The signing act the 补充协议 waits for from ``actor``'s side: the customer's signature in its field, or the
        provider's signatory and seal; the diagram then asks the next party or lets the change take effect."""
        with self.db.read() as session:
            contract, row, task = self._to_sign(session, actor, contract_id, number)
            current = session.get(SignedDocument, row.document_id) if row.document_id else None
            if current is None:
                raise Conflict("the supplementary agreement is being prepared; try again in a moment")
            if not isinstance(given.document_sha256, str) or given.document_sha256 != current.sha256:
                raise Conflict("the supplementary agreement changed since you opened it; reload and read the current "
                               "version", {"document_sha256": "not the current document"})
            customer = is_customer(actor)
            typed_name = check_signature_input(given.consent, given.method, given.typed_name, given.image_png) \
                if customer else ""
            provider = self.contracts.version_data(session, contract.id, contract.current_version)["provider"]
            places = places_of(current)
        subject = Subject(contract, row)
        intent = self.signing.check_intent(actor, subject, given.intent_code)
        when = utcnow()
        if customer:
            name = actor.name or typed_name or actor.email
            pdf, fields = self.signing.sign_as_customer_into(current.pdf, places, contract, actor, given, typed_name, when,
                                                             [(CUSTOMER_PLACE, None, f"甲方签署补充协议{row.number}")])
        else:
            pdf, person, seal_signer = self.signing.sign_as_provider_into(current.pdf, places, provider, actor, when,
                                                                          f"补充协议{row.number}")
        with self.db.write() as session:
            self.signing.intent.consume(session, intent)
            row = session.get(ContractAmendment, row.id)
            contract = session.get(Contract, contract.id)
            subject = Subject(contract, row)
            kind = f"signed:{'customer' if customer else 'provider'}"
            signed = self._advance(session, contract, row, kind, pdf, replaces=current.id, parent=current, at=when)
            if customer:
                evidence = customer_evidence(actor, given, typed_name, name, intent, when, current.sha256, signed.sha256,
                                             CONSENT_TEXT)
                for field, _letter, signer in fields:
                    self.signing.record_signature(session, subject, task.id, "customer", field,
                                                  {**evidence, "signer": signer}, origin)
            else:
                self.signing.record_provider(session, subject, task.id, actor, provider, person, seal_signer, intent,
                                             when, current.sha256, signed.sha256, origin)
            self.history.record(session, "supplement_signed", actor.username, contract_id=contract.id,
                                task_id=task.id, task_name=task.name,
                                details={"amendment": row.number, "party": "customer" if customer else "provider",
                                         "document_sha256": current.sha256, "signed_sha256": signed.sha256,
                                         "ip": origin.ip})
            self.tasks.complete(session, task.id, actor, "sign")
            session.expire_all()
            return self.amendments.as_dict(session, self.amendments.row(session, contract.id, number))

    def _to_sign(self, session, actor, contract_id, number):
        """The contract, the amendment and its open signing task, if it waits for the signature of ``actor``'s side
        and ``actor`` may give it (completing the task checks the same again)."""
        contract = self.access.contract(session, actor, contract_id)
        row = self.amendments.row(session, contract.id, number)
        task = self.amendments.open_task(session, row) if row.status == "signing" else None
        kind = SIGNATURE_KINDS.get(self.tasks.form(session, task)["signature"]) if task is not None else None
        if kind is None:
            raise Conflict(f"补充协议{row.number}不在等待签署 / the supplementary agreement is not waiting for a "
                           f"signature (it is {row.status})")
        if kind != ("customer" if is_customer(actor) else "provider"):
            raise Forbidden(f"补充协议{row.number}在等待{PARTY_TITLES[kind]}签署 / it waits for the other side's signature")
        return contract, row, self.tasks.check(session, task.id, actor, "sign")

    def _advance(self, session, contract, row, kind, pdf, *, replaces, parent=None, at=None, **details):
        """Make ``pdf`` the 补充协议's current document if it still is ``replaces``; Conflict otherwise."""
        if parent is not None:
            details = {"source_sha256": parent.source_sha256, "places_json": parent.places_json, **details}
        document = SignedDocument(contract_id=contract.id, amendment_id=row.id, kind=kind, sha256=sha256_hex(pdf),
                                  pdf=pdf, parent_id=parent.id if parent is not None else None, verified=True,
                                  **details)
        session.add(document)
        session.flush()
        if MOVE_DOCUMENT.execute(session, {"id": row.id, "new": document.id, "expected": replaces or 0,
                                           "signed_at": at}) != 1:
            raise Conflict("补充协议已被同时签署或生成，请刷新 / the supplementary agreement changed at the same moment")
        session.expire(row)
        return document


def signing_parties(row):
    """Who signs the 补充协议: both sides once agreed; on deemed agreement the proposer alone."""
    return [row.party] if row.answer == "deemed_agreed" else ["customer", "provider"]


def supplement_number(contract, row):
    return f"{contract.number}-BC{row.number:02d}"


def change_rows(changes, before, signed_clauses):
    """Each change as the 补充协议 prints it: what it is, the lines of the former and of the new value."""
    rows = []
    for key, value in changes.items():
        if key == "clauses":
            for number, text in value.items():
                former = (before.get("clauses") or {}).get(number) or signed_clauses.get(number, "")
                rows.append({"title": f"第 {number} 条", "before": [former], "after": [text]})
            continue
        rows.append({"title": FIELD_TITLES[key], "before": _lines(key, before.get(key)), "after": _lines(key, value)})
    return rows


def _yuan(amount):
    return f"¥{money(amount)}（大写：人民币{amount_in_words(to_decimal(amount))}）"


def _lines(key, value):
    if value is None:
        return ["—"]
    if key == "total":
        return [_yuan(value)]
    if key == "items":
        return [f"{item['name']}（{item.get('content') or ''}）：¥{money(item['amount'])}" for item in value]
    if key == "payment_plan":
        if "installments" in value:
            return [f"{chinese_date(i['due_date'])}支付{_yuan(i['amount'])}" for i in value["installments"]]
        return [f"自{chinese_date(value['first_due'])}起每{value['every_months']}个月支付{_yuan(value['amount'])}"]
    if key == "term_end":
        return [chinese_date(value)]
    return [str(value)]
