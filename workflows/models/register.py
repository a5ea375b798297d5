"""The contract register: the clause text of each contract's current version, searchable, and people's saved filters.

A contract's rendering is about 240 paragraphs, most of them its template's boilerplate, word for word the same in
every contract of that template. Each distinct paragraph is stored once (``Clause``, keyed by its SHA-256) and a
contract names the paragraphs of its current version (``ContractClause``): 100,000 contracts hold a few million short
rows instead of 100,000 copies of 13,000 characters, and a search matches distinct paragraphs first, then the
contracts that contain them. The index that makes ``text LIKE '%…%'`` fast is the database's own, made by the migration
(not declared here, as SQLAlchemy cannot declare it portably): a pg_trgm GIN index on PostgreSQL, an FTS5 table with the
trigram tokenizer on SQLite.
"""
from datetime import datetime
from typing import Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..clock import utcnow

SEARCH_INDEX_TABLE = "clause_fts"  # SQLite's FTS5 index of clause.text (and its shadow tables clause_fts_*)


def is_declared(name, type_, parent_names):
    """Alembic's ``include_name``: what the models declare, not the search index the migration makes on SQLite (an
    FTS5 virtual table and its shadow tables, which a comparison with the models would otherwise drop)."""
    return not (type_ == "table" and (name == SEARCH_INDEX_TABLE or name.startswith(SEARCH_INDEX_TABLE + "_")))


class Clause(SQLModel, table=True):
    """One distinct paragraph of rendered contract text (a heading, a clause, a table cell), whitespace collapsed."""

    __tablename__ = "clause"

    id: Optional[int] = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    text: str = Field(sa_column=Column(Text, nullable=False))


class ContractClause(SQLModel, table=True):
    """A paragraph of a contract's current version (replaced with every new version)."""

    __tablename__ = "contract_clause"
    __table_args__ = (Index("ix_contract_clause_clause_contract", "clause_id", "contract_id"),)

    contract_id: int = Field(foreign_key="contract.id", primary_key=True)
    clause_id: int = Field(foreign_key="clause.id", primary_key=True)
    version: int  # the contract version the paragraphs were taken from


class SavedFilter(SQLModel, table=True):
    """A register search someone named to run again: its query string as the page and the API read it."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("username", "name"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, index=True)
    name: str = Field(max_length=60)
    query: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
