"""Commitment letters (承诺书): versioned templates, the letters a contract's services mandate, pinned per contract
version, attached when the customer is asked to sign, and the values the customer fills in.

- Templates are managed versions (like contract templates): the shipped text of each letter is in
  ``workflows/documents/letters/`` (the seeds' clauses); admins add versions. Each version declares its fields
  (``fields_json``: name, label, type text|phone|email, required, applies_when {"service_types_any": [...]}).
- Which letters a contract needs is the DMN ``mandated_letters`` of its process version. Every contract version pins
  them to the template versions of the moment it was written (``contract_version.letters_json``): that is what the
  reviewers read (the letters are pages of the contract's one document) and what the customer later signs; a
  template version added afterwards never changes a contract in flight.
- When the process reaches the customer, the step listener turns the pins into ``contract_letter`` rows (the
  business rule task ``attach_letters`` lists ``letters`` too: a difference from the pins is recorded, the pins stay). The customer fills the fields (validated here, field
  by field); the signing act (``SigningService``) signs each letter's field of the one document. A renewal contract's
  letters start from the values the same customer filled in the letters of the contract it renews (those still valid
  under the pinned version's fields): the customer reads them in the document, may change them, and signs anew.
- Activation: ``missing()`` lists every pinned letter not attached, not filled, not signed.
"""
import json
import re
from pathlib import Path
from threading import Lock
from types import SimpleNamespace

from jinja2 import TemplateError
from sqlalchemy import func
from sqlalchemy.orm.util import identity_key
from sqlmodel import select

from ..clock import utcnow
from ..db import Statement
from ..documents import field_applies as applies
from ..documents import letter_problems
from ..engine.spiff import decision_table, script_engine
from ..errors import Conflict, NotFound, ValidationFailed
from ..fingerprints import canonical_json, sha256_hex
from ..models import Contract, ContractLetter, LetterTemplate, Signature
from ..visible_text import hidden_characters_error

LETTERS_DIR = Path(__file__).resolve().parent.parent / "documents" / "letters"
SHIPPED = {"network_access": "用户入网责任书", "information_security": "网络及信息安全承诺书"}
SHIPPED_NOTE = "shipped with Qianyue"
LETTERS_DECISION = "mandated_letters"
PROCESS_KEY = "contract_approval"
TEMPLATE_COLUMNS = ("id", "code", "version", "title", "source", "fields_json", "sha256")
TEMPLATES_BY_ID = Statement(f"SELECT {', '.join(TEMPLATE_COLUMNS)} FROM letter_template WHERE id IN (:ids)",
                            lists=["ids"])
TEMPLATES_KEPT = 1000
# the latest version of each of some letters, in one statement (a version pins every mandated letter at once)
LATEST_TEMPLATES = Statement("SELECT id, code, version, title, sha256 FROM letter_template AS t WHERE code IN (:codes) "
                             "AND version = (SELECT max(version) FROM letter_template WHERE code = t.code)",
                             lists=["codes"])
ATTACHED = Statement(f"SELECT {', '.join(c.name for c in ContractLetter.__table__.c)} FROM contract_letter "
                     "WHERE contract_id = :id ORDER BY position", columns=ContractLetter.__table__.c)
FIELD_TYPES = ("text", "phone", "email")
MAX_SOURCE, MAX_VALUE, MAX_FIELDS = 200_000, 200, 30
CODE = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
PHONE = re.compile(r"^[0-9+()\- ]{5,30}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FILL_STATUSES = ("awaiting_customer",)  # the customer fills the letters while the contract waits for their signature


def template_digest(title, source, fields):
    return sha256_hex(canonical_json({"title": title, "source": source, "fields": fields}))


def shipped_fields():
    return json.loads((LETTERS_DIR / "fields.json").read_text(encoding="utf-8"))


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
        if hidden := hidden_characters_error(field["label"]):
            return f"field {name}: {hidden}"
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
        elif hidden := hidden_characters_error(value):
            errors[f"values.{name}"] = hidden
        elif field.get("type") == "phone" and not PHONE.match(value):
            errors[f"values.{name}"] = "a phone number (digits, +, -, spaces)"
        elif field.get("type") == "email" and not EMAIL.match(value):
            errors[f"values.{name}"] = "an email address"
        else:
            clean[name] = value
    return clean, errors


def _still_valid(fields, values, service_types):
    """Of values filled in under another version of a letter, those that this version's ``fields`` declare, that apply
    to ``service_types`` and that pass its checks."""
    clean, _errors = validate_values(fields, {name: value for name, value in values.items()
                                              if any(f["name"] == name for f in fields)}, service_types)
    return clean


class LetterService:
    def __init__(self, contracts, repository, history):
        self.contracts = contracts
        self.repository = repository
        self.history = history
        self._templates, self._lock = {}, Lock()  # letter template versions by id (``templates_of``)

    # --- templates -------------------------------------------------------------------------------------------------
    def ensure_shipped(self, session, by):
        """Every shipped letter exists as a version. A product upgrade that ships a new text adds it as a new version,
        unless an administrator has added a version of their own since the last shipped one (theirs stays latest)."""
        fields = shipped_fields()
        for code, title in SHIPPED.items():
            source = (LETTERS_DIR / f"{code}.html").read_text(encoding="utf-8")
            digest = template_digest(title, source, fields[code])
            latest = self.latest_version(session, code)
            current = self.template(session, code, latest) if latest else None
            if current is not None and (current.sha256 == digest or not current.note.startswith(SHIPPED_NOTE)):
                continue
            session.add(LetterTemplate(code=code, version=latest + 1, title=title, source=source,
                                       fields_json=canonical_json(fields[code]), sha256=digest, note=SHIPPED_NOTE,
                                       created_by=by))
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
        """Check the declarations, that the text renders in the sandbox on a sample and marks where the customer
        signs, then store a new version. Identical title, text and fields to the latest version create nothing.
        Returns (row, created)."""
        errors = {}
        if not isinstance(code, str) or not CODE.match(code):
            errors["code"] = "lower-case letters, digits and _ (2 to 50), e.g. information_security"
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            errors["title"] = "1 to 200 characters"
        elif hidden := hidden_characters_error(title.strip()):
            errors["title"] = hidden
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
                problem = letter_problems(code, title, source, fields)
            except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
                problem = (f"line {exc.lineno}: {exc}" if getattr(exc, "lineno", None) else str(exc))[:500]
            if problem:
                errors["source"] = problem
        if errors:
            raise ValidationFailed("the letter template is not valid", errors)
        title, digest = title.strip(), template_digest(title.strip(), source, fields)
        latest = self.latest_version(session, code)
        if latest and self.template(session, code, latest).sha256 == digest:
            return self.template(session, code, latest), False
        row = LetterTemplate(code=code, version=latest + 1, title=title, source=source, fields_json=canonical_json(fields),
                             sha256=digest, note=(note or "")[:300], created_by=user.username)
        session.add(row)
        session.flush()
        return row, True

    # --- which letters, pinned -------------------------------------------------------------------------------------
    def mandated(self, session, contract, data):
        """The letters ``data``'s services require, by the decision table of the contract's process version (of the
        latest version for a draft not saved yet, ``contract`` None)."""
        definition_id = self.contracts.definition_id(session, contract.id) if contract is not None else None
        definition = (self.repository.get(session, definition_id) if definition_id is not None
                      else self.repository.latest(session, PROCESS_KEY))
        table = decision_table(definition, LETTERS_DECISION)
        context = SimpleNamespace(data={"service_types": data["service_types"]},
                                  workflow=SimpleNamespace(script_engine=script_engine({})))
        return [{"code": letter["code"], "title": letter["title"]} for letter in table.result(context).get("letters", [])]

    def pin(self, session, contract, version_row):
        """Pin the letters a contract version mandates to the latest template versions now (when the version is
        written): what reviewers read and the customer signs. A mandated letter without any template yet is pinned
        unresolved (``template_id`` None)."""
        pins, mandated = [], self.mandated(session, contract, json.loads(version_row.data_json))
        codes = sorted({letter["code"] for letter in mandated})
        latest = {row.code: row for row in LATEST_TEMPLATES.rows(session, {"codes": codes})} if codes else {}
        if any(code in SHIPPED and code not in latest for code in codes):
            self.ensure_shipped(session, "system")
            latest = {row.code: row for row in LATEST_TEMPLATES.rows(session, {"codes": codes})}
        for letter in mandated:
            template = latest.get(letter["code"])
            if template is None:
                pins.append({"code": letter["code"], "title": letter["title"] or letter["code"], "template_id": None,
                             "template_version": None, "template_sha256": None})
                continue
            pins.append({"code": letter["code"], "title": letter["title"] or template.title, "template_id": template.id,
                         "template_version": template.version, "template_sha256": template.sha256})
        version_row.letters_json = canonical_json(pins)
        session.add(version_row)

    def pin_for_review(self, session, contract):
        """Sales submit: a letter pinned unresolved is pinned again (its template may exist now); while a mandated
        letter still has no template, submitting is refused (the contract would go to review and to the customer
        without it)."""
        if any(pin["template_id"] is None for pin in self.pinned(session, contract)):
            self.pin(session, contract, self.contracts.version(session, contract.id, contract.current_version))
        unresolved = {f"letters.{pin['code']}": f"《{pin['title']}》 has no template yet: an administrator adds one"
                      for pin in self.pinned(session, contract) if pin["template_id"] is None}
        if unresolved:
            raise ValidationFailed("a mandated letter has no template", unresolved)

    def pinned(self, session, contract, version=None):
        """The pins of a contract version (the current one by default), in attachment order: the one list of the
        letters the contract needs, for its document, its listing, the customer's step and activation."""
        row = self.contracts.version(session, contract.id, version or contract.current_version)
        return json.loads(row.letters_json or "[]")

    def templates_of(self, session, pins):
        """The pinned template versions by id. A version never changes once stored (a new text is a new version), so
        each process keeps them: every decision, detail and rendering of a contract asks for its letters' texts."""
        ids = {p["template_id"] for p in pins if p["template_id"] is not None}
        found = {i: self._templates[i] for i in ids if i in self._templates}
        if len(found) < len(ids):
            for row in TEMPLATES_BY_ID.rows(session, {"ids": sorted(ids - found.keys())}):
                found[row.id] = row
                if identity_key(LetterTemplate, row.id) in session.identity_map:
                    continue  # perhaps written by this transaction, which may still roll back: not kept
                with self._lock:
                    self._templates[row.id] = row
                    while len(self._templates) > TEMPLATES_KEPT:
                        self._templates.pop(next(iter(self._templates)))
        return found

    # --- a contract's letters ----------------------------------------------------------------------------------------
    def attached(self, session, contract_id):
        """The letters attached to the contract, in order: rows with the table's columns, to read (``get`` gives the
        one to change)."""
        session.flush()  # as the ORM's autoflush would: a letter changed in this transaction reads as changed
        return ATTACHED.rows(session, {"id": contract_id})

    def get(self, session, contract_id, code):
        row = session.exec(select(ContractLetter).where(ContractLetter.contract_id == contract_id,
                                                        ContractLetter.code == code)).first() if isinstance(code, str) else None
        if row is None:
            raise NotFound(f"the contract has no letter {code!r} attached")
        return row

    def listing(self, session, contract):
        """The contract's ``letters``: each letter its current version pinned, in attachment order, with its status
        (``required`` until attached, then attached / filled / signed; ``no_template`` while none exists), its pinned
        template version and SHA-256, its fields and the values filled in."""
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        pins = self.pinned(session, contract)
        rows = {row.code: row for row in self.attached(session, contract.id)}
        templates = self.templates_of(session, [*pins, *({"template_id": r.template_id} for r in rows.values())])
        result = []
        for position, pin in enumerate(pins, 1):
            row = rows.get(pin["code"])
            template = templates.get(row.template_id if row else pin["template_id"])
            item = {"code": pin["code"], "title": row.title if row else pin["title"], "position": position,
                    "status": row.status if row else ("required" if template else "no_template")}
            if template is not None:
                fields = json.loads(template.fields_json)
                item.update({"template_version": template.version, "template_sha256": template.sha256, "fields": fields,
                             "applicable": [f["name"] for f in fields if applies(f, data["service_types"])],
                             "values": json.loads(row.values_json) if row else {}})
            if row is not None:
                item.update({"filled_at": row.filled_at.isoformat() if row.filled_at else None,
                             "signed_at": row.signed_at.isoformat() if row.signed_at else None})
            result.append(item)
        return result

    def attach(self, session, contract_id, decided=(), actor="system"):
        """Attach the letters the contract's current version pinned, in their order, at the pinned template versions;
        a letter without a filled-in field to ask for is ready (``filled``) at once. ``decided``: what the diagram's
        decision listed at this step; the pins stay the rule (they are what was reviewed), a difference is recorded."""
        contract = self.contracts.get(session, contract_id)
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        pins = self.pinned(session, contract)
        existing = {row.code for row in self.attached(session, contract_id)}
        templates = self.templates_of(session, pins)
        renewed, carried = self._renewed_letters(session, contract)
        added, prefilled = [], []
        for position, pin in enumerate(pins, 1):
            template = templates.get(pin["template_id"])
            if pin["code"] in existing or template is None:
                continue
            fields = json.loads(template.fields_json)
            values = _still_valid(fields, carried.get(pin["code"], {}), data["service_types"])
            needs_values = any(f.get("required") and applies(f, data["service_types"]) and f["name"] not in values
                               for f in fields)
            session.add(ContractLetter(contract_id=contract_id, code=pin["code"], title=pin["title"], position=position,
                                       template_id=template.id, template_version=template.version,
                                       template_sha256=template.sha256, status="attached" if needs_values else "filled",
                                       values_json=canonical_json(values),
                                       filled_at=utcnow() if values and not needs_values else None,
                                       filled_by="system" if values else ""))
            added.append({"code": pin["code"], "template_version": template.version, "template_sha256": template.sha256})
            if values:
                prefilled.append({"letter": pin["code"], "fields": sorted(values), "complete": not needs_values})
        session.flush()
        events = []
        if added:
            events.append({"event": "letters_attached", "actor": actor, "details": {"letters": added}})
        if prefilled:
            events.append({"event": "letters_prefilled", "actor": "system", "details": {
                "renewal_of_id": renewed.id, "number": renewed.number, "letters": prefilled}})
        listed = [letter.get("code") for letter in decided or () if isinstance(letter, dict)]
        if decided and sorted(listed) != sorted(pin["code"] for pin in pins):
            events.append({"event": "letters_differ_from_review", "actor": "system",
                           "details": {"decided": listed, "pinned": [pin["code"] for pin in pins]}})
        return events

    def _renewed_letters(self, session, contract):
        """(the contract a renewal renews, {code: the values its customer filled in}); nothing for a contract that
        renews none, or whose customer (credit code) is another."""
        renewed = session.get(Contract, contract.renewal_of_id) if contract.renewal_of_id is not None else None
        if renewed is None or renewed.customer_credit_code != contract.customer_credit_code:
            return None, {}
        return renewed, {row.code: json.loads(row.values_json) for row in self.attached(session, renewed.id)}

    def store_values(self, session, contract, code, values, actor):
        """Validate a letter's values field by field and keep them (filling again replaces unsigned values)."""
        if contract.status not in FILL_STATUSES:
            raise Conflict(f"letters are filled in while the contract waits for the customer's signature "
                           f"(it is {contract.status})")
        letter = self.get(session, contract.id, code)
        if letter.status == "signed":
            raise Conflict("this letter is already signed")
        template = session.get(LetterTemplate, letter.template_id)
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        clean, errors = validate_values(json.loads(template.fields_json), values, data["service_types"])
        if errors:
            raise ValidationFailed("the letter's fields are not valid", errors)
        letter.values_json, letter.status = canonical_json(clean), "filled"
        letter.filled_at, letter.filled_by = utcnow(), actor.username[:300]
        session.add(letter)
        self.history.record(session, "letter_filled", actor.username, contract_id=contract.id,
                            details={"letter": code, "fields": sorted(clean)})
        return letter

    def attach_when_customer_task_opens(self, session, step):
        """Step listener: when the customer task opens (after attach_letters, or back from the gate), attach the
        mandated letters the decision listed."""
        if not step.of_contract:
            return
        for task in step.new_tasks:
            if task["role"] != "customer":
                continue
            spiff_task = next((t for t in step.ready if str(t.id) == task["id"]), None)
            letters = (spiff_task.data.get("letters") if spiff_task is not None else None) or []
            step.events.extend(self.attach(session, step.contract_id, letters))

    # --- the activation gate -------------------------------------------------------------------------------------------
    def missing(self, session, contract_id):
        """{"letters.<code>": what is missing} for every letter the contract's version pinned that is not attached,
        filled or signed, and {"signatures.<id>": ...} for a signature whose image no longer matches its hash."""
        contract = session.get(Contract, contract_id)
        if contract is None:  # an instance whose business key names no contract (engine benchmarks): nothing to check
            return {}
        rows = {row.code: row for row in self.attached(session, contract.id)}
        problems = {}
        for pin in self.pinned(session, contract):
            row = rows.get(pin["code"])
            key = f"letters.{pin['code']}"
            if pin["template_id"] is None:
                problems[key] = "no template"
            elif row is None:
                problems[key] = "not attached"
            elif row.status == "attached":
                problems[key] = "not filled"
            elif row.status != "signed" or row.signature_id is None:
                problems[key] = "not signed"
        for signature in session.exec(select(Signature).where(Signature.contract_id == contract.id)):
            if signature.image_png is not None and \
                    sha256_hex(signature.image_png) != signature.image_sha256:
                problems[f"signatures.{signature.id}"] = "signature image does not match its record"
        return problems
