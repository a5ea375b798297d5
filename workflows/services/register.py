"""The contract register: search every contract one may see, by its facts and by the text of its clauses, with canned
filters, saved filters per person, and the rows an export writes.

One query builder serves the API, the pages and the exports, and applies who sees which contract
(``AccessService.visible_contracts``: staff every one, a customer its bound ones). Pages come from the database
(LIMIT/OFFSET over the order newest first, on an index), with a count that stops at COUNT_LIMIT ("1,000+"). Clause
text is searched in the distinct paragraphs of the contracts' current versions (``workflows.models.register``): a
pg_trgm GIN index on PostgreSQL (``ILIKE``), the FTS5 trigram index on SQLite (``MATCH`` of a quoted phrase; a term of
fewer than 3 characters, which no trigram index can serve, is a ``LIKE`` over the distinct paragraphs there). Every
word of the text must occur in some paragraph.
"""
import re
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import lxml.html
from sqlalchemy import ARRAY, Integer, Text, and_, bindparam, cast, delete, func, literal_column, or_, table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from ..actors import STAFF_ROLES
from ..clock import china_time, utcnow
from ..contracts.catalog import SERVICE_TYPES
from ..contracts.money import to_fen
from ..errors import NotFound, ValidationFailed
from ..fingerprints import sha256_hex
from ..models import Clause, Contract, ContractClause, HumanTask, SavedFilter
from .contracts import STATUS_TITLES

INDEX = "register.index"
EXPORT_LIMIT = 20_000  # rows an export holds; a larger result is refused, to be narrowed
COUNT_LIMIT = 1000  # a search counts its matches up to here ("1,000+")
LARGEST_COUNT = 2**63 - 2  # LIMIT takes a bigint, and the count asks for one more
RESOLVE_LIMIT = 20_000  # paragraph links a clause term's contracts are listed from; more: a template's paragraph
LARGEST_TOTAL = Decimal("999999999999.99")  # the column's Numeric(14, 2)
MAX_DAYS = 3650
MAX_TERMS = 5
SAVED_PER_PERSON = 50
BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "div", "caption", "dt", "dd"}
TRIGRAM = 3  # the shortest term a trigram index finds


@dataclass(frozen=True)
class Page:
    """A page of a register search: its contracts, and how many match (``exact``), or at least (not ``exact``: more
    than ``total`` match, shown as "1,000+")."""

    items: list
    total: int
    exact: bool


@dataclass(frozen=True)
class CannedFilter:
    """A filter people pick by name, with a number of days: ``condition(today, now, days)`` is its SQL condition on
    ``Contract`` (``today`` China's date, ``now`` aware UTC)."""

    code: str
    default_days: int
    condition: object


def _expiring(today, now, days):
    return and_(Contract.status == "active", Contract.effective_to >= today,
                Contract.effective_to <= today + timedelta(days=days))


def _awaiting_customer(today, now, days):
    waiting = select(HumanTask.contract_id).where(HumanTask.role == "customer", HumanTask.state.in_(("open", "suspended")),
                                                  HumanTask.created_at <= now - timedelta(days=days))
    return and_(Contract.status == "awaiting_customer", Contract.id.in_(waiting))


# The canned filters, in the order the page offers them: add one here (and its label in webapp/labels.py).
CANNED_FILTERS = (
    CannedFilter("expiring", 30, _expiring),                    # active, the term ends within N days
    CannedFilter("awaiting_customer", 7, _awaiting_customer),   # sent for signature more than N days ago, unsigned
)
CANNED = {canned.code: canned for canned in CANNED_FILTERS}


@dataclass(frozen=True)
class RegisterQuery:
    """A register search, as read from a query string (``parse``) and written back into one (``query_string``)."""

    number: str | None = None
    customer: str | None = None
    credit_code: str | None = None
    service_type: str | None = None
    status: str | None = None
    min_total: Decimal | None = None
    max_total: Decimal | None = None
    start_from: date | None = None   # the term's first day (effective_from), from ... to
    start_to: date | None = None
    end_from: date | None = None     # the term's last day (effective_to), from ... to
    end_to: date | None = None
    text: str | None = None          # words of the clauses
    canned: str | None = None
    days: int | None = None          # the canned filter's N (its default when not given)

    @classmethod
    def parse(cls, args):
        """From a mapping of query arguments (unknown ones ignored, empty ones absent); ValidationFailed naming each
        argument that is not what it should be, before anything is read."""
        errors, values = {}, {}
        for name, (reader, expected) in READERS.items():
            raw = (args.get(name) or "").strip()
            if not raw:
                continue
            value = reader(raw)
            if value is None:
                errors[name] = expected
            else:
                values[name] = value
        for low, high in (("min_total", "max_total"), ("start_from", "start_to"), ("end_from", "end_to")):
            if low in values and high in values and values[low] > values[high]:
                errors[high] = f"is before {low}"
        if "days" in values and "canned" not in values:
            errors["days"] = "goes with a canned filter (canned)"
        if errors:
            raise ValidationFailed("the search is not valid: " + ", ".join(sorted(errors)), errors)
        return cls(**values)

    @classmethod
    def from_query_string(cls, text):
        return cls.parse(dict(parse_qsl(text)))

    def query_string(self):
        """The search as a query string, its arguments in declared order (what a saved filter keeps)."""
        return urlencode([(f.name, _written(getattr(self, f.name))) for f in fields(self)
                          if getattr(self, f.name) is not None])

    def is_empty(self):
        return not self.query_string()


def _written(value):
    return f"{value:.2f}" if isinstance(value, Decimal) else str(value)


def _text(limit, pattern=None):
    def read(raw):
        return raw if len(raw) <= limit and (pattern is None or pattern.fullmatch(raw)) else None
    return read


def _amount(raw):
    try:
        value = to_fen(raw)
    except ValueError:
        return None
    return value if 0 <= value <= LARGEST_TOTAL else None


def _date(raw):
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def _days(raw):
    return int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_DAYS else None


def _words(raw):
    words = raw.split()
    return " ".join(words) if len(raw) <= 100 and len(words) <= MAX_TERMS else None


READERS = {
    "number": (_text(40), "at most 40 characters"),
    "customer": (_text(100), "at most 100 characters"),
    "credit_code": (lambda raw: raw.upper() if re.fullmatch(r"[0-9A-Za-z]{1,18}", raw) else None,
                    "up to 18 letters and digits of a unified social credit code"),
    "service_type": (lambda raw: raw if raw in SERVICE_TYPES else None, "one of " + ", ".join(SERVICE_TYPES)),
    "status": (lambda raw: raw if raw in STATUS_TITLES else None, "one of " + ", ".join(STATUS_TITLES)),
    "min_total": (_amount, f"an amount in yuan from 0 to {LARGEST_TOTAL}, at most two decimals"),
    "max_total": (_amount, f"an amount in yuan from 0 to {LARGEST_TOTAL}, at most two decimals"),
    "start_from": (_date, "a date written YYYY-MM-DD"),
    "start_to": (_date, "a date written YYYY-MM-DD"),
    "end_from": (_date, "a date written YYYY-MM-DD"),
    "end_to": (_date, "a date written YYYY-MM-DD"),
    "text": (_words, f"at most {MAX_TERMS} words, 100 characters"),
    "canned": (lambda raw: raw if raw in CANNED else None, "one of " + ", ".join(CANNED)),
    "days": (_days, f"a whole number of days from 1 to {MAX_DAYS}"),
}


def clause_texts(html):
    """The paragraphs of a rendered document, as people read them: the text of each innermost block (a heading, a
    clause, a table cell), whitespace collapsed, without the style sheet; distinct, in order."""
    root = lxml.html.document_fromstring(html)
    for unseen in root.xpath("//head|//style|//script"):
        unseen.drop_tree()
    found = {}
    for element in root.iter(*BLOCKS):
        if any(inner.tag in BLOCKS for inner in element.iterdescendants()):
            continue
        text = " ".join(element.text_content().split())
        if text:
            found.setdefault(text, None)
    return list(found)


def _like_pattern(term):
    return "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"


class RegisterService:
    def __init__(self, db, access, contracts, documents, people, jobs):
        self.db = db
        self.jobs = jobs
        self.access = access
        self.contracts = contracts
        self.documents = documents
        self.people = people

    # --- searching ----------------------------------------------------------------------------------------------------
    def page(self, session, actor, query, limit=25, offset=0):
        """The contracts matching ``query`` that ``actor`` may see, newest first, and how many match, counted up to
        COUNT_LIMIT (or to the end of the page asked for, if further): counting every one of 12,000 matches cost more
        than finding the page."""
        where = self._conditions(session, actor, query)
        enough = max(COUNT_LIMIT, min(offset + limit, LARGEST_COUNT))
        counted = session.exec(select(func.count()).select_from(
            select(Contract.id).where(*where).limit(enough + 1).subquery())).one()
        items = session.exec(select(Contract).where(*where).order_by(Contract.created_at.desc(), Contract.id.desc())
                             .limit(limit).offset(offset))
        return Page(list(items), min(counted, enough), counted <= enough)

    def export(self, session, actor, query):
        """Every contract of the search, newest first, with the names of the people they name (for an export); a
        search matching more than EXPORT_LIMIT is refused, before a row is written."""
        where = self._conditions(session, actor, query)
        items = list(session.exec(select(Contract).where(*where)
                                  .order_by(Contract.created_at.desc(), Contract.id.desc()).limit(EXPORT_LIMIT + 1)))
        if len(items) > EXPORT_LIMIT:
            raise ValidationFailed(f"the search matches more than {EXPORT_LIMIT} contracts, what an export holds at "
                                   "most: narrow it", {"query": f"matches more than {EXPORT_LIMIT} contracts"})
        return items, self.people.names(session, {c.created_by for c in items})

    def _conditions(self, session, actor, query):
        where = [self.access.visible_contracts(actor)]
        if query.number:
            where.append(Contract.number.contains(query.number, autoescape=True))
        if query.customer:
            where.append(Contract.customer_name.contains(query.customer, autoescape=True))
        if query.credit_code:
            where.append(Contract.customer_credit_code.startswith(query.credit_code, autoescape=True))
        if query.service_type:  # the column joins the codes with commas; no code is part of another
            where.append(Contract.service_types.contains(query.service_type, autoescape=True))
        if query.status:
            where.append(Contract.status == query.status)
        for column, low, high in ((Contract.total, query.min_total, query.max_total),
                                  (Contract.effective_from, query.start_from, query.start_to),
                                  (Contract.effective_to, query.end_from, query.end_to)):
            if low is not None:
                where.append(column >= low)
            if high is not None:
                where.append(column <= high)
        if query.canned:
            canned = CANNED[query.canned]
            now = utcnow()
            where.append(canned.condition(china_time(now).date(), now, query.days or canned.default_days))
        if query.text:
            postgres = session.get_bind().dialect.name == "postgresql"
            for term in query.text.split():
                where.append(Contract.id.in_(self._naming(session, term, postgres)))
        return where

    def _naming(self, session, term, postgres):
        """The contracts whose clauses hold ``term``, in steps, each a query of its own: the paragraphs (the trigram
        index); then, if at most RESOLVE_LIMIT links name them (a special term: a paragraph of its own in every
        eighth contract), those contracts' ids as a list whose length the planner knows; else (a template's
        paragraph, in every contract of it) the paragraphs' ids as constants, whose frequency it knows. Given the
        paragraphs as a subquery, the planner took a contract's own paragraph for a template's (or the reverse) and
        walked every contract's 231 links: seconds at 100,000 contracts. Ids travel as one text of the dialect's
        list (``{1,2}``, ``[1,2]``): 12,000 ids as as many parameters, or as rows, cost 100-200 ms a statement."""
        found = (self._pg_clauses(term) if postgres else self._sqlite_clauses(term)).subquery()
        paragraphs = session.exec(select(self._id_text(found.c.id, postgres))).one()
        links = (select(ContractClause.contract_id.label("id"))
                 .where(ContractClause.clause_id.in_(self._ids(paragraphs, postgres))).limit(RESOLVE_LIMIT + 1).subquery())
        count, contracts = session.exec(select(func.count(), self._id_text(links.c.id, postgres, distinct=True))).one()
        if count <= RESOLVE_LIMIT:
            return self._ids(contracts, postgres)
        shared = self._ids(paragraphs, postgres) if not postgres else [int(i) for i in paragraphs.strip("{}").split(",")]
        return select(ContractClause.contract_id).where(ContractClause.clause_id.in_(shared))

    @staticmethod
    def _id_text(column, postgres, distinct=False):
        """The ids of ``column`` aggregated into one text: ``{1,2}`` on PostgreSQL, ``[1,2]`` on SQLite."""
        value = cast(column, Text) if postgres else column
        value = value.distinct() if distinct else value
        if postgres:
            return func.concat("{", func.string_agg(value, ","), "}")
        return func.json_group_array(value)

    @staticmethod
    def _ids(ids, postgres):
        """The ids of a text ``_id_text`` made, as rows of one parameter (the planner knows how many)."""
        if postgres:
            return select(func.unnest(cast(bindparam("ids", ids, unique=True), ARRAY(Integer)))
                          .table_valued("value").render_derived().c.value)
        return select(func.json_each(bindparam("ids", ids, unique=True)).table_valued("value").c.value)

    @staticmethod
    def _pg_clauses(term):
        pattern = _like_pattern(term)  # ILIKE only when case matters: LIKE is the cheaper test of each candidate
        return select(Clause.id).where(Clause.text.ilike(pattern, escape="\\") if re.search("[A-Za-z]", term)
                                       else Clause.text.like(pattern, escape="\\"))

    @staticmethod
    def _sqlite_clauses(term):
        if len(term) < TRIGRAM:
            return select(Clause.id).where(Clause.text.like(_like_pattern(term), escape="\\"))
        phrase = '"' + term.replace('"', '""') + '"'
        fts = table("clause_fts")
        return (select(literal_column("rowid").label("id")).select_from(fts)
                .where(literal_column("clause_fts").op("MATCH")(phrase)))

    # --- the clause text ----------------------------------------------------------------------------------------------
    def request_index(self, session, contract_id):
        """In the caller's transaction (a draft created or revised): have the worker take the current version's
        paragraphs soon. Not in the caller's transaction itself: two drafts of one customer write the same new
        paragraphs, and the second would wait on the first's unique index entries until it commits."""
        self.jobs.enqueue(session, INDEX, {"contract_id": contract_id}, contract_id=contract_id,
                          dedupe_key=f"{INDEX}:{contract_id}")

    def index_clauses(self, session, contract):
        """Take the paragraphs of the contract's current version, as reviewers read it (the letters' fields blank), in
        the caller's transaction (the register.index job's)."""
        texts = clause_texts(self.documents.html(session, contract, with_values=False))
        by_digest = {sha256_hex(text.encode()): text for text in texts}
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(Clause).values([{"sha256": digest, "text": text} for digest, text in by_digest.items()])
                        .on_conflict_do_nothing(index_elements=["sha256"]))
        ids = session.exec(select(Clause.id).where(Clause.sha256.in_(list(by_digest)))).all()
        session.execute(delete(ContractClause).where(ContractClause.contract_id == contract.id))
        session.execute(ContractClause.__table__.insert(), [
            {"contract_id": contract.id, "clause_id": clause_id, "version": contract.current_version} for clause_id in ids])

    def index_job(self, job):
        """register.index: a contract's paragraphs as its current version has them (queued with each new version, and
        by the migration for contracts from before the register)."""
        with self.db.write() as session:
            self.index_clauses(session, self.contracts.get(session, job.payload["contract_id"]))

    # --- saved filters ------------------------------------------------------------------------------------------------
    def saved_filters(self, actor):
        """The searches ``actor`` saved, by name."""
        self.access.require_role(actor, *STAFF_ROLES)
        with self.db.read() as session:
            return list(session.exec(select(SavedFilter).where(SavedFilter.username == actor.username)
                                     .order_by(SavedFilter.name)))

    def save_filter(self, actor, name, query):
        """Keep ``query`` (a RegisterQuery) under ``name`` for ``actor``; the same name again replaces its search."""
        self.access.require_role(actor, *STAFF_ROLES)
        name = " ".join((name or "").split()) if isinstance(name, str) else ""
        if not 1 <= len(name) <= 60:
            raise ValidationFailed("a saved filter needs a name of 1 to 60 characters", {"name": "1 to 60 characters"})
        if query.is_empty():
            raise ValidationFailed("there is no search to save: choose a filter first", {"query": "no filter chosen"})
        with self.db.write() as session:  # two saving one name at once: the unique (username, name) makes one a 409
            saved = session.exec(select(SavedFilter).where(SavedFilter.username == actor.username,
                                                           SavedFilter.name == name)).first()
            if saved is None:
                count = session.exec(select(func.count(SavedFilter.id)).where(
                    SavedFilter.username == actor.username)).one()
                if count >= SAVED_PER_PERSON:
                    raise ValidationFailed(f"at most {SAVED_PER_PERSON} saved filters a person: delete one first",
                                           {"name": f"already {SAVED_PER_PERSON} saved filters"})
                saved = SavedFilter(username=actor.username, name=name, query="")
                session.add(saved)
            saved.query = query.query_string()
            session.flush()
            return saved

    def delete_filter(self, actor, filter_id):
        """Delete one of ``actor``'s saved filters; another person's is NotFound, as if it did not exist."""
        self.access.require_role(actor, *STAFF_ROLES)
        with self.db.write() as session:
            saved = session.get(SavedFilter, filter_id) if isinstance(filter_id, int) else None
            if saved is None or saved.username != actor.username:
                raise NotFound(f"no saved filter {filter_id}")
            session.delete(saved)
