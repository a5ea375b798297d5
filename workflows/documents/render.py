"""Contract documents: a normalized contract version rendered to print-ready HTML and PDF."""

from functools import cache, lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

from workflows.documents.attachments import attachment_sections, in_attachment_order
from workflows.documents.formatting import FILTERS
from workflows.documents.numbering import ArticleNumbering
from workflows.documents.places import CONTRACT_PLACES, SignaturePlace, document_places, find_places
from workflows.documents.sandbox import BoundedSandbox
from workflows.errors import ValidationFailed

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_BY_KIND = {
    "network_line": "network_line.html",
    "technical_service": "technical_service.html",
}


@cache
def template_environment() -> BoundedSandbox:
    """Built once per process; sandboxed, bounded and autoescaped because admins edit the templates.

    StrictUndefined makes a misspelt field fail loudly: a blank in a contract is worse than an error.
    Optional fields are read with ``.get()``.
    """
    return BoundedSandbox(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        filters=FILTERS,
    )


def template_name(kind: str) -> str:
    """The template for data["template"]; an unknown kind is the caller's input error."""
    try:
        return TEMPLATE_BY_KIND[kind]
    except KeyError:
        raise ValidationFailed(f"unknown contract template {kind!r}", {"template": "unknown template"}) from None


def template_context(contract: dict) -> dict:
    """What templates see; `items` is passed apart because ``data.items`` is the dict method in Jinja.

    ``attachments`` are the letters' pages, rendered beforehand in the letters' own sandbox (base.html prints them).
    """
    data = contract["data"]
    return {
        "number": contract["number"],
        "version": contract["version"],
        "status": contract["status"],
        "letters": in_attachment_order(contract.get("letters") or []),
        "attachments": attachment_sections(contract),
        "data": data,
        "customer": data["customer"],
        "provider": data["provider"],
        "figures": data["figures"],
        "items": data["items"],
        "numbering": ArticleNumbering(),
    }


def shipped_source(kind: str) -> str:
    """The template text shipped with the code: version 1 of each kind."""
    return (TEMPLATES_DIR / template_name(kind)).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def compiled(source: str):
    """An admin-managed template version, compiled once (it may extend base.html and use macros.html)."""
    return template_environment().from_string(source)


def render_contract_html(contract: dict) -> str:
    """A standalone HTML document (print CSS inside) for one contract version, its letters as the pages after
    the signature page.

    ``contract["template_source"]`` is the template version the contract was drafted on;
    without it the shipped template of the contract's kind is used.
    """
    source = contract.get("template_source")
    template = compiled(source) if source else template_environment().get_template(template_name(contract["data"]["template"]))
    return template.render(template_context(contract))


def laid_out_html(html: str):
    """A document's HTML laid out on A4 pages by WeasyPrint (a ``weasyprint.Document``), loading nothing but packaged
    assets. The one place WeasyPrint is imported for a document: loading it costs about 1 s, which HTML-only callers
    (pages, digests) skip."""
    from workflows.documents.layout import html_document

    return html_document(html).render()


def laid_out(contract: dict):
    """The contract laid out on A4 pages."""
    return laid_out_html(render_contract_html(contract))


def render_contract_pdf(contract: dict) -> bytes:
    """The same document as an A4 PDF; WeasyPrint embeds only the glyphs used (font subsetting)."""
    return laid_out(contract).write_pdf()


def render_document_pdf(contract: dict) -> tuple[bytes, list[SignaturePlace]]:
    """The PDF to certify and sign, and where each signature field goes: one place per party on the signature
    page, one per attached letter on its signing block.

    Same input, same bytes and same places: the signing code puts one pyHanko field on each place.
    Raises ValidationFailed naming the element id of a place the template lacks.
    """
    document = laid_out(contract)
    codes = [letter["code"] for letter in in_attachment_order(contract.get("letters") or []) if letter.get("source")]
    places = find_places(document, document_places(codes))
    return document.write_pdf(), places


SUPPLEMENT_TEMPLATE = "supplement.html"


def render_supplement_html(supplement: dict) -> str:
    """A 补充协议 (``SupplementService.document``: the parties, the changed terms old → new, who signs) as HTML."""
    return template_environment().get_template(SUPPLEMENT_TEMPLATE).render(
        {**supplement, "version": "", "status": "final", "attachments": [], "data": {"title": supplement["title"]}})


def render_supplement_pdf(supplement: dict) -> tuple[bytes, list[SignaturePlace]]:
    """The 补充协议 to certify and sign, and its signature places: the contract's, of the parties that sign it."""
    document = laid_out_html(render_supplement_html(supplement))
    places = {name: areas for name, areas in CONTRACT_PLACES.items() if name in supplement["places"]}
    return document.write_pdf(), find_places(document, places)
