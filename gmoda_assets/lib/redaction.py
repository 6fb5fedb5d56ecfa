"""Database errors told without the values they concern.

PostgreSQL's errors quote data: the primary message names the offending input (``invalid input syntax for type
integer: "..."``), DETAIL shows whole rows (``Failing row contains (...)``) and COPY's CONTEXT quotes the raw
line. Dagster keeps the message, the chained causes and the stack of every failure in its event log, which
anyone who can open the UI reads. So a database error leaves platform code as a ``Failure`` that names its
SQLSTATE and its primary message with every quoted value withheld (names of columns, tables and constraints
stay: they say where to look), and chains nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

WITHHELD = "[value withheld]"
# A quoted name after the word that says what it names; any other quoted text is a value.
_QUOTED = re.compile(
    r'(?P<name>\b(?:column|relation|table|constraint|index|schema|function|type|sequence|role|database|encoding|'
    r'operator|trigger|view|cursor|savepoint|parameter|collation)\s+"[^"]*")|"[^"]*"'
)
# Invalid bytes are shown one only: up to four of them are a fragment of a value.
_BYTES = re.compile(r"(0x[0-9a-fA-F]{2})(?:\s+0x[0-9a-fA-F]{2})+")


def redacted(message: str) -> str:
    """The first line of a database message with its quoted values withheld."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    first = _QUOTED.sub(lambda m: m.group("name") or WITHHELD, first)
    return _BYTES.sub(r"\1", first)


def describe_database_error(exc: BaseException) -> str:
    """SQLSTATE, class and redacted primary message of a psycopg, psycopg2 or SQLAlchemy database error."""
    error = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(error)
    return f"Database error {sqlstate or '(no SQLSTATE)'} ({type(error).__name__}): {redacted(primary)}"


def _database_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    from sqlalchemy.exc import DBAPIError

    return psycopg.Error, DBAPIError


@contextmanager
def database_errors_redacted() -> Iterator[None]:
    """Re-raise a database error raised inside as a ``dagster.Failure`` saying only what
    ``describe_database_error`` says, with no cause or context attached."""
    from dagster import Failure

    try:
        yield
    except _database_errors() as exc:
        raise Failure(
            description=f"{describe_database_error(exc)}. Values are withheld, as they may be "
            "identifiers; the database server's own log, which only its administrators read, holds the full error."
        ) from None
