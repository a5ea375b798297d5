"""The contract's one document: the contract and its mandated letters (as its 附件 pages), rendered from the template
versions the contract version pinned, and the chain of PDFs the signing produces.

- **What reviewers approve** is the *review rendering*: the document of the current version with the letters' fields
  blank. Its SHA-256 goes with every decision (``ApprovalService``) and an approval stores it on the contract
  (``approved_sha256``). Nothing is certified or signed unless the same rendering still gives the same hash.
- **What the customer signs** is the same document with the values they filled into the letters, rendered to PDF and
  certified once (``SigningService.prepare``); that PDF is the first of the contract's signing chain.
- **The chain** is ``signed_document``: each signing act makes a new PDF from the current one. ``contract.document_id``
  moves to it only by a compare-and-set from the PDF it was made from, so of two acts racing on one PDF one wins and
  the other gets a 409; no signature is ever lost.
"""
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import delete
from sqlmodel import select

from ..contracts.diff import field_changes, text_changes
from ..documents import render_contract_html, render_contract_pdf
from ..db import Statement
from ..errors import Conflict, NotFound
from ..fingerprints import canonical_json, sha256_hex
from ..models import DocumentPage, SignedDocument

REVIEW_STATUSES = {"legal_review", "finance_review"}
MOVE_DOCUMENT = Statement("UPDATE contract SET document_id = :new WHERE id = :id AND "
                          "coalesce(document_id, 0) = :expected")
PACKAGE = "package"
DIGESTS_KEPT = 4096  # of each kind, per process


@dataclass(frozen=True)
class PageListing:
    """The pages drawn of a contract's document as it renders now (none while they are drawn), without their bytes."""

    source_sha256: str  # the rendering they show: a page's URL names it, so an image never shows another one
    pages: list  # rows of (number, width, height)


@dataclass(frozen=True)
class DraftPreview:
    html: str
    findings: list  # the reviewers' hints (``ContractService.lint``)


@dataclass(frozen=True)
class DocumentFacts:
    """A document of the signing chain as pages show it and checks compare it: all but its bytes."""

    id: int
    kind: str
    sha256: str
    source_sha256: str
    created_at: datetime


@dataclass(frozen=True)
class Download:
    """A PDF as every door hands it out: its bytes, the file name people see, its SHA-256."""

    pdf: bytes
    filename: str
    sha256: str


class DocumentService:
    def __init__(self, contracts, letters, templates):
        self.contracts = contracts
        self.letters = letters
        self.templates = templates
        self._review_digests, self._html_digests, self._lock = OrderedDict(), OrderedDict(), Lock()

    # --- rendering ----------------------------------------------------------------------------------------------------
    def document(self, session, contract, version=None, with_values=True):
        """What the contract's document renders from: a version's data, the contract template version it was drafted
        on, and the letters that version pinned with their template text (and, once attached, the values filled in),
        its pages marked as the stage it is read at (``_stage``)."""
        version = version or contract.current_version
        data = self.contracts.version_data(session, contract.id, version)
        pins = self.letters.pinned(session, contract, version)
        templates = self.letters.templates_of(session, pins)
        values = {row.code: json.loads(row.values_json) for row in self.letters.attached(session, contract.id)} \
            if with_values else {}
        letters = []
        for position, pin in enumerate(pins, 1):
            template = templates.get(pin["template_id"])
            if template is None:
                continue  # a draft's letter without a template yet: it cannot be submitted so
            letters.append({"code": pin["code"], "title": pin["title"], "position": position,
                            "template_version": template.version, "source": template.source,
                            "fields": json.loads(template.fields_json), "values": values.get(pin["code"], {})})
        return {"number": contract.number, "version": version, "status": _stage(contract, version), "data": data,
                "letters": letters,
                "template_source": self.templates.source(session, contract.template, contract.template_version)}

    def html(self, session, contract, version=None, with_values=True):
        return render_contract_html(self.document(session, contract, version, with_values))

    def html_digest(self, session, contract):
        """The SHA-256 of the document as it renders now, with the values filled in: whether the prepared PDF is still
        that is asked on every view of the signing page. Kept per process by the SHA-256 of everything it renders
        from (the rendering is a function of that alone)."""
        document = self.document(session, contract)
        key = sha256_hex(canonical_json(document))
        digest = self._html_digests.get(key)
        if digest is None:
            digest = sha256_hex(render_contract_html(document))
            with self._lock:
                self._html_digests[key] = digest
                while len(self._html_digests) > DIGESTS_KEPT:
                    self._html_digests.popitem(last=False)
        return digest

    def draft_preview(self, session, draft, contract=None, number="", branch=""):
        """A draft not saved yet, rendered as it would be (the template version of ``contract``, else the latest; for
        the provider it names, else ``branch``), with the points reviewers will raise on it, so sales see them before
        submitting: ValidationFailed with field-level messages when it is not a valid draft."""
        _provider, data = self.contracts.draft(session, draft, branch, contract)
        kind = data["template"]
        version = (contract.template_version if contract and contract.template == kind
                   else self.templates.latest_version(session, kind) or 1)
        saved_as = contract.current_version + 1 if contract else 1  # the version saving it makes, not a "第0版"
        html = render_contract_html({"number": contract.number if contract else number, "version": saved_as,
                                     "status": "draft", "data": data, "letters": [],
                                     "template_source": self.templates.source(session, kind, version)})
        letters = [letter["title"] for letter in self.letters.mandated(session, contract, data)]
        return DraftPreview(html, self.contracts.lint(data, letters))

    def review_digest(self, session, contract):
        """The SHA-256 of what reviewers decide on: the current version's rendering with the letters' fields blank, as
        it will be signed (the same whether sales submit a draft or legal approve it).

        Every decision asks for it, so it is kept per process by everything it is rendered from: the number, the
        version's number and content hash, its pinned letters (with their templates' digests) and the contract
        template's digest. Preparing the document to sign renders it afresh (``fresh_review_digest``)."""
        version = self.contracts.version(session, contract.id, contract.current_version)
        key = (contract.number, version.version, version.sha256, version.letters_json,
               self.templates.digest(session, contract.template, contract.template_version))
        digest = self._review_digests.get(key)
        if digest is None:
            digest = self.fresh_review_digest(session, contract)
            with self._lock:
                self._review_digests[key] = digest
                while len(self._review_digests) > DIGESTS_KEPT:
                    self._review_digests.popitem(last=False)
        return digest

    def fresh_review_digest(self, session, contract):
        document = {**self.document(session, contract, with_values=False), "status": "final"}
        return sha256_hex(render_contract_html(document))

    def render_pdf(self, session, contract, version=None):
        """A rendering to read (a draft, a version under review): PDF bytes, not part of the signing chain."""
        return render_contract_pdf(self.document(session, contract, version))

    def diff(self, session, contract, before, after):
        """Changed fields and changed rendered lines between two versions of a contract."""
        old, new = (self.document(session, contract, version, with_values=False) for version in (before, after))
        # both rendered under one version mark: "第1版" against "第2版" (or against none, once the newer one was sent
        # for signing) on every page is not a change of the text
        same_mark = {"version": new["version"], "status": new["status"]}
        return {"fields": field_changes(old["data"], new["data"]),
                "text": text_changes(render_contract_html({**old, **same_mark}), render_contract_html(new))}

    # --- pages to read on a phone -------------------------------------------------------------------------------------
    def page_listing(self, session, contract):
        """The pages of the contract's document as it renders now, with the values filled in so far."""
        source = sha256_hex(self.html(session, contract))
        return PageListing(source, list(session.exec(
            select(DocumentPage.number, DocumentPage.width, DocumentPage.height)
            .where(DocumentPage.contract_id == contract.id, DocumentPage.source_sha256 == source)
            .order_by(DocumentPage.number))))

    def has_pages(self, session, contract_id, source_sha256):
        first = session.exec(select(DocumentPage.id).where(
            DocumentPage.contract_id == contract_id, DocumentPage.source_sha256 == source_sha256).limit(1)).first()
        return first is not None

    def page_png(self, session, contract, source_sha256, number):
        """One page's PNG of a rendering of ``contract`` (whoever may read the contract may read its pages)."""
        png = session.exec(select(DocumentPage.png).where(
            DocumentPage.contract_id == contract.id, DocumentPage.source_sha256 == source_sha256,
            DocumentPage.number == number)).first()
        if png is None:
            raise NotFound(f"no page {number} of that rendering of contract {contract.number}")
        return png

    def keep_pages(self, session, contract_id, source_sha256, images):
        """The pages of the contract's latest rendering (``workflows.documents.pages``), in place of any before."""
        session.execute(delete(DocumentPage).where(DocumentPage.contract_id == contract_id))
        session.add_all(DocumentPage(contract_id=contract_id, source_sha256=source_sha256, number=image.number,
                                     width=image.width, height=image.height, png=image.png) for image in images)
        session.flush()

    # --- the signing chain --------------------------------------------------------------------------------------------
    def current(self, session, contract):
        """The current PDF of the contract's signing chain (certified, signed, timestamped), or None before it."""
        return session.get(SignedDocument, contract.document_id) if contract.document_id else None

    def current_facts(self, session, contract):
        """The current document without its bytes (half a megabyte and more, which no page reads), or None before it."""
        if not contract.document_id:
            return None
        row = session.exec(select(SignedDocument.id, SignedDocument.kind, SignedDocument.sha256,
                                  SignedDocument.source_sha256, SignedDocument.created_at)
                           .where(SignedDocument.id == contract.document_id)).first()
        return DocumentFacts(*row) if row is not None else None

    def has_package(self, session, contract_id):
        """Whether the final package was built (without reading it)."""
        return session.exec(select(SignedDocument.id).where(
            SignedDocument.contract_id == contract_id, SignedDocument.kind == PACKAGE).limit(1)).first() is not None

    def chain(self, session, contract_id):
        """The current document and every one it was signed from, oldest first (the certified one heads it)."""
        contract = self.contracts.get(session, contract_id)
        rows, row = [], self.current(session, contract)
        while row is not None:
            rows.append(row)
            row = session.get(SignedDocument, row.parent_id) if row.parent_id else None
        return rows[::-1]

    def readable_pdf(self, session, contract, version=None):
        """The contract's PDF to read: a version as reviewed; of the current version, the document of the signing
        chain once there is one (to sign, or signed with every signature so far), else its rendering."""
        if version is not None and not (isinstance(version, int) and 1 <= version <= contract.current_version):
            raise NotFound(f"no version {version} of contract {contract.number}")
        current = self.current(session, contract) if version in (None, contract.current_version) else None
        if current is not None:
            return Download(current.pdf, f"{contract.number}-{'to-sign' if current.kind == 'certified' else 'signed'}.pdf",
                            current.sha256)
        pdf = self.render_pdf(session, contract, version)
        return Download(pdf, f"{contract.number}-v{version or contract.current_version}.pdf", sha256_hex(pdf))

    def package_download(self, session, contract):
        """The final package of an active contract, or None while the worker builds it; Conflict before activation."""
        if contract.status != "active":
            raise Conflict(f"the signed package exists once the contract is active (it is {contract.status})")
        row = self.package(session, contract.id)
        return Download(row.pdf, f"{contract.number}-package.pdf", row.sha256) if row is not None else None

    def package(self, session, contract_id):
        return session.exec(select(SignedDocument).where(
            SignedDocument.contract_id == contract_id, SignedDocument.kind == PACKAGE)
            .order_by(SignedDocument.id.desc()).limit(1)).first()

    def advance(self, session, contract, kind, pdf, *, replaces, parent_id=None, **details):
        """Make ``pdf`` the contract's current document if the current one is still ``replaces`` (the id read before
        the slow work, or None when there was none); Conflict otherwise. ``parent_id``: the PDF it was signed into,
        whose rendering, approval and field places it keeps."""
        parent = session.get(SignedDocument, parent_id) if parent_id else None
        if parent is not None:
            details = {"approved_sha256": parent.approved_sha256, "source_sha256": parent.source_sha256,
                       "places_json": parent.places_json, **details}
        row = SignedDocument(contract_id=contract.id, kind=kind, sha256=sha256_hex(pdf), pdf=pdf, parent_id=parent_id,
                             **details)
        session.add(row)
        session.flush()
        if MOVE_DOCUMENT.execute(session, {"id": contract.id, "new": row.id, "expected": replaces or 0}) != 1:
            raise Conflict("the signed document changed at the same moment (another signature); reload and try again")
        contract.document_id = row.id
        return row

    def add_package(self, session, contract, pdf):
        """The final package: kept beside the chain, never the current document."""
        row = SignedDocument(contract_id=contract.id, kind=PACKAGE, sha256=sha256_hex(pdf), pdf=pdf,
                             parent_id=contract.document_id)
        session.add(row)
        session.flush()
        return row

    def on_record(self, session, digest):
        """The chain rows with this SHA-256 (the uploaded file, or the contract a package embeds)."""
        return list(session.exec(select(SignedDocument).where(SignedDocument.sha256 == digest)))

    def get_current(self, session, contract):
        row = self.current(session, contract)
        if row is None:
            raise NotFound("the contract has no signing document yet")
        return row


def _stage(contract, version):
    """How a version's pages are marked: a draft with sales "草稿 · 第N版"; a version reviewers read and compare (in
    review, or an earlier version of the contract) "第N版"; the current version once sent for signing (what the customer
    signs, the signed and final document) carries no version mark."""
    if contract.status == "draft":
        return "draft"
    if contract.status in REVIEW_STATUSES or version != contract.current_version:
        return "review"
    return "final"
