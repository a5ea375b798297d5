"""Database engine and transactions.

SQLite is the embedded default and PostgreSQL the production database. Both must give
the same guarantees to concurrent writers, so SQLite is set up the way that was shown to
hold under threads and processes here: the driver's own transaction handling is switched
off, WAL journal, and ``BEGIN IMMEDIATE`` for write transactions only (read transactions
stay deferred, so two readers in one thread never deadlock).
"""
import hashlib
import logging
import re
import sqlite3
import time
from collections import namedtuple
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.engine import make_url
from sqlmodel import Session

from .errors import Conflict, Unavailable

WRITE_OPTION = "qianyue_write"
AFTER_COMMIT = "qianyue_after_commit"
AFTER_ROLLBACK = "qianyue_after_rollback"
log = logging.getLogger(__name__)
_STATEMENTS = ContextVar("qianyue_statements", default=None)


class StatementCount:
    """The statements sent to the database from this context (a request: its access log line) since ``start``: what
    the app runs through SQLAlchemy or ``Statement``, and each transaction's BEGIN and its COMMIT or ROLLBACK, which
    are round trips too. Counting costs a context-variable read per statement."""

    def __init__(self):
        self.value = 0
        self._token = _STATEMENTS.set(self)

    def stop(self):
        _STATEMENTS.reset(self._token)
        return self.value


def _count(statements=1):
    counting = _STATEMENTS.get()
    if counting is not None:
        counting.value += statements


def after_commit(session, callback):
    """Run ``callback`` once the write transaction of ``session`` has committed (never after a rollback)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def after_rollback(session, callback):
    """Run ``callback`` once the write transaction of ``session`` has rolled back because of an error, e.g. to record
    in a transaction of its own what failed (the failed work itself is gone). Never after a commit."""
    session.info.setdefault(AFTER_ROLLBACK, []).append(callback)


def serialize_on(session, *names):
    """Hold the caller's write transaction until every other transaction serialised on one of ``names`` has ended, and
    keep them waiting until this one ends: a count followed by an insert (or a read followed by a write) is then one
    step for everyone who counts the same things, however many arrive at once.

    PostgreSQL: a transaction-scoped advisory lock per name (64 bits of its SHA-256), taken in ascending order so two
    transactions that share names never deadlock, released at commit or rollback, after the commit is visible, so the
    next holder's reads (READ COMMITTED: each statement sees what was committed before it) see this one's rows.
    SQLite: nothing to do, a write transaction (``BEGIN IMMEDIATE``) already excludes every other writer.
    """
    if session.connection().dialect.name != "postgresql":
        return
    for key in sorted({int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True) for name in names}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def normalize_url(url):
    """Accept URLs as users write them (``postgres://``, ``postgresql://``) and pick psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url, echo=False):
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
    else:
        engine = create_engine(parsed, echo=echo, pool_size=10, max_overflow=20)
        _ping_when_idle(engine)
    _count_statements(engine)
    return engine


def _count_statements(engine):
    """What SQLAlchemy sends counts in ``StatementCount`` (``Statement`` counts its own)."""
    @event.listens_for(engine, "before_cursor_execute")
    def on_execute(_connection, _cursor, _statement, parameters, _context, executemany):
        _count(len(parameters) if executemany else 1)

    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, lambda _connection: _count())


IDLE_BEFORE_PING = 10.0  # seconds


def _ping_when_idle(engine):
    """Check a pooled connection before use only when it sat idle (SQLAlchemy's pool_pre_ping checks every time).

    An idle connection is the one a server restart or an idle timeout has silently closed; one returned to the
    pool a moment ago is alive, and pinging it would cost a round trip per transaction. A failed ping makes the
    pool replace the connection (SQLAlchemy retries the checkout on DisconnectionError).
    """
    @event.listens_for(engine, "connect")
    def on_connect(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) > IDLE_BEFORE_PING:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as exc:
                raise DisconnectionError(f"stale pooled connection: {exc}") from exc


def _configure_sqlite(engine):
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):  # straight to the driver: this runs once per transaction
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Statement:
    """Hot-path SQL run on the driver's own cursor, inside the session's transaction.

    SQLAlchemy's execution layer costs about 40 µs a statement here (the driver itself 3-7 µs on
    SQLite), and a decision runs a dozen statements, so the statements of every step bypass it.
    Written once with ``:name`` binds and rendered per dialect (psycopg's ``%(name)s``); ``typed``
    maps a bind name to the column whose type converts it (aware datetimes); a bind named in
    ``lists`` takes a sequence (``IN :ids``) and gets one placeholder per item. ``columns`` types
    the result (datetimes come back aware on SQLite too); rows are namedtuples.
    """

    _PLACEHOLDER = re.compile(r"(?<![:\w]):(\w+)")

    def __init__(self, sql, columns=(), lists=(), **typed):
        self.sql, self.columns, self.lists, self.typed = sql, tuple(columns), frozenset(lists), typed
        self._compiled = {}
        self._row = None

    def _for(self, dialect, sizes=()):
        key = (dialect.name, sizes)
        compiled = self._compiled.get(key)
        if compiled is None:
            sql = self.sql
            for name, size in sizes:
                sql = re.sub(rf":{name}\b", ", ".join(f":{name}_{i}" for i in range(size)) or "NULL", sql)
            if dialect.paramstyle == "pyformat":
                sql = self._PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))
            binds = [(name, column.type.dialect_impl(dialect).bind_processor(dialect)) for name, column in self.typed.items()]
            results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in self.columns]
            compiled = self._compiled[key] = (sql, [b for b in binds if b[1]], results if any(results) else None)
        return compiled

    def _cursor(self, session, params):
        """The driver's cursor in the session's transaction (begun by ``session.connection()``), SQL and binds."""
        connection = session.connection()
        sizes = tuple((name, len(params[name])) for name in sorted(self.lists))
        sql, binds, results = self._for(connection.dialect, sizes)
        _count()
        if binds or sizes:
            params = self._bind(params, binds, sizes)
        return connection.connection.driver_connection.cursor(), sql, params, results

    @staticmethod
    def _bind(params, binds, sizes=()):
        params = dict(params)
        for name, size in sizes:
            params.update((f"{name}_{i}", value) for i, value in enumerate(params.pop(name)))
        for name, process in binds:
            if name in params:
                params[name] = process(params[name])
        return params

    def execute(self, session, params=None):
        """Run the statement; returns the number of rows it changed."""
        return self.send(session, params).rowcount

    def send(self, session, params=None):
        """Run the statement and return its cursor (inside a ``Pipeline``, ``rowcount`` is known once it ends)."""
        cursor, sql, params, _ = self._cursor(session, params or {})
        cursor.execute(sql, params)
        return cursor

    def execute_many(self, session, rows):
        """Run the statement once per parameter dict (one call to the driver)."""
        if rows:
            connection = session.connection()
            sql, binds, _ = self._for(connection.dialect)
            _count(len(rows))
            connection.connection.driver_connection.cursor().executemany(
                sql, [self._bind(row, binds) for row in rows] if binds else rows)

    def rows(self, session, params=None):
        cursor, sql, params, results = self._cursor(session, params or {})
        cursor.execute(sql, params)
        fetched = cursor.fetchall()  # first: in a pipeline the description arrives with the rows
        row_type = self._row_type(cursor)
        if results is None:
            return [row_type._make(row) for row in fetched]
        return [row_type._make(p(v) if p else v for p, v in zip(results, row)) for row in fetched]

    def first(self, session, params=None):
        rows = self.rows(session, params)
        return rows[0] if rows else None

    def scalar(self, session, params=None):
        row = self.first(session, params)
        return row[0] if row else None

    def _row_type(self, cursor):
        if self._row is None:
            names = [c.name for c in self.columns] or [d[0] for d in cursor.description]
            self._row = namedtuple("Row", names, rename=True)
        return self._row


class ManyRows:
    """One statement for many rows: ``sql`` holds ``{rows}``, where ``row`` (e.g. ``(:kind, :body)``) is repeated once a
    row, so N rows are one statement and one round trip where ``Statement.execute_many`` sends N. ``typed`` maps a
    bind name of ``row`` to its column, as for ``Statement``; ``rows`` runs it (``CHUNK`` rows at most a statement,
    within both databases' limits on bind parameters) and returns what a RETURNING clause gives, in no promised order.
    """

    CHUNK = 500

    def __init__(self, sql, row, **typed):
        self.sql, self.row, self.typed = sql, row, typed
        self.names = list(dict.fromkeys(Statement._PLACEHOLDER.findall(row)))
        self._by_count = {}

    def _statement(self, count):
        statement = self._by_count.get(count)
        if statement is None:
            rows = ", ".join(Statement._PLACEHOLDER.sub(rf":\1_{i}", self.row) for i in range(count))
            typed = {f"{name}_{i}": column for name, column in self.typed.items() for i in range(count)}
            statement = self._by_count[count] = Statement(self.sql.replace("{rows}", rows), **typed)
        return statement

    def rows(self, session, rows):
        found = []
        for start in range(0, len(rows), self.CHUNK):
            chunk = rows[start:start + self.CHUNK]
            params = {f"{name}_{i}": row[name] for i, row in enumerate(chunk) for name in self.names}
            found += self._statement(len(chunk)).rows(session, params)
        return found


class Pipeline:
    """Statements whose results nobody waits for, sent together: one round trip on PostgreSQL (psycopg's pipeline
    mode) instead of one each. Elsewhere they simply run as they come.

    Row counts are not known inside the block (psycopg reports -1), so a statement that must change exactly one
    row says so with ``expect_one`` and the check runs when the block ends, raising ``Conflict`` with its message.
    Only driver-level statements belong inside: SQLAlchemy reads row counts as it goes.
    """

    def __init__(self, session):
        self.session = session
        self._expected = []
        self._pipeline = None

    def __enter__(self):
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            self._pipeline = connection.connection.driver_connection.pipeline()
            self._pipeline.__enter__()
        return self

    def send(self, statement, params, expect_one=None):
        cursor = statement.send(self.session, params)
        if expect_one is not None:
            self._expected.append((cursor, expect_one))
        return cursor

    def __exit__(self, *exc_info):
        if self._pipeline is not None:
            self._pipeline.__exit__(*exc_info)  # sends what is queued and waits for the results
        if exc_info[0] is None:
            for cursor, message in self._expected:
                if cursor.rowcount != 1:
                    raise Conflict(message)
        return False


def insert_statement(table, exclude=(), returning=None):
    """``INSERT INTO table (columns) VALUES (:column, ...)`` over every column not excluded, typed by the table."""
    columns = [c for c in table.c if c.name not in exclude]
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join(':' + c.name for c in columns)})" + (f" RETURNING {returning}" if returning else ""))
    return Statement(sql, **{c.name: c for c in columns})


# SQLSTATEs of a race another writer won: unique key taken, serialization failure, deadlock
RACE_STATES = frozenset({"23505", "40001", "40P01"})
# connection exceptions (class 08), the server shutting down or starting (57P01-57P03), too many connections
OUTAGE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
RACE_LOST = "another change to the same record was saved at the same moment; reload and try again"
DATABASE_DOWN = "the database did not answer; nothing was saved: try again in a moment"


def _driver_error(exc):
    """The driver's exception behind ``exc``: SQLAlchemy wraps it, the hot-path statements raise it as is."""
    return exc.orig if isinstance(exc, DBAPIError) else exc


def domain_error(exc):
    """What a database failure means to the caller, or None for a defect: a race another writer won is a Conflict
    (409; the loser's transaction changed nothing), an outage is Unavailable (503; nothing was applied, safe to
    retry). Any other database error is a bug and stays what it is."""
    driver = _driver_error(exc)
    if isinstance(driver, psycopg.Error):
        state = driver.sqlstate or ""
        if state in RACE_STATES:
            return Conflict(RACE_LOST)
        if isinstance(driver, psycopg.OperationalError | psycopg.InterfaceError) and (
                not state or state.startswith(OUTAGE_STATES)):
            return Unavailable(DATABASE_DOWN)
    elif isinstance(driver, sqlite3.Error):
        name = getattr(driver, "sqlite_errorname", "")
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return Conflict(RACE_LOST)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")):
            return Unavailable(DATABASE_DOWN)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Unavailable(DATABASE_DOWN)
    return None


@contextmanager
def _meaning_of_failures():
    try:
        yield
    except (DBAPIError, psycopg.Error, sqlite3.Error) as exc:
        meaning = domain_error(exc)
        if meaning is None:
            raise
        raise meaning from exc


class Database:
    """Owns the engine; hands out sessions for reading and one transaction per state change."""

    def __init__(self, url, echo=False):
        self.url = normalize_url(url)
        self.engine = make_engine(url, echo=echo)

    @property
    def is_sqlite(self):
        return self.url.get_backend_name() == "sqlite"

    @contextmanager
    def read(self):
        """A session for reading; a database that does not answer is ``Unavailable``."""
        with _meaning_of_failures(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self):
        """One transaction: committed when the block ends, rolled back on any exception. A race another writer won
        is a ``Conflict``, a database that does not answer ``Unavailable`` (``domain_error``)."""
        with _meaning_of_failures(), Session(self.engine, expire_on_commit=False) as session:
            try:
                session.connection(execution_options={WRITE_OPTION: True})
                yield session
                session.commit()
            except BaseException:
                try:
                    session.rollback()
                except (DBAPIError, psycopg.Error, sqlite3.Error):
                    log.warning("the rollback failed too (the connection is gone)", exc_info=True)
                session.info.pop(AFTER_COMMIT, None)
                for callback in session.info.pop(AFTER_ROLLBACK, []):
                    try:
                        callback()
                    except Exception:  # the original error is what the caller must see
                        log.exception("a callback after the rollback failed")
                raise
            session.info.pop(AFTER_ROLLBACK, None)
            for callback in session.info.pop(AFTER_COMMIT, []):
                callback()

    def dispose(self):
        self.engine.dispose()
