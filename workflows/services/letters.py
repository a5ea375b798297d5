"""Commitment letters (承诺书): versioned templates, the letters a contract attaches, filling, signing, and the
activation gate.

- Templates are managed versions (like contract templates): version 1 of each shipped letter is the text in
  ``workflows/documents/letters/`` (the seeds' clauses); admins add versions. Each version declares its fields
  (``fields_json``: name, label, type text|phone|email, required, applies_when {"service_types_any": [...]}).
- Which letters a contract needs is the DMN ``mandated_letters`` of its process version (``ContractService.letters``
  lists them from the draft on). When the process reaches the customer, the business rule task ``attach_letters``
  outputs ``letters``; the step listener here turns them into ``contract_letter`` rows with the template version and
  its SHA-256 at that moment. A later template version never changes a letter already attached.
- The customer fills the fields (validated here, field by field), the filled letter is rendered to PDF and those
  bytes are what the customer signs (a ``signature`` row with role ``letter``, the same evidence as the contract).
- Activation: ``missing()`` lists every mandated letter not attached, not filled, not signed, or whose signature does
  not verify. The provider's countersign decision is refused with 409 and that list before anything changes (a task
  guard); the diagram's own gate (``activation_check()`` after provider_countersign) is the safety net for any other
  path and routes back to the customer with a reminder.
"""
import hashlib
import json
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func
from sqlmodel import select

from ..errors import Conflict, NotFound, ValidationFailed
from ..models import Contract, ContractLetter, LetterTemplate, Signature
from ..clock import utcnow

LETTERS_DIR = Path(__file__).resolve().parent.parent / "documents" / "letters"
SHIPPED = {"network_access": "用户入网责任书", "information_security": "网络及信息安全承诺书"}
FIELD_TYPES = ("text", "phone", "email")
MAX_SOURCE, MAX_VALUE, MAX_FIELDS = 200_000, 200, 30
CODE = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
PHONE = re.compile(r"^[0-9+()\- ]{5,30}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FILL_STATUSES = ("awaiting_customer", "countersigning")  # letters are filled and signed until activation
RENEWAL_HOUR_UTC = time(1, 0, tzinfo=timezone.utc)  # 09:00 in China

LETTER_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
@page { size: A4; margin: 24mm 22mm 22mm 24mm;
  @top-left { content: "合同编号：{{ number }}"; font-size: 9pt; vertical-align: bottom; padding-bottom: 3mm; }
  @top-right { content: "附件{{ position_numeral }} · 模板第{{ template_version }}版"; font-size: 9pt; color: #555;
               vertical-align: bottom; padding-bottom: 3mm; }
  @bottom-center { content: "第 " counter(page) " 页 共 " counter(pages) " 页"; font-size: 9pt; color: #333; } }
html { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", serif; font-size: 10.5pt;
  line-height: 1.75; color: #000; }
h1 { font-size: 16pt; text-align: center; margin: 2mm 0 6mm; }
p { margin: 0 0 1mm; } .lead { text-indent: 2em; } .info { padding-left: 3em; margin: 0 0 2mm; }
.blank { display: inline-block; min-width: 6em; border-bottom: 0.6pt solid #000; padding: 0 0.3em; }
.sign-block { margin-top: 10mm; margin-left: 50%; line-height: 2.4; break-inside: avoid; }
</style></head><body>{{ body }}</body></html>"""
NUMERALS = "一二三四五六七八九十"


def canonical(data):
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def template_digest(title, source, fields):
    return hashlib.sha256(canonical({"title": title, "source": source, "fields": fields}).encode()).hexdigest()


def shipped_fields():
    return json.loads((LETTERS_DIR / "fields.json").read_text(encoding="utf-8"))


def _environment():
    environment = SandboxedEnvironment(autoescape=select_autoescape(default=True, default_for_string=True),
                                       undefined=StrictUndefined)
    return environment


ENVIRONMENT = _environment()


def applies(field, service_types):
    """Whether a declared field applies to a contract with ``service_types``."""
    when = field.get("applies_when") or {}
    wanted = when.get("service_types_any")
    return not wanted or bool(set(wanted) & set(service_types))


def check_fields(fields):
    """The field declarations of a template version; returns the problem in words, or None."""
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        return f"a list of at most {MAX_FIELDS} fields"
    names = set()
    for index, field in enumerate(fields, 1):
        if not isinstance(field, dict):
            return f"field {index}: an object with name, label, type, required"
        name = field.get("name")
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,49}$", name) or name in names:
            return f"field {index}: name must be unique, lower-case letters, digits and _"
        names.add(name)
        if not isinstance(field.get("label"), str) or not field["label"].strip() or len(field["label"]) > 200:
            return f"field {name}: a label of 1 to 200 characters"
        if field.get("type", "text") not in FIELD_TYPES:
            return f"field {name}: type is one of {', '.join(FIELD_TYPES)}"
        if not isinstance(field.get("required", False), bool):
            return f"field {name}: required is true or false"
        when = field.get("applies_when")
        if when is not None and (not isinstance(when, dict) or set(when) - {"service_types_any"}
                                 or not isinstance(when.get("service_types_any"), list)
                                 or not all(isinstance(t, str) for t in when["service_types_any"])):
            return f'field {name}: applies_when is {{"service_types_any": ["voice_line", ...]}}'
        extra = set(field) - {"name", "label", "type", "required", "applies_when"}
        if extra:
            return f"field {name}: unknown keys {', '.join(sorted(extra))}"
    return None


def validate_values(fields, values, service_types):
    """(clean values, errors by ``values.<name>``): only applicable declared fields are kept."""
    errors, clean = {}, {}
    if not isinstance(values, dict):
        return {}, {"values": "an object of field values"}
    known = {f["name"] for f in fields}
    for name in values:
        if name not in known:
            errors[f"values.{name}"] = "this letter has no such field"
    for field in fields:
        if not applies(field, service_types):
            continue
        name, value = field["name"], values.get(field["name"], "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[f"values.{name}"] = "must be text"
            continue
        value = value.strip()
        if not value:
            if field.get("required"):
                errors[f"values.{name}"] = "required"
            continue
        if len(value) > MAX_VALUE or "\n" in value:
            errors[f"values.{name}"] = f"one line of at most {MAX_VALUE} characters"
        elif field.get("type") == "phone" and not PHONE.match(value):
            errors[f"values.{name}"] = "a phone number (digits, +, -, spaces)"
        elif field.get("type") == "email" and not EMAIL.match(value):
            errors[f"values.{name}"] = "an email address"
        else:
            clean[name] = value
    return clean, errors


class LetterService:
    def __init__(self, platform):
        self.platform = platform
        self.verifier = None  # optional callable(session, contract_id) -> problem text or None: PAdES check of the signed PDF

    # --- templates -------------------------------------------------------------------------------------------------
    def ensure_shipped(self, session, by):
        """Version 1 of every shipped letter is the text in workflows/documents/letters (idempotent)."""
        fields = shipped_fields()
        for code, title in SHIPPED.items():
            if self.latest_version(session, code) == 0:
                source = (LETTERS_DIR / f"{code}.html").read_text(encoding="utf-8")
                session.add(LetterTemplate(code=code, version=1, title=title, source=source,
                                           fields_json=canonical(fields[code]),
                                           sha256=template_digest(title, source, fields[code]),
                                           note="shipped with Qianyue", created_by=by))
        session.flush()

    def latest_version(self, session, code):
        return session.exec(select(func.coalesce(func.max(LetterTemplate.version), 0))
                            .where(LetterTemplate.code == code)).one()

    def codes(self, session):
        stored = session.exec(select(LetterTemplate.code).distinct()).all()
        return sorted(set(stored) | set(SHIPPED))

    def versions(self, session, code):
        return list(session.exec(select(LetterTemplate).where(LetterTemplate.code == code)
                                 .order_by(LetterTemplate.version.desc())))

    def template(self, session, code, version=None):
        version = version or self.latest_version(session, code)
        row = session.exec(select(LetterTemplate).where(LetterTemplate.code == code,
                                                        LetterTemplate.version == version)).first()
        if row is None:
            raise NotFound(f"no letter template {code} version {version}")
        return row

    def add_version(self, session, code, title, source, fields, user, note=""):
        """Check the declarations, that the text renders in the sandbox on a sample, then store a new version.

        Identical title, text and fields to the latest version create nothing. Returns (row, created).
        """
        errors = {}
        if not isinstance(code, str) or not CODE.match(code):
            errors["code"] = "lower-case letters, digits and _ (2 to 50), e.g. information_security"
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            errors["title"] = "1 to 200 characters"
        if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE:
            errors["source"] = f"1 to {MAX_SOURCE} characters"
        if isinstance(fields, str):
            try:
                fields = json.loads(fields or "[]")
            except ValueError:
                errors["fields"] = "not valid JSON"
        if "fields" not in errors:
            problem = check_fields(fields)
            if problem:
                errors["fields"] = problem
        if not errors:
            try:
                sample = {"number": "SAMPLE0000000000", "position": 1, "template_version": 0, "title": title,
                          "customer": {"name": "示例客户"}, "provider": {"name": "示例分公司"}, "service_types": []}
                self.render_html(sample, source, fields, {})
            except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
                errors["source"] = (f"line {exc.lineno}: {exc}" if getattr(exc, "lineno", None) else str(exc))[:500]
        if errors:
            raise ValidationFailed("the letter template is not valid", errors)
        title, digest = title.strip(), template_digest(title.strip(), source, fields)
        latest = self.latest_version(session, code)
        if latest and self.template(session, code, latest).sha256 == digest:
            return self.template(session, code, latest), False
        row = LetterTemplate(code=code, version=latest + 1, title=title, source=source, fields_json=canonical(fields),
                             sha256=digest, note=(note or "")[:300], created_by=user.username)
        session.add(row)
        session.flush()
        return row, True

    # --- rendering -----------------------------------------------------------------------------------------------------
    def render_html(self, document, source, fields, values):
        """The letter as a standalone HTML page: ``document`` has number, position, template_version, title,
        customer, provider, service_types."""
        types = document.get("service_types") or []
        context = {"values": {f["name"]: values.get(f["name"], "") for f in fields},
                   "applies": {f["name"]: applies(f, types) for f in fields},
                   "customer": document["customer"], "provider": document["provider"], "number": document["number"],
                   "title": document["title"]}
        body = ENVIRONMENT.from_string(source).render(context)
        position = document.get("position") or 1
        numeral = NUMERALS[position - 1] if position <= len(NUMERALS) else str(position)
        page = ENVIRONMENT.from_string(LETTER_PAGE)
        from markupsafe import Markup
        return page.render(title=document["title"], number=document["number"], position_numeral=numeral,
                           template_version=document.get("template_version"), body=Markup(body))

    def render_pdf(self, html):
        from weasyprint import HTML
        return HTML(string=html).write_pdf()

    def letter_document(self, session, contract, letter):
        """What a contract's letter renders from (its attached template version, the contract's parties)."""
        data = self.platform.contracts.version_data(session, contract.id, contract.current_version)
        template = session.get(LetterTemplate, letter.template_id)
        return {"number": contract.number, "position": letter.position, "template_version": letter.template_version,
                "title": letter.title, "customer": data["customer"], "provider": data["provider"],
                "service_types": data["service_types"]}, template

    def html(self, session, contract, code, values=None):
        letter = self.get(session, contract.id, code)
        document, template = self.letter_document(session, contract, letter)
        return self.render_html(document, template.source, json.loads(template.fields_json),
                                values if values is not None else json.loads(letter.values_json))

    # --- a contract's letters ----------------------------------------------------------------------------------------
    def attached(self, session, contract_id):
        return list(session.exec(select(ContractLetter).where(ContractLetter.contract_id == contract_id)
                                 .order_by(ContractLetter.position)))

    def get(self, session, contract_id, code):
        row = session.exec(select(ContractLetter).where(ContractLetter.contract_id == contract_id,
                                                        ContractLetter.code == code)).first() if isinstance(code, str) else None
        if row is None:
            raise NotFound(f"the contract has no letter {code!r} attached")
        return row

    def listing(self, session, contract, required):
        """The contract's ``letters``: each mandated letter with its status, and once attached its template version,
        the template's SHA-256, the filled values and the signed document's SHA-256."""
        rows = {row.code: row for row in self.attached(session, contract.id)}
        fields_by_template = {}
        result = []
        codes = [letter["code"] for letter in required] + [code for code in rows if code not in
                                                           {letter["code"] for letter in required}]
        titles = {letter["code"]: letter["title"] for letter in required}
        for code in codes:
            row = rows.get(code)
            if row is None:
                result.append({"code": code, "title": titles[code], "status": "required"})
                continue
            if row.template_id not in fields_by_template:
                template = session.get(LetterTemplate, row.template_id)
                fields_by_template[row.template_id] = json.loads(template.fields_json)
            result.append({"code": code, "title": row.title, "status": row.status, "position": row.position,
                           "template_version": row.template_version, "template_sha256": row.template_sha256,
                           "fields": fields_by_template[row.template_id], "values": json.loads(row.values_json),
                           "applicable": [f["name"] for f in fields_by_template[row.template_id]
                                          if applies(f, contract.service_types.split(","))],
                           "document_sha256": row.document_sha256 or None,
                           "filled_at": row.filled_at.isoformat() if row.filled_at else None,
                           "signed_at": row.signed_at.isoformat() if row.signed_at else None})
        return result

    def attach(self, session, contract_id, letters, actor="system"):
        """Attach each letter of the decision's output not yet attached, with the latest template version now."""
        if not letters:
            return []
        existing = {row.code: row for row in self.attached(session, contract_id)}
        position = max((row.position for row in existing.values()), default=0)
        added, unknown = [], []
        for letter in letters:
            code = letter.get("code") if isinstance(letter, dict) else None
            if not code or code in existing:
                continue
            if self.latest_version(session, code) == 0:
                if code in SHIPPED:
                    self.ensure_shipped(session, "system")
                else:
                    unknown.append(code)
                    continue
            template = self.template(session, code)
            position += 1
            row = ContractLetter(contract_id=contract_id, code=code, title=letter.get("title") or template.title,
                                 position=position, template_id=template.id, template_version=template.version,
                                 template_sha256=template.sha256)
            session.add(row)
            existing[code] = row
            added.append({"code": code, "template_version": template.version, "template_sha256": template.sha256})
        session.flush()
        events = []
        if added:
            events.append({"event": "letters_attached", "actor": actor, "details": {"letters": added}})
        if unknown:
            events.append({"event": "letter_template_missing", "actor": "system", "details": {"codes": unknown}})
        return events

    def _check_fillable(self, session, contract_id, code):
        contract = self.platform.contracts.get(session, contract_id)
        if contract.status not in FILL_STATUSES:
            raise Conflict(f"letters are filled in and signed only while the contract awaits signatures (it is {contract.status})")
        letter = self.get(session, contract.id, code)
        if letter.status == "signed":
            raise Conflict("this letter is already signed")
        return contract, letter

    def fill(self, db, contract_id, code, values, actor_name):
        """Validate the values, render the filled letter to PDF (outside the write transaction), store both.

        The PDF's bytes are what the customer then signs; filling again replaces an unsigned letter's values.
        """
        with db.read() as session:
            contract, letter = self._check_fillable(session, contract_id, code)
            document, template = self.letter_document(session, contract, letter)
            fields = json.loads(template.fields_json)
            clean, errors = validate_values(fields, values, document["service_types"])
            if errors:
                raise ValidationFailed("the letter's fields are not valid", errors)
            html = self.render_html(document, template.source, fields, clean)
            template_id = letter.template_id
        pdf = self.render_pdf(html)
        digest = hashlib.sha256(pdf).hexdigest()
        with db.write() as session:
            contract, letter = self._check_fillable(session, contract_id, code)
            if letter.template_id != template_id:
                raise Conflict("the letter changed at the same moment; reload and try again")
            letter.values_json, letter.document_pdf, letter.document_sha256 = canonical(clean), pdf, digest
            letter.status, letter.filled_at, letter.filled_by = "filled", utcnow(), actor_name[:300]
            session.add(letter)
            self.platform.history.record(session, "letter_filled", actor_name, contract_id=contract.id,
                                         details={"letter": code, "document_sha256": digest, "fields": sorted(clean)})
            return letter

    def sign(self, session, contract_id, code, signer, *, document_sha256, method, consent, typed_name="",
             image_png=None, ip="", user_agent="", consent_text=None):
        """Record the customer's signature on the filled letter's exact bytes (the SHA-256 the signer saw).

        ``signer``: actor (history name), identity_id (or None for an API user), issuer, subject, name, email.
        """
        from .customers import CONSENT_TEXT, check_signature_input, sha256_hex

        contract, letter = self._check_fillable(session, contract_id, code)
        if letter.status != "filled" or not letter.document_pdf:
            raise Conflict("fill in the letter before signing it")
        if not isinstance(document_sha256, str) or document_sha256 != letter.document_sha256:
            raise Conflict("the letter changed since you opened it; reload it and read the current version")
        typed_name = check_signature_input(consent, method, typed_name, image_png)
        row = Signature(contract_id=contract.id, contract_version=contract.current_version, role="letter",
                        identity_id=signer.get("identity_id"), issuer=signer.get("issuer", ""),
                        subject=signer.get("subject", ""), name=(signer.get("name") or typed_name or "")[:200],
                        email=signer.get("email", "")[:200], document_sha256=document_sha256, method=method,
                        typed_name=typed_name if method == "typed" else "",
                        image_png=image_png if method != "typed" else None,
                        image_sha256=sha256_hex(image_png) if method != "typed" and image_png else "",
                        consent_text=consent_text or CONSENT_TEXT, ip=(ip or "")[:64], user_agent=(user_agent or "")[:300])
        session.add(row)
        session.flush()
        letter.signature_id, letter.status, letter.signed_at = row.id, "signed", utcnow()
        session.add(letter)
        self.platform.history.record(session, "letter_signed", signer["actor"], contract_id=contract.id,
                                     details={"letter": code, "signature": row.id, "method": method,
                                              "document_sha256": document_sha256, "ip": row.ip})
        return letter

    # --- the activation gate -------------------------------------------------------------------------------------------
    def missing(self, session, contract_id):
        """{"letters.<code>": what is missing} for every mandated letter not attached, filled, signed or verifying;
        {"signatures.<id>": ...} for a contract signature whose signed PDF no longer matches its hash."""
        contract = session.get(Contract, contract_id)
        if contract is None:  # an instance whose business key names no contract (engine benchmarks): nothing to check
            return {}
        data = self.platform.contracts.version_data(session, contract.id, contract.current_version)
        required = self.platform.contracts.mandated(session, contract, data)
        rows = {row.code: row for row in self.attached(session, contract.id)}
        problems = {}
        for letter in required:
            row = rows.get(letter["code"])
            key = f"letters.{letter['code']}"
            if row is None:
                problems[key] = "not attached"
            elif row.status == "attached":
                problems[key] = "not filled"
            elif row.status != "signed":
                problems[key] = "not signed"
            elif not self._letter_verifies(session, row):
                problems[key] = "signature does not verify"
        for signature in session.exec(select(Signature).where(Signature.contract_id == contract.id,
                                                              Signature.role != "letter")):
            if not self._signature_verifies(signature):
                problems[f"signatures.{signature.id}"] = "signature does not verify"
        if self.verifier is not None:
            problem = self.verifier(session, contract.id)
            if problem:
                problems["document"] = problem
        return problems

    def _letter_verifies(self, session, row):
        signature = session.get(Signature, row.signature_id) if row.signature_id else None
        if signature is None or not row.document_pdf:
            return False
        digest = hashlib.sha256(row.document_pdf).hexdigest()
        return digest == row.document_sha256 == signature.document_sha256 and self._signature_verifies(signature)

    def _signature_verifies(self, signature):
        if signature.image_png is not None and hashlib.sha256(signature.image_png).hexdigest() != signature.image_sha256:
            return False
        if signature.signed_pdf is not None and hashlib.sha256(signature.signed_pdf).hexdigest() != signature.pades_sha256:
            return False
        return True

    def refuse_countersign_while_incomplete(self, session, task, decision):
        """Refuse the provider's countersign (409, nothing changes) while anything the gate checks is missing."""
        if task.name != "provider_countersign" or decision != "sign":
            return
        problems = self.missing(session, task.contract_id)
        if problems:
            raise Conflict("the contract cannot become active yet: the customer has not completed every mandated "
                           "letter (or a signature does not verify)", problems)

    # --- functions the diagram calls ---------------------------------------------------------------------------------
    def activation_check(self, step):
        if step.contract_id is None:
            return []
        return [f"{key}: {value}" for key, value in self.missing(step.session, step.contract_id).items()]

    def activate_contract(self, step):
        """Effective dates from the term, the renewal notice date, and the contract.activated event (webhook)."""
        session = step.session
        contract = session.get(Contract, step.contract_id) if step.contract_id is not None else None
        if contract is None:  # no contract row (engine benchmarks): no dates, the notice timer is due at once
            return {"effective_from": None, "effective_to": None, "renewal_notice_at": utcnow().isoformat()}
        data = self.platform.contracts.version_data(session, contract.id, contract.current_version)
        term = data["term"]
        start, end = date.fromisoformat(term["start"]), date.fromisoformat(term["end"])
        notice_days = int(term.get("notice_days") or 0)
        notice_at = datetime.combine(end - timedelta(days=notice_days), RENEWAL_HOUR_UTC)
        contract.effective_from, contract.effective_to = start, end
        session.add(contract)
        letters = [{"code": row.code, "title": row.title, "status": row.status, "template_version": row.template_version,
                    "template_sha256": row.template_sha256, "document_sha256": row.document_sha256}
                   for row in self.attached(session, contract.id)]
        figures = data["figures"]
        payload = {"event": "contract.activated", "contract": {
            "id": contract.id, "number": contract.number, "title": contract.title, "version": contract.current_version,
            "customer": {"name": data["customer"]["name"], "credit_code": data["customer"].get("credit_code", "")},
            "provider": contract.provider_code, "service_types": data["service_types"],
            "term": {"start": term["start"], "end": term["end"], "auto_renew_months": term.get("auto_renew_months", 0),
                     "notice_days": notice_days},
            "totals": {"net_amount": figures["net_amount"], "tax_amount": figures["tax_amount"],
                       "total": figures["total"], "currency": "CNY"},
            "letters": letters}, "activated_at": utcnow().isoformat()}
        event_id = self.platform.webhooks.enqueue(session, "contract.activated", contract.id, payload)
        step.events.append({"event": "contract_activated", "actor": "system",
                            "details": {"effective_from": term["start"], "effective_to": term["end"],
                                        "renewal_notice_at": notice_at.isoformat(), "webhook_event": event_id}})
        return {"effective_from": term["start"], "effective_to": term["end"], "renewal_notice_at": notice_at.isoformat()}

    def notify_renewal(self, step):
        """The renewal notice date came: mail the drafter and the customer's contact."""
        session = step.session
        contract = session.get(Contract, step.contract_id) if step.contract_id is not None else None
        if contract is None:
            return
        data = self.platform.contracts.version_data(session, contract.id, contract.current_version)
        term = data["term"]
        drafter = self.platform.accounts.find(session, contract.created_by)
        contact = (data["customer"].get("contact") or {}).get("email", "")
        renew = int(term.get("auto_renew_months") or 0)
        what = (f"如不再续展，请在服务期满前 {term.get('notice_days')} 日书面通知对方；否则将自动续展 {renew} 个月。"
                if renew else "本合同不自动续展，如需继续服务请及时续签。")
        body = (f"您好：\n\n合同《{contract.title}》（{contract.number}）的服务期将于 {term['end']} 届满。\n{what}\n\n"
                f"The term of contract {contract.number} ends on {term['end']}.\n")
        notifications = self.platform.notifications
        for to in {a for a in ((drafter.email if drafter else ""), contact) if a}:
            notifications.enqueue(session, "renewal_notice", to, f"[签约] 续展通知：{contract.number} 将于 {term['end']} 到期",
                                  body, contract.id)
        step.events.append({"event": "renewal_notice", "actor": "system", "details": {"term_end": term["end"]}})

    # --- the process ---------------------------------------------------------------------------------------------------
    def attach_when_customer_task_opens(self, session, step):
        """When the customer task opens (after attach_letters, or back from the gate), attach the mandated letters."""
        if step.contract_id is None:
            return
        for task in step.new_tasks:
            if task["role"] != "customer":
                continue
            from uuid import UUID
            spiff_task = step.workflow.get_task_from_id(UUID(task["id"]))
            letters = (spiff_task.data.get("letters") if spiff_task is not None else None) or []
            step.events.extend(self.attach(session, step.contract_id, letters))

    # --- the final package ---------------------------------------------------------------------------------------------
    def package(self, session, contract):
        """One PDF per active contract: the contract, the signed letters in attachment order, and the completion
        certificate (``workflows.signing.certificate``). The exact signed files (each letter's PDF, the customer's
        PAdES-signed contract when there is one) are embedded byte for byte, their SHA-256 in the description."""
        from weasyprint import HTML, Attachment

        from ..documents import render_contract_html
        from ..signing.certificate import render_certificate_html

        if contract.status != "active":
            raise Conflict(f"the package exists once the contract is active (it is {contract.status})")
        document = self.platform.contracts.document(session, contract)
        letters = self.attached(session, contract.id)
        signatures = {s.id: s for s in session.exec(select(Signature).where(Signature.contract_id == contract.id))}
        pages = [render_contract_html(document)]
        attachments = []
        for letter in letters:
            pages.append(self.html(session, contract, letter.code))
            if letter.document_pdf:
                attachments.append(Attachment(string=letter.document_pdf, name=f"letter-{letter.position}-{letter.code}.pdf",
                                              description=f"{letter.title} sha256:{letter.document_sha256}"))
        for signature in signatures.values():
            if signature.signed_pdf:
                attachments.append(Attachment(string=signature.signed_pdf, name=f"signed-contract-{signature.id}.pdf",
                                              description=f"sha256:{signature.pades_sha256}"))
        data = document["data"]
        history = self.platform.history.for_contract(session, contract.id)
        signers = []
        for signature in signatures.values():
            letter = next((l for l in letters if l.signature_id == signature.id), None)
            signers.append({"role_label": f"甲方（{letter.title}）" if letter else {"customer": "甲方", "provider": "乙方"}.get(
                signature.role, signature.role), "name": signature.name,
                "identity": f"{signature.issuer} {signature.subject}".strip(), "organisation": data["customer"]["name"]
                if signature.role in ("customer", "letter") else data["provider"]["name"],
                "credit_code": "", "method": signature.method, "intent": None,
                "signed_at": signature.signed_at.isoformat(), "ip": signature.ip, "user_agent": signature.user_agent,
                "certificate_serial": signature.pades_sha256 or "-", "field": signature.document_sha256})
        for event in history:
            if event.event == "task_completed" and event.decision == "sign" and event.task_name == "provider_countersign":
                signers.append({"role_label": "乙方", "name": event.actor, "identity": f"staff:{event.actor}",
                                "organisation": data["provider"]["name"], "credit_code": data["provider"].get("credit_code", ""),
                                "method": "countersign", "intent": None, "signed_at": event.at.isoformat(), "ip": "",
                                "user_agent": "", "certificate_serial": "-", "field": "provider_countersign"})
        contract_sha = hashlib.sha256(render_contract_html(document).encode()).hexdigest()
        pages.append(render_certificate_html({
            "contract": {"number": contract.number, "title": contract.title, "customer": data["customer"]["name"],
                         "provider": data["provider"]["name"]},
            "sha256_before": contract_sha, "sha256_after": contract_sha, "audit_head": contract.audit_head,
            "audit_events": len(history), "signers": signers}))
        rendered = [HTML(string=page).render() for page in pages]
        everything = [page for doc in rendered for page in doc.pages]
        return rendered[0].copy(everything).write_pdf(attachments=attachments)
