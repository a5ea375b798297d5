"""Commitment letters printed as the contract's attachments (附件), rendered from their admin-edited bodies.

A letter body sees exactly what the standalone letter page gives it (``LetterService.render_html``):
``values``, ``applies``, ``customer``, ``provider``, ``number`` and ``title``. It is rendered in its own
sandbox, without the contract templates' filters, so a letter version that renders alone renders here too.
"""

from functools import lru_cache

from jinja2 import StrictUndefined, select_autoescape
from markupsafe import Markup

from workflows.documents.assets import embedding_problem
from workflows.documents.formatting import chinese_numeral
from workflows.documents.places import LETTER_AREAS, letter_place, missing_places
from workflows.documents.sandbox import BoundedSandbox

LETTER_ENVIRONMENT = BoundedSandbox(autoescape=select_autoescape(default=True, default_for_string=True),
                                    undefined=StrictUndefined)
SAMPLE = {"number": "SAMPLE0000000000", "customer": {"name": "示例客户"}, "provider": {"name": "示例分公司"},
          "service_types": []}


def field_applies(field: dict, service_types) -> bool:
    """Whether a declared field applies to a contract with ``service_types`` (``applies_when.service_types_any``)."""
    wanted = (field.get("applies_when") or {}).get("service_types_any")
    return not wanted or bool(set(wanted) & set(service_types))


@lru_cache(maxsize=64)
def compiled_letter(source: str):
    """A letter template version, compiled once per process."""
    return LETTER_ENVIRONMENT.from_string(source)


def render_letter_body(source: str, fields: list, values: dict, document: dict) -> Markup:
    """A letter body as HTML: every declared field is in ``values`` ("" when unfilled, which the body prints as a
    blank to fill in), ``applies`` says which fields this contract's services call for.

    ``document``: number, title (the letter's), customer, provider, service_types. Template errors propagate:
    the letters service reports them to the admin who wrote the version.
    """
    service_types = document.get("service_types") or []
    context = {"values": {field["name"]: values.get(field["name"], "") for field in fields},
               "applies": {field["name"]: field_applies(field, service_types) for field in fields},
               "customer": document["customer"], "provider": document["provider"],
               "number": document["number"], "title": document["title"]}
    return Markup(compiled_letter(source).render(context))


def in_attachment_order(letters: list) -> list:
    """Attached letters by their ``position``; letters only listed (not attached yet) after them, as listed.

    One order for the attachment list, the clauses that cite 附件一/附件二 and the attachment pages.
    """
    return sorted(letters, key=lambda letter: (letter.get("position") is None, letter.get("position") or 0))


def attachment_sections(contract: dict) -> list[dict]:
    """The pages after the signature page: each letter that carries its template ``source``, numbered as the
    contract's attachment list numbers it."""
    data = contract["data"]
    sections = []
    for index, letter in enumerate(in_attachment_order(contract.get("letters") or []), start=1):
        if not letter.get("source"):
            continue
        document = {"number": contract["number"], "title": letter["title"], "customer": data["customer"],
                    "provider": data["provider"], "service_types": data.get("service_types") or []}
        body = render_letter_body(letter["source"], letter.get("fields") or [], letter.get("values") or {}, document)
        sections.append({"code": letter["code"], "title": letter["title"], "numeral": chinese_numeral(index),
                         "body": body, "has_title": "<h1" in body})
    return sections


def letter_problems(code: str, title: str, source: str, fields: list) -> str | None:
    """Why an administrator's letter version cannot be used, or None: it must render in the sandbox on a sample, embed
    no file and mark where the customer signs (``place-letter-<code>`` with its seal, sign and date areas). Template
    errors propagate, with their line."""
    body = render_letter_body(source, fields, {}, {**SAMPLE, "title": title})
    embedding = embedding_problem(str(body))
    if embedding:
        return embedding
    missing = missing_places(str(body), {letter_place(code): LETTER_AREAS})
    if missing:
        return ("mark where the customer signs: an element id=\"place-letter-" + code + "\" holding elements of class "
                "place-seal, place-sign and place-date (missing: " + ", ".join(missing) + ")")
    return None
