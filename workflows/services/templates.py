"""Contract templates as managed versions. Version 1 of each kind is the template shipped with the code;
admins add versions; a contract renders with the version it was drafted on."""
import copy
import hashlib
import json
from pathlib import Path
from threading import Lock

from jinja2 import TemplateError
from sqlalchemy import func
from sqlmodel import select

from ..contracts.catalog import DEMO_PROVIDERS, TEMPLATES
from ..contracts.validation import normalize_draft
from ..documents.assets import embedding_problem
from ..documents.places import CONTRACT_PLACES, missing_places
from ..documents.render import compiled, render_contract_html, shipped_source
from ..db import Statement
from ..errors import NotFound, ValidationFailed
from ..models import ContractTemplate

MAX_SOURCE = 200_000
STORED_VERSION = Statement("SELECT source, sha256 FROM contract_template WHERE kind = :kind AND version = :version")
SAMPLES = Path(__file__).resolve().parent.parent / "contracts" / "samples"


def _written_here(session, kind, version):
    """Whether ``session`` itself wrote that version: not kept until committed (its transaction may roll back)."""
    return any(isinstance(row, ContractTemplate) and (row.kind, row.version) == (kind, version)
               for row in session.identity_map.values())


def sample_contract(kind):
    """A realistic contract of ``kind`` to try a new template version on before it is saved."""
    draft = json.loads((SAMPLES / f"{kind}.json").read_text(encoding="utf-8"))
    data = normalize_draft(draft, copy.deepcopy(DEMO_PROVIDERS[0]))
    return {"number": "SAMPLE0000000000", "version": 1, "status": "draft", "data": data,
            "letters": [{"title": "网络及信息安全承诺书", "status": "required"}]}


class TemplateService:
    def __init__(self):
        self._versions, self._lock = {}, Lock()  # (kind, version) -> its stored source and sha256 (``_stored``)

    def ensure_shipped(self, session, by):
        """Version 1 of every kind is the shipped template (idempotent)."""
        for kind in TEMPLATES:
            if self.latest_version(session, kind) == 0:
                source = shipped_source(kind)
                session.add(ContractTemplate(kind=kind, version=1, source=source, sha256=_digest(source),
                                             note="shipped with Qianyue", created_by=by))

    def latest_version(self, session, kind):
        return session.exec(select(func.coalesce(func.max(ContractTemplate.version), 0))
                            .where(ContractTemplate.kind == kind)).one()

    def versions(self, session, kind):
        query = select(ContractTemplate).where(ContractTemplate.kind == kind).order_by(ContractTemplate.version.desc())
        return list(session.exec(query))

    def get(self, session, kind, version):
        row = session.exec(select(ContractTemplate).where(ContractTemplate.kind == kind,
                                                          ContractTemplate.version == version)).first()
        if row is None:
            raise NotFound(f"no template {kind} version {version}")
        return row

    def source(self, session, kind, version):
        """The text to render a contract with; the shipped file when the version was never stored."""
        stored = self._stored(session, kind, version)
        return stored.source if stored is not None else shipped_source(kind)

    def digest(self, session, kind, version):
        """The SHA-256 of the text :meth:`source` gives."""
        stored = self._stored(session, kind, version)
        return stored.sha256 if stored is not None else _digest(shipped_source(kind))

    def _stored(self, session, kind, version):
        """A stored version's text and digest. A version never changes once stored (a new text is a new version), so
        each process keeps those it read: every decision asks for the digest, every rendering for the text."""
        stored = self._versions.get((kind, version))
        if stored is None:
            stored = STORED_VERSION.first(session, {"kind": kind, "version": version})
            if stored is not None and not _written_here(session, kind, version):
                with self._lock:
                    self._versions[(kind, version)] = stored
        return stored

    def add_version(self, session, kind, source, user, note=""):
        """Check the template compiles in the sandbox, renders a sample contract, embeds no file and marks where each
        party signs (the shipped ``signature_page`` macro does), then store it.

        Identical text to the latest version creates nothing. Returns (row, created).
        """
        if kind not in TEMPLATES:
            raise ValidationFailed("unknown template kind", {"kind": f"choose from {', '.join(TEMPLATES)}"})
        if not isinstance(source, str) or not source.strip() or len(source) > MAX_SOURCE:
            raise ValidationFailed("the template text is empty or too long", {"source": f"1 to {MAX_SOURCE} characters"})
        try:
            html = render_contract_html({**sample_contract(kind), "template_source": source})
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            detail = f"line {exc.lineno}: {exc}" if getattr(exc, "lineno", None) else str(exc)
            compiled.cache_clear()
            raise ValidationFailed("the template does not render", {"source": detail[:500]}) from exc
        embedding = embedding_problem(html)
        if embedding:
            raise ValidationFailed("the template embeds files", {"source": embedding})
        missing = missing_places(html, CONTRACT_PLACES)
        if missing:
            raise ValidationFailed("the template does not mark where the parties sign", {
                "source": "call the signature page ({{ parts.signature_page(customer, provider) }}); missing: "
                          + ", ".join(missing)})
        latest = self.latest_version(session, kind)
        if latest and self.get(session, kind, latest).sha256 == _digest(source):
            return self.get(session, kind, latest), False
        row = ContractTemplate(kind=kind, version=latest + 1, source=source, sha256=_digest(source),
                               note=(note or "")[:300], created_by=user.username)
        session.add(row)
        session.flush()
        return row, True


def _digest(source):
    return hashlib.sha256(source.encode("utf-8")).hexdigest()
