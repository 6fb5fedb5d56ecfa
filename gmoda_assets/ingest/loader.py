"""Loading one partner file into its raw table with COPY, all of its rows or none.

The file is checked against its contract before any row moves (not empty, text not binary, a header with
exactly the contract's columns), then streamed as delivered into PostgreSQL's own CSV parser, which also
enforces the contract's encoding and catches ragged rows. A file that fails any of this is rejected with a
reason naming the drop, the file, the row, the column and what was expected; the caller quarantines it.
Bad values in an otherwise well-formed file are loaded as delivered and flagged by the raw checks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from dataclasses import dataclass, field

from psycopg import errors, sql

from gmoda_assets.ingest.drops import parse_drop_id
from gmoda_assets.lib.contracts import FeedContract
from gmoda_assets.resources.landing_zone import LandingZone

LINEAGE_COLUMNS = {
    "_drop_id": "Drop (Dagster partition key) that delivered the row: <partner>.<feed>/<file>@<hash>.",
    "_file_name": "Name of the delivered file.",
    "_content_hash": "SHA-256 of the delivered file.",
    "_row_number": "Data row number in the file, 1 for the first row after the header.",
    "_loaded_at": "When the row was loaded.",
}
SNIFF_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"


class DropRejected(Exception):
    """A file that cannot be loaded as its contract says; ``reason`` is machine-readable."""

    def __init__(self, reason: dict):
        self.reason = reason
        super().__init__(describe_rejection(reason))


def describe_rejection(reason: dict) -> str:
    where = ", ".join(
        f"{label} {reason[key]!r}" if key == "column" else f"{label} {reason[key]}"
        for key, label in (("row", "row"), ("line", "line"), ("column", "column"))
        if reason.get(key) is not None
    )
    text = f"Drop {reason['drop_id']}: file '{reason['file']}' rejected: {reason['problem']}"
    if where:
        text += f" ({where})"
    if reason.get("expected") is not None:
        text += f"; expected {reason['expected']}"
    if reason.get("found") is not None:
        text += f", found {reason['found']}"
    return text + "."


@dataclass
class LoadOutcome:
    drop_id: str
    feed_id: str
    file_name: str
    content_hash: str
    size_bytes: int
    status: str  # loaded | duplicate
    rows_delivered: int
    rows_loaded: int
    duplicate_of: str | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def raw_table_ident(contract: FeedContract) -> sql.Identifier:
    return sql.Identifier("raw", contract.raw_table)


def ensure_raw_table(conn, contract: FeedContract) -> None:
    """Create the feed's raw table, or add columns a newer contract has; documented with COMMENT ON."""
    table = raw_table_ident(contract)
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = %s",
            (contract.raw_table,),
        )
    }
    missing = [c for c in contract.columns if c.db_name not in existing]
    if not missing:
        return
    if not existing:
        # Lineage values come from settings the loader makes for its transaction, and the row number from a
        # sequence only that feed's (serialised) loads draw on, so COPY can write straight into the table.
        sequence = sql.Identifier("raw", f"{contract.raw_table}__row_seq")
        conn.execute(sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}").format(sequence))
        cols = [sql.SQL("{} text").format(sql.Identifier(c.db_name)) for c in contract.columns]
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({}, "
                "_drop_id text NOT NULL DEFAULT current_setting('gmoda.drop_id'), "
                "_file_name text NOT NULL DEFAULT current_setting('gmoda.file_name'), "
                "_content_hash text NOT NULL DEFAULT current_setting('gmoda.content_hash'), "
                "_row_number integer NOT NULL DEFAULT nextval({}) - current_setting('gmoda.row_base')::bigint, "
                "_loaded_at timestamptz NOT NULL DEFAULT now())"
            ).format(table, sql.SQL(", ").join(cols), sql.Literal(f"raw.{contract.raw_table}__row_seq"))
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (_drop_id)").format(
                sql.Identifier(f"{contract.raw_table}__drop"), table
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                table,
                sql.Literal(
                    f"{contract.partner} {contract.feed} ({contract.system}, {contract.delivery}) as delivered: "
                    f"text values, append-only, one row per delivered row. Contract {contract.path.name}."
                ),
            )
        )
        for name, text in LINEAGE_COLUMNS.items():
            conn.execute(
                sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(name), sql.Literal(text))
            )
    for col in missing:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text").format(table, sql.Identifier(col.db_name)))
        note = f"Delivered as '{col.name}' ({col.type}{', ' + col.format if col.format else ''}); canonical field {col.source}"
        if col.identifier:
            note += f"; direct identifier ({col.identifier}): never leaves raw"
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(col.db_name), sql.Literal(note))
        )


def _reason(drop_id: str, file_name: str, problem: str, **where) -> dict:
    return {"drop_id": drop_id, "file": file_name, "problem": problem, **where}


def check_header(contract: FeedContract, drop_id: str, file_name: str, head: bytes) -> list[str]:
    """Raise DropRejected unless ``head`` (the file's first bytes) starts a delimited text file whose header
    holds exactly the contract's columns; return the raw column names in the file's order."""
    if not head.strip():
        raise DropRejected(_reason(drop_id, file_name, "empty file", expected="a header row and data rows", found="no content"))
    controls = sum(b < 32 and b not in (9, 10, 13) for b in head)
    if b"\x00" in head or controls > len(head) // 100:
        raise DropRejected(
            _reason(drop_id, file_name, "binary content, not a delimited text file", line=1,
                    expected=f"{contract.encoding} text", found=f"{controls} control bytes in the first {len(head)}")
        )
    first_line = head.split(b"\n", 1)[0].removeprefix(BOM).rstrip(b"\r")
    try:
        header_text = first_line.decode(contract.encoding)
    except UnicodeDecodeError as exc:
        raise DropRejected(
            _reason(drop_id, file_name, f"header is not valid {contract.encoding}", row=0, line=1,
                    expected=contract.encoding, found=f"byte 0x{first_line[exc.start]:02x} at position {exc.start}")
        ) from exc
    header = [h.strip() for h in next(csv.reader([header_text], delimiter=contract.delimiter, quotechar=contract.quote))]
    expected = [c.name for c in contract.columns]
    missing = [c for c in expected if c not in header]
    unexpected = [h for h in header if h not in expected]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if missing or unexpected or duplicated:
        problem = "; ".join(
            part
            for part in (
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"unexpected column(s) {', '.join(unexpected)}" if unexpected else "",
                f"repeated column(s) {', '.join(duplicated)}" if duplicated else "",
            )
            if part
        )
        raise DropRejected(
            _reason(drop_id, file_name, f"header does not match contract {contract.path.name}: {problem}",
                    row=0, line=1, column=(missing or unexpected or duplicated)[0],
                    expected=expected, found=header)
        )
    by_name = {c.name: c.db_name for c in contract.columns}
    return [by_name[h] for h in header]


_COPY_CONTEXT = re.compile(r"line (\d+)(?:, column ([^:]+))?")


def _copy_rejection(exc: errors.Error, contract: FeedContract, drop_id: str, file_name: str, file_columns: list[str]) -> dict:
    """Turn PostgreSQL's COPY error into a rejection reason naming the line, row and delivered column."""
    context = (exc.diag.context or "").splitlines()[0] if exc.diag.context else ""
    match = _COPY_CONTEXT.search(context)
    line = int(match.group(1)) if match else None
    db_to_name = {c.db_name: c.name for c in contract.columns}
    column = db_to_name.get(match.group(2).strip()) if match and match.group(2) else None
    message = exc.diag.message_primary or str(exc)
    quoted = re.search(r'column "([^"]+)"', message)
    if column is None and quoted:
        column = db_to_name.get(quoted.group(1), quoted.group(1))
    if isinstance(exc, errors.BadCopyFileFormat):
        problem, expected = f"malformed row: {message}", f"{len(file_columns)} fields per row"
    else:
        problem, expected = f"text is not valid {contract.encoding}: {message}", contract.encoding
    return _reason(drop_id, file_name, problem, row=line - 1 if line else None, line=line, column=column, expected=expected)


def count_data_lines(landing_zone: LandingZone, partner: str, file_name: str) -> int:
    """Lines after the header: the rows a file delivered, counted without parsing it (for rejected files)."""
    newlines, last = 0, b""
    for chunk in landing_zone.iter_chunks(partner, file_name):
        newlines += chunk.count(b"\n")
        last = chunk
    lines = newlines + (1 if last and not last.endswith(b"\n") else 0)
    return max(lines - 1, 0)


def load_drop(conn, landing_zone: LandingZone, contract: FeedContract, drop_id: str, run_id: str | None = None) -> LoadOutcome:
    """Load one drop into ``raw.<partner>__<feed>`` and record it in ``ops.drops``, in one transaction.

    Raises DropRejected (nothing loaded) when the file breaks its contract. A file whose content the feed
    already holds loads nothing and is recorded as a duplicate of the drop that first delivered it.
    """
    started = time.perf_counter()
    _, file_name, short_hash = parse_drop_id(drop_id)
    partner = contract.partner
    digest, size = hashlib.sha256(), 0
    head = b""
    for chunk in landing_zone.iter_chunks(partner, file_name):
        digest.update(chunk)
        size += len(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
    content_hash = digest.hexdigest()
    if not content_hash.startswith(short_hash):
        raise FileChanged(
            f"Drop {drop_id}: file '{file_name}' in the landing zone has changed since it was registered "
            f"(now sha256 {content_hash[:12]}); the sensor registers the new content as a new drop."
        )
    file_columns = check_header(contract, drop_id, file_name, head)

    with conn.transaction():
        # One load per feed at a time, so two runs cannot both miss each other's copy of the same content.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (contract.feed_id,))
        earlier = conn.execute(
            "SELECT drop_id, rows_loaded FROM ops.drops WHERE feed_id = %s AND content_hash = %s "
            "AND status = 'loaded' ORDER BY processed_at LIMIT 1",
            (contract.feed_id, content_hash),
        ).fetchone()
        if earlier is not None and earlier[0] == drop_id:
            return LoadOutcome(drop_id, contract.feed_id, file_name, content_hash, size, "loaded", earlier[1], 0,
                               seconds=time.perf_counter() - started, extra={"already_loaded": True})
        if earlier is not None:
            _record(conn, drop_id, contract, file_name, content_hash, size, "duplicate", earlier[1], 0, 0,
                    duplicate_of=earlier[0], run_id=run_id)
            return LoadOutcome(drop_id, contract.feed_id, file_name, content_hash, size, "duplicate", earlier[1], 0,
                               duplicate_of=earlier[0], seconds=time.perf_counter() - started)
        ensure_raw_table(conn, contract)
        base = conn.execute(sql.SQL("SELECT nextval({})").format(sql.Literal(f"raw.{contract.raw_table}__row_seq"))).fetchone()[0]
        conn.execute(
            "SELECT set_config('gmoda.drop_id', %s, true), set_config('gmoda.file_name', %s, true), "
            "set_config('gmoda.content_hash', %s, true), set_config('gmoda.row_base', %s, true)",
            (drop_id, file_name, content_hash, str(base)),
        )
        copy_sql = sql.SQL(
            "COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {}, QUOTE {}, ENCODING {})"
        ).format(
            raw_table_ident(contract),
            sql.SQL(", ").join(map(sql.Identifier, file_columns)),
            sql.Literal(contract.delimiter),
            sql.Literal(contract.quote),
            sql.Literal(contract.pg_encoding),
        )
        try:
            with conn.transaction(), conn.cursor() as cur:  # savepoint: a bad file leaves the outer transaction usable
                with cur.copy(copy_sql) as copy:
                    for chunk in landing_zone.iter_chunks(partner, file_name):
                        copy.write(chunk)
                rows = cur.rowcount
        except (errors.BadCopyFileFormat, errors.CharacterNotInRepertoire, errors.UntranslatableCharacter,
                errors.InvalidTextRepresentation) as exc:
            raise DropRejected(_copy_rejection(exc, contract, drop_id, file_name, file_columns)) from exc
        _record(conn, drop_id, contract, file_name, content_hash, size, "loaded", rows, rows, 0, run_id=run_id)
    return LoadOutcome(drop_id, contract.feed_id, file_name, content_hash, size, "loaded", rows, rows,
                       seconds=time.perf_counter() - started)


class FileChanged(Exception):
    """The file behind a drop id no longer has the content the id names."""


def _record(conn, drop_id, contract, file_name, content_hash, size, status, delivered, loaded, quarantined,
            duplicate_of=None, run_id=None) -> None:
    conn.execute(
        "INSERT INTO ops.drops (drop_id, partner, feed_id, file_name, content_hash, size_bytes, status, "
        "rows_delivered, rows_loaded, rows_quarantined, duplicate_of, dagster_run_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (drop_id, contract.partner, contract.feed_id, file_name, content_hash, size, status, delivered, loaded,
         quarantined, duplicate_of, run_id),
    )


def record_quarantine(conn, drop_id: str, partner: str, feed_id: str | None, file_name: str, content_hash: str,
                      size: int, rows_delivered: int, reason: dict, location: str, run_id: str | None) -> None:
    """Record a rejected file in the ledger (a re-run of the same drop updates its row)."""
    from psycopg.types.json import Jsonb

    conn.execute(
        "INSERT INTO ops.drops (drop_id, partner, feed_id, file_name, content_hash, size_bytes, status, "
        "rows_delivered, rows_loaded, rows_quarantined, reason, quarantine_path, dagster_run_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'quarantined', %s, 0, %s, %s, %s, %s) "
        "ON CONFLICT (drop_id) DO UPDATE SET reason = EXCLUDED.reason, quarantine_path = EXCLUDED.quarantine_path, "
        "dagster_run_id = EXCLUDED.dagster_run_id, processed_at = now()",
        (drop_id, partner, feed_id, file_name, content_hash, size, rows_delivered, rows_delivered, Jsonb(reason),
         location, run_id),
    )
