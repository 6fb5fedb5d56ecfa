"""Loading one partner file into its raw table with COPY, all of its rows or none.

What is copied is exactly what the drop id's hash names, whatever the partner's transfer does to the file
meanwhile: the file is read once, and that read both hashes it and feeds COPY, so the hash is checked on the
bytes copied before the load commits. The file is checked against its contract before any row moves (not empty,
text not binary, a header with exactly the contract's columns), then streamed as delivered into PostgreSQL's
own CSV parser, which also enforces the contract's encoding and catches ragged rows. Blank lines outside quoted
fields (spreadsheet exports end with them) are left out of the stream and counted. A file that fails any of
this, or whose hash turns out not to be the drop id's, is rolled back and read again the careful way: hashed
first, then set aside in a private spool that is checked and copied, so that a rejection is told of the content
the drop id names, with a reason naming the drop, the file, the row, the line and the column and what was
expected, but never a value from the file: the caller quarantines it. Bad values in an otherwise well-formed
file are loaded as delivered and flagged by the raw checks.
"""

from __future__ import annotations

import csv
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import BinaryIO

from psycopg import errors, sql

from gmoda_assets.ingest.drops import parse_drop_id
from gmoda_assets.ingest.volume import record_volume
from gmoda_assets.lib.contracts import FeedContract
from gmoda_assets.lib.digest import Sha256, sha256_of
from gmoda_assets.lib.redaction import redacted
from gmoda_assets.resources.landing_zone import CHUNK_BYTES, LandingZone

LINEAGE_COLUMNS = {
    "_drop": "Number of the drop that delivered the row: its drop id (the Dagster partition key, "
             "<partner>.<feed>/<file>@<hash>), file name, full SHA-256 and size are its row in ops.drops "
             "(JOIN ops.drops ON drop_number = _drop).",
    "_row_number": "Data row number in the file, 1 for the first row after the header. When the row was loaded "
                   "is its drop's ops.drops.processed_at.",
}
# Lineage an older install kept on every row; now kept once per drop, in ops.drops (the load's time is the
# ledger row's, as both were written by one transaction).
PER_DROP_LINEAGE = {"_file_name": "file_name", "_content_hash": "content_hash", "_loaded_at": "processed_at"}
SNIFF_BYTES = 64 * 1024
SPOOL_IN_MEMORY_BYTES = 16 << 20  # larger files are spooled to a temporary file
BOM = b"\xef\xbb\xbf"
CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r")  # in text, only tab and line ends
ROW_NUMBER_CACHE = 10_000  # row numbers a session draws from its feed's sequence at a time
# The feed's table's: a drop's table has its number as default instead.
_DROP_COLUMN = sql.SQL("_drop integer NOT NULL DEFAULT current_setting('gmoda.drop')::integer")


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
    blank_lines: list[int] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def raw_table_ident(contract: FeedContract) -> sql.Identifier:
    return sql.Identifier("raw", contract.raw_table)


class RawTableOutdated(Exception):
    """The feed's raw table is missing, or lacks columns its contract now has."""


@dataclass(frozen=True)
class _RawTable:
    """The feed's raw table as the catalog has it (no columns: there is none)."""

    columns: set[str]
    partition_key: str | None  # _drop: a table per drop (an older install's: _drop_id); None: one table
    row_number_default: str | None

    @property
    def numbers_rows_plainly(self) -> bool:
        """Whether ``_row_number`` is the sequence's value itself, as the loader restarts it for each drop (an
        older install subtracted a per-drop base from every row)."""
        return self.row_number_default is not None and "gmoda.row_base" not in self.row_number_default


def _raw_table(conn, contract: FeedContract) -> _RawTable:
    # One query of the catalog itself, as every load asks: information_schema.columns took a millisecond or two.
    columns, key, default = conn.execute(
        "SELECT coalesce(array_agg(a.attname::text), '{}'), max(a.attname::text) FILTER (WHERE a.attnum = p.partattrs[0]), "
        "max(pg_get_expr(d.adbin, d.adrelid)) FILTER (WHERE a.attname = '_row_number') "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "LEFT JOIN pg_partitioned_table p ON p.partrelid = c.oid "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE c.oid = to_regclass(%s)",
        (f"raw.{contract.raw_table}",)).fetchone()
    return _RawTable(set(columns), key, default)


def _row_number_default(contract: FeedContract) -> sql.Composed:
    return sql.SQL("nextval({}::regclass)").format(sql.Literal(f"raw.{contract.raw_table}__row_seq"))


def require_raw_table(conn, contract: FeedContract) -> None:
    """Raise RawTableOutdated unless the feed's raw table has every column of its contract. Raw tables are made
    only at set-up, by the administrator: a table the loader created would be the loader's to update."""
    table = _raw_table(conn, contract)
    existing = table.columns
    missing = [c.name for c in contract.columns if c.db_name not in existing]
    if per_row := sorted(existing & set(PER_DROP_LINEAGE)):
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} still has column(s) {', '.join(per_row)} on every row, "
            f"which the loader no longer fills (ops.drops keeps them once per drop); nothing loaded. The platform "
            f"team must run `gmoda db init` (as the administrator) to bring raw up to date.")
    if existing and not missing and not table.numbers_rows_plainly:
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} numbers rows the older way (a base subtracted on "
            f"every row); nothing loaded. The platform team must run `gmoda db init` (as the administrator) to bring "
            f"raw up to date.")
    if existing and not missing and table.partition_key != "_drop":
        shape = ("keys its drops' tables by drop id, not drop number" if table.partition_key
                 else "is one table for every drop, not a table per drop")
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} {shape}; nothing loaded. The platform team must run "
            f"`gmoda db init` (as the administrator) to bring raw up to date.")
    if missing:
        state = f"lacks column(s) {', '.join(missing)}" if existing else "does not exist"
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} {state} of contract {contract.path.name}; nothing "
            f"loaded. The platform team must run `gmoda db init` (as the administrator) to bring raw up to date.")


def ensure_raw_table(conn, contract: FeedContract) -> None:
    """Create the feed's raw table, or bring an older one up to date (columns a newer contract has, lineage kept
    once per drop, a table per drop, text stored plain); documented with COMMENT ON. Set-up only: run by the administrator, who owns
    raw, so no other role can update or delete its rows."""
    table = raw_table_ident(contract)
    existing = _raw_table(conn, contract).columns
    missing = [c for c in contract.columns if c.db_name not in existing]
    if existing:
        _cache_row_numbers(conn, contract)
        _drop_per_row_lineage(conn, contract, existing)
        if not _raw_table(conn, contract).numbers_rows_plainly:
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN _row_number SET DEFAULT {}").format(
                table, _row_number_default(contract)))
        _partition_by_drop(conn, contract)
    if not existing:
        # Partitioned by drop: each load makes its drop's table and copies into it (``ops.new_drop_table``), so a
        # drop's rows are found by partition pruning rather than an index that COPY would update row by row. The
        # drop's number (ops.drops.drop_number, 4 bytes where the drop id is ~50) is that table's constant default,
        # and the row number comes from a sequence only that feed's (serialised) loads draw on, restarted at 1 for
        # each drop, so COPY can write straight into it. What is the same for every row of a drop (drop id, file
        # name, hash, size, the load's time) is kept once, in ops.drops: on every row it slowed COPY
        # (``bench/raw_load.py``, ``bench/raw_shapes.py``). The feed's table takes the drop's number from a setting
        # no load makes: a row inserted through it rather than loaded is refused.
        conn.execute(sql.SQL("CREATE SEQUENCE IF NOT EXISTS {}").format(_row_sequence(contract)))
        cols = [sql.SQL("{} text").format(sql.Identifier(c.db_name)) for c in contract.columns]
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ({}, {}, "
                "_row_number integer NOT NULL DEFAULT {}) PARTITION BY LIST (_drop)"
            ).format(table, sql.SQL(", ").join(cols), _DROP_COLUMN, _row_number_default(contract))
        )
        _describe_raw_table(conn, contract)
        _comment_lineage(conn, table)
        _cache_row_numbers(conn, contract)
    for col in missing:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text").format(table, sql.Identifier(col.db_name)))
        note = f"Delivered as '{col.name}' ({col.type}{', ' + col.format if col.format else ''}); canonical field {col.source}"
        if col.identifier:
            note += f"; direct identifier ({col.identifier}): never leaves raw"
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(col.db_name), sql.Literal(note))
        )
    _store_plainly(conn, contract)


def _drop_per_row_lineage(conn, contract: FeedContract, existing: set[str]) -> None:
    """Bring an older raw table to lineage kept once per drop: its per-row file name, hash and load time are dropped, but
    only once every drop in the table is shown to have the same values in ops.drops, so nothing is lost. A
    disagreement leaves the columns in place and names the drop (set-up, by the administrator)."""
    per_row = [column for column in PER_DROP_LINEAGE if column in existing]
    if not per_row:
        return
    table = raw_table_ident(contract)
    disagreeing = conn.execute(sql.SQL(
        "SELECT r._drop_id FROM (SELECT DISTINCT _drop_id, {} FROM {}) r "
        "LEFT JOIN ops.drops d ON d.drop_id = r._drop_id AND {} WHERE d.drop_id IS NULL ORDER BY 1 LIMIT 1").format(
        sql.SQL(", ").join(map(sql.Identifier, per_row)), table,
        sql.SQL(" AND ").join(sql.SQL("d.{} = r.{}").format(sql.Identifier(PER_DROP_LINEAGE[c]), sql.Identifier(c))
                              for c in per_row))).fetchone()
    if disagreeing:
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} holds rows of drop {disagreeing[0]} whose "
            f"{' or '.join(per_row)} differ from the drop's row in ops.drops (or it has none); those columns are "
            f"kept until the ledger and the table agree.")
    conn.execute(sql.SQL("ALTER TABLE {} {}").format(table, sql.SQL(", ").join(
        sql.SQL("DROP COLUMN {}").format(sql.Identifier(c)) for c in per_row)))


def _comment_lineage(conn, table: sql.Identifier) -> None:
    for name, text in LINEAGE_COLUMNS.items():
        conn.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(table, sql.Identifier(name), sql.Literal(text)))


def _row_sequence(contract: FeedContract) -> sql.Identifier:
    return sql.Identifier("raw", f"{contract.raw_table}__row_seq")


def _describe_raw_table(conn, contract: FeedContract) -> None:
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(raw_table_ident(contract), sql.Literal(
        f"{contract.partner} {contract.feed} ({contract.system}, {contract.delivery}) as delivered: text values, "
        f"append-only, one row per delivered row, a table per drop (raw.{contract.raw_table}__<file hash>). "
        f"Contract {contract.path.name}.")))


def _store_plainly(conn, contract: FeedContract) -> None:
    """The feed's table's text columns stored plain (its own, not its drops' tables'), as a drop's table copies
    them: a drop's table then has no TOAST table to make (see ``ops.new_drop_table``). Set-up, by the
    administrator; the catalog is read first."""
    toastable = [r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
        "AND attstorage <> 'p' ORDER BY attnum", (f"raw.{contract.raw_table}",))]
    if toastable:
        conn.execute(sql.SQL("ALTER TABLE ONLY {} {}").format(raw_table_ident(contract), sql.SQL(", ").join(
            sql.SQL("ALTER COLUMN {} SET STORAGE PLAIN").format(sql.Identifier(c)) for c in toastable)))


def _cache_row_numbers(conn, contract: FeedContract) -> None:
    """Row numbers are drawn from the feed's sequence in blocks cached by the session (see ``load_drop``) rather than
    a locked, logged sequence update every few rows. The catalog is read first, so that a set-up with nothing to
    change takes no lock a load in progress holds up (set-up, by the administrator)."""
    cache = conn.execute("SELECT cache_size FROM pg_sequences WHERE schemaname = 'raw' AND sequencename = %s",
                         (f"{contract.raw_table}__row_seq",)).fetchone()[0]
    if cache != ROW_NUMBER_CACHE:
        conn.execute(sql.SQL("ALTER SEQUENCE {} CACHE {}").format(_row_sequence(contract), sql.Literal(ROW_NUMBER_CACHE)))


def _partition_by_drop(conn, contract: FeedContract) -> None:
    """Turn an older install's raw table into the feed's table partitioned by drop number, keeping every row and
    its row number. A drop's own table (an older install's was keyed by drop id) moves without a row being copied:
    detached, given ``_drop`` as a constant default (which writes nothing: the value is kept in the catalog) and
    attached again, a read checking the bound. Rows of several drops in one table (an older install's one table
    for every drop, or its ``<raw table>__earlier_drops``) are copied into a table for each drop, numbered anew. A
    drop the ledger does not list is named, and nothing changes (set-up, by the administrator)."""
    key = _raw_table(conn, contract).partition_key
    if key == "_drop":
        return
    table, older_name = raw_table_ident(contract), f"{contract.raw_table}__by_drop_id"
    older = sql.Identifier("raw", older_name)
    # A partition whose bound is one drop the ledger lists moves; what any other holds is copied.
    parts = [] if key is None else conn.execute(
        "SELECT c.relname, d.drop_number FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "LEFT JOIN ops.drops d ON pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES IN (%%L)', d.drop_id) "
        "WHERE i.inhparent = %s::regclass ORDER BY 1", (f"raw.{contract.raw_table}",)).fetchall()
    moved = [(sql.Identifier("raw", name), number) for name, number in parts if number is not None]
    copied = [sql.Identifier("raw", name) for name, number in parts if number is None] if key else [table]
    held = sql.SQL(" UNION ALL ").join(sql.SQL("SELECT _drop_id FROM {}").format(t) for t in copied)
    drops = conn.execute(sql.SQL(
        "SELECT r._drop_id, d.drop_id FROM (SELECT DISTINCT _drop_id FROM ({}) h) r "
        "LEFT JOIN ops.drops d ON d.drop_id = r._drop_id ORDER BY 1").format(held)).fetchall() if copied else []
    if unlisted := [drop for drop, listed in drops if listed is None]:
        raise RawTableOutdated(
            f"Feed {contract.feed_id}: raw.{contract.raw_table} holds rows of drop {unlisted[0]}, which ops.drops does "
            f"not list; it is kept as it is until the ledger lists every drop it holds.")
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(table, sql.Identifier(older_name)))
    copied = [older if t == table else t for t in copied]
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING COMMENTS, {}) PARTITION BY LIST (_drop)")
                 .format(table, older, _DROP_COLUMN))
    conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN _drop_id").format(table))
    _describe_raw_table(conn, contract)
    _comment_lineage(conn, table)
    for drop_table, number in moved:
        conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(older, drop_table))
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN _drop integer NOT NULL DEFAULT {}, DROP COLUMN _drop_id")
                     .format(drop_table, sql.Literal(number)))
        conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
            table, drop_table, sql.Literal(number)))
    for drop_id, _ in drops:
        conn.execute("UPDATE ops.drops SET drop_number = t.drop_number FROM ops.new_drop_table(%s, %s, true) t "
                     "WHERE drop_id = %s", (contract.raw_table, drop_id, drop_id))
    if drops:  # routed to the drops' tables by their numbers
        columns = sql.SQL(", ").join(map(sql.Identifier, sorted(_raw_table(conn, contract).columns - {"_drop"})))
        conn.execute(sql.SQL("INSERT INTO {} ({}, _drop) SELECT {}, d.drop_number FROM ({}) r "
                             "JOIN ops.drops d ON d.drop_id = r._drop_id").format(
            table, columns, columns, sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {}, _drop_id FROM {}").format(columns, t) for t in copied)))
    conn.execute(sql.SQL("DROP TABLE {}").format(older))


def _reason(drop_id: str, file_name: str, problem: str, **where) -> dict:
    return {"drop_id": drop_id, "file": file_name, "problem": problem, **where}


def check_header(contract: FeedContract, drop_id: str, file_name: str, head: bytes) -> list[str]:
    """Raise DropRejected unless ``head`` (the file's first bytes) starts a delimited text file whose header
    holds exactly the contract's columns; return the raw column names in the file's order."""
    if not head.strip():
        raise DropRejected(_reason(drop_id, file_name, "empty file", expected="a header row and data rows", found="no content"))
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
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
    if not set(header) & set(expected):
        # Most likely no header at all, the first line being a data row: nothing of it may be shown.
        raise DropRejected(
            _reason(drop_id, file_name, f"no header row: the first line names none of the columns of contract "
                    f"{contract.path.name} (it is not shown, as it may be a data row)", row=0, line=1,
                    expected=expected, found=f"a line of {len(header)} fields")
        )
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


class _BlankLines:
    """Takes the lines that are blank (nothing but spaces, tabs or a carriage return) outside quoted fields out
    of a stream of whole lines, and keeps their line numbers. Inside quotes a blank line is data: whether a line
    starts inside quotes is told by the parity of the quote characters before it, counted only where a blank
    line is found. A chunk without blank lines (most) is told by one vectorised look at the byte after each line
    end, which also counts its lines, a third of what a regular-expression scan and a count cost in Python."""

    def __init__(self, contract: FeedContract):
        import numpy as np

        self.quote = contract.quote.encode("ascii")
        self.space = b" \t\r".replace(contract.delimiter.encode("ascii"), b"")
        self.before_blank = re.compile(b"\n(?=[" + re.escape(self.space) + b"]*\n)")
        self.blank_line_starts = np.frombuffer(self.space + b"\n", np.uint8)  # a blank line's first byte
        self.in_quotes = False  # at the start of the next line
        self.line = 1  # the file's number of the next line
        self.found: list[int] = []

    def remove(self, text: bytes) -> bytes:
        """``text``, whole lines each ending in a line feed, without its blank lines."""
        import numpy as np

        if not text:
            return text
        codes = np.frombuffer(text, np.uint8)
        after_line_ends = codes[1:][codes[:-1] == ord("\n")]
        first_is_blank = not text[: text.index(b"\n")].strip(self.space)
        if not first_is_blank and not np.isin(after_line_ends, self.blank_line_starts).any():
            self.line += len(after_line_ends) + 1  # the line feeds before the last byte, and the last
            # Most files quote nothing: finding no quote character is quicker than counting them.
            self.in_quotes ^= self.quote in text and int(np.count_nonzero(codes == ord(self.quote))) % 2 == 1
            return text
        starts = [m.end() for m in self.before_blank.finditer(text)]
        if first_is_blank:
            starts.insert(0, 0)
        kept, taken, counted, in_quotes, line = [], 0, 0, self.in_quotes, self.line
        for start in starts:
            in_quotes ^= text.count(self.quote, counted, start) % 2 == 1
            line += text.count(b"\n", counted, start)
            counted = start
            if not in_quotes:
                self.found.append(line)
                kept.append(text[taken:start])
                taken = text.index(b"\n", start) + 1
        self.in_quotes = in_quotes ^ (self.quote in text and text.count(self.quote, counted) % 2 == 1)
        self.line = line + text.count(b"\n", counted)
        return b"".join(kept) + text[taken:] if kept else text


@dataclass
class Delivery:
    """What the one read of a delivered file learned: its hash, size and head, and the blank lines it left out
    of what COPY reads (the file's line numbers, ascending)."""

    sha256: str
    size: int
    head: bytes
    blank_lines: list[int]

    def file_line(self, copy_line: int) -> int:
        """The file's number of the line that COPY numbered ``copy_line``."""
        line = copy_line
        for blank in self.blank_lines:
            if blank > line:
                break
            line += 1
        return line


class _Reading:
    """One read of a delivered file: it hashes the file and keeps its head as it yields the file's text, whole
    lines without its blank lines, for COPY or a spool."""

    def __init__(self, stream: BinaryIO, contract: FeedContract):
        self.stream, self.digest, self.head, self.blanks = stream, Sha256(), b"", _BlankLines(contract)

    def text(self) -> Iterator[bytes]:
        carry = b""
        for chunk in iter(lambda: self.stream.read(CHUNK_BYTES), b""):
            self.digest.update(chunk)
            if len(self.head) < SNIFF_BYTES:
                self.head += chunk[: SNIFF_BYTES - len(self.head)]
            end = chunk.rfind(b"\n") + 1
            if end:  # whole lines, copied once
                yield self.blanks.remove(carry + memoryview(chunk)[:end])
                carry = chunk[end:]
            else:
                carry += chunk
        if carry:  # a last line with no line end: kept as it is, unless blank
            yield self.blanks.remove(carry + b"\n")[:-1]

    def delivery(self) -> Delivery:
        """What the read learned; once the text is read to its end."""
        return Delivery(self.digest.hexdigest(), self.digest.size, self.head, self.blanks.found)


def read_delivery(stream: BinaryIO, contract: FeedContract, spool: BinaryIO) -> Delivery:
    """Read ``stream`` once: hash it, keep its head, and write it to ``spool`` without its blank lines."""
    reading = _Reading(stream, contract)
    for text in reading.text():
        spool.write(text)
    return reading.delivery()


def _row_of(spool: BinaryIO, copy_line: int, quote: bytes) -> int:
    """The data row (1 = the first after the header) holding line ``copy_line`` of what COPY read: a line that
    starts inside a quoted field continues the row before it. Read from the spool, on the error path only."""
    spool.seek(0)
    row, in_quotes = 0, False
    for number, text in enumerate(spool, start=1):
        if number > 1 and not in_quotes:
            row += 1
        if number == copy_line:
            break
        in_quotes ^= text.count(quote) % 2 == 1
    return row


def _copy_rejection(exc: errors.Error, contract: FeedContract, drop_id: str, file_name: str, file_columns: list[str],
                    delivery: Delivery, spool: BinaryIO) -> dict:
    """Turn PostgreSQL's COPY error into a rejection reason naming the row, the file's line and the delivered
    column. Its CONTEXT quotes the raw line, and its message may quote bytes of it: neither is passed on."""
    context = exc.diag.context.splitlines()[0] if exc.diag.context else ""
    match = _COPY_CONTEXT.search(context)
    copy_line = int(match.group(1)) if match else None
    db_to_name = {c.db_name: c.name for c in contract.columns}
    column = db_to_name.get(match.group(2).strip()) if match and match.group(2) else None
    message = redacted(exc.diag.message_primary or str(exc))
    quoted = re.search(r'column "([^"]+)"', message)
    if column is None and quoted:
        column = db_to_name.get(quoted.group(1), quoted.group(1))
    if isinstance(exc, errors.BadCopyFileFormat):
        problem, expected = f"malformed row: {message}", f"{len(file_columns)} fields per row"
    else:
        problem, expected = f"text is not valid {contract.encoding}: {message}", contract.encoding
    return _reason(drop_id, file_name, problem,
                   row=_row_of(spool, copy_line, contract.quote.encode("ascii")) if copy_line else None,
                   line=delivery.file_line(copy_line) if copy_line else None, column=column, expected=expected)


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

    Raises FileChanged (nothing loaded) when the file read is not the content the drop id names, and
    DropRejected (nothing loaded) when it breaks its contract. A file whose content the feed already holds
    loads nothing and is recorded as a duplicate of the drop that first delivered it. Raises RawTableOutdated
    (nothing loaded) when the feed's raw table is older than the loader.
    """
    try:
        return _load(conn, landing_zone, contract, drop_id, run_id)
    except errors.DatabaseError:
        # The raw table is checked only when the database refuses a load, not before every load (a catalog query,
        # a millisecond or two): ops.new_drop_table or COPY refuses an outdated one, which is named here.
        if not conn.closed:
            require_raw_table(conn, contract)
        raise


def _load(conn, landing_zone: LandingZone, contract: FeedContract, drop_id: str, run_id: str | None) -> LoadOutcome:
    started = time.perf_counter()
    _, file_name, short_hash = parse_drop_id(drop_id)
    try:
        with conn.transaction():
            _lock_feed(conn, contract)
            # No drop of the feed holds content whose hash starts as this drop id's: the file is new, and is copied
            # as it is read. A re-delivery (or a drop loaded already) is hashed before anything is copied.
            if conn.execute("SELECT EXISTS (SELECT FROM ops.drops WHERE feed_id = %s AND status = 'loaded' "
                            "AND starts_with(content_hash, %s))", (contract.feed_id, short_hash)).fetchone()[0]:
                return _load_carefully(conn, landing_zone, contract, drop_id, run_id, started)
            number, rows, delivery = _copy_as_read(conn, landing_zone, contract, drop_id)
            _record_loaded(conn, contract, drop_id, number, file_name, delivery, rows, run_id)
            return LoadOutcome(drop_id, contract.feed_id, file_name, delivery.sha256, delivery.size, "loaded",
                               rows, rows, seconds=time.perf_counter() - started, blank_lines=delivery.blank_lines)
    except _CopyAsReadFailed:
        pass  # rolled back, the drop's table with it: the careful way tells what was unusual
    with conn.transaction():
        _lock_feed(conn, contract)
        return _load_carefully(conn, landing_zone, contract, drop_id, run_id, started)


def _lock_feed(conn, contract: FeedContract) -> None:
    """One load per feed at a time, so two runs cannot both miss each other's copy of the same content."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (contract.feed_id,))


def _copy_statement(contract: FeedContract, drop_table: str, file_columns: list[str]) -> sql.Composed:
    return sql.SQL(
        "COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER {}, QUOTE {}, ENCODING {}, FREEZE true)"
    ).format(sql.Identifier("raw", drop_table), sql.SQL(", ").join(map(sql.Identifier, file_columns)),
             sql.Literal(contract.delimiter), sql.Literal(contract.quote), sql.Literal(contract.pg_encoding))


def _new_drop_table(cur, contract: FeedContract, drop_id: str, long_rows: bool) -> tuple[str, int]:
    """The drop's own table and number, made in the caller's transaction and attached to the feed's: COPY writes
    into it directly (no routing, no index; the drop's number its constant default) and, as it is new, frozen, so
    no later vacuum or first reader rewrites its pages. Without ``long_rows`` it has no TOAST table, so a row
    longer than a page is refused. Row numbers are the feed's sequence's values, restarted at 1 under the feed's
    lock, so that only this COPY draws on it; setval also forgets the values this session had cached (drawn
    before another session's restart). It is not undone by a rollback, which needs nothing: every load restarts
    it."""
    return cur.execute("SELECT t.drop_table, t.drop_number, setval(%s::regclass, 1, false) "
                       "FROM ops.new_drop_table(%s, %s, %s) t",
                       (f"raw.{contract.raw_table}__row_seq", contract.raw_table, drop_id, long_rows)).fetchone()[:2]


class _CopyAsReadFailed(Exception):
    """Something unusual in a copy as read (a header or a row the contract refuses, a row longer than a page, or
    content other than the drop id's): its transaction is rolled back."""


_COPY_FAULTS = (errors.BadCopyFileFormat, errors.CharacterNotInRepertoire, errors.UntranslatableCharacter,
                errors.InvalidTextRepresentation)


def _copy_as_read(conn, landing_zone: LandingZone, contract: FeedContract, drop_id: str) -> tuple[int, int, Delivery]:
    """Copy the file into its drop's table as it is read and hashed, and return the drop's number, the rows copied
    and what the read learned; raise _CopyAsReadFailed when anything is unusual. No savepoint: the caller's transaction holds
    nothing else yet, and is rolled back."""
    _, file_name, short_hash = parse_drop_id(drop_id)
    with landing_zone.open(contract.partner, file_name) as stream:
        reading = _Reading(stream, contract)
        text = reading.text()
        ahead = []  # the text read to have the head the header is checked in
        for chunk in text:
            ahead.append(chunk)
            if len(reading.head) >= SNIFF_BYTES:
                break
        try:
            file_columns = check_header(contract, drop_id, file_name, reading.head)
        except DropRejected:
            raise _CopyAsReadFailed from None
        try:
            with conn.cursor() as cur:
                drop_table, number = _new_drop_table(cur, contract, drop_id, long_rows=False)
                with cur.copy(_copy_statement(contract, drop_table, file_columns)) as copy:
                    for chunk in chain(ahead, text):
                        copy.write(chunk)
                    if not reading.digest.hexdigest().startswith(short_hash):
                        raise _CopyAsReadFailed  # before COPY ends: the copy is abandoned
                return number, cur.rowcount, reading.delivery()
        except (*_COPY_FAULTS, errors.ProgramLimitExceeded):  # the last: a row too long for a table without TOAST
            raise _CopyAsReadFailed from None


def _load_carefully(conn, landing_zone: LandingZone, contract: FeedContract, drop_id: str, run_id: str | None,
                    started: float) -> LoadOutcome:
    """The load of a re-delivery, or of a file the copy as read found anything unusual in: the file is hashed
    first (a re-delivery loads nothing), then read once more, hashing it again, into a private spool, which is
    what is checked and copied (into a table that can keep rows longer than a page), and read back to name the row
    of a fault."""
    _, file_name, short_hash = parse_drop_id(drop_id)
    digest = sha256_of(landing_zone.iter_chunks(contract.partner, file_name))
    content_hash, size = digest.hexdigest(), digest.size
    if not content_hash.startswith(short_hash):
        raise _file_changed(drop_id, file_name, content_hash)
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
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY_BYTES) as spool:
        with landing_zone.open(contract.partner, file_name) as stream:
            delivery = read_delivery(stream, contract, spool)
        if delivery.sha256 != content_hash:
            raise _file_changed(drop_id, file_name, delivery.sha256)
        file_columns = check_header(contract, drop_id, file_name, delivery.head)
        spool.seek(0)
        try:
            with conn.transaction(), conn.cursor() as cur:  # savepoint: a bad file leaves the outer transaction usable
                drop_table, number = _new_drop_table(cur, contract, drop_id, long_rows=True)
                with cur.copy(_copy_statement(contract, drop_table, file_columns)) as copy:
                    for chunk in iter(lambda: spool.read(CHUNK_BYTES), b""):
                        copy.write(chunk)
                rows = cur.rowcount
        except _COPY_FAULTS as exc:
            # Not chained: the database's error quotes the raw line, and Dagster stores causes.
            raise DropRejected(_copy_rejection(exc, contract, drop_id, file_name, file_columns, delivery, spool)) from None
    _record_loaded(conn, contract, drop_id, number, file_name, delivery, rows, run_id)
    return LoadOutcome(drop_id, contract.feed_id, file_name, content_hash, size, "loaded", rows, rows,
                       seconds=time.perf_counter() - started, blank_lines=delivery.blank_lines)


def _file_changed(drop_id: str, file_name: str, content_hash: str) -> FileChanged:
    return FileChanged(f"Drop {drop_id}: file '{file_name}' in the landing zone has changed since it was registered "
                       f"(now sha256 {content_hash[:12]}); the sensor registers the new content as a new drop.")


def _record_loaded(conn, contract: FeedContract, drop_id: str, number: int, file_name: str, delivery: Delivery,
                   rows: int, run_id: str | None) -> None:
    _record(conn, drop_id, contract, file_name, delivery.sha256, delivery.size, "loaded", rows, rows, 0, run_id=run_id,
            blank_lines=len(delivery.blank_lines), number=number)
    record_volume(conn, contract, drop_id, rows, run_id)  # a drop that shrank too far is held from staging


class FileChanged(Exception):
    """The file behind a drop id no longer has the content the id names."""


def _record(conn, drop_id, contract, file_name, content_hash, size, status, delivered, loaded, quarantined,
            duplicate_of=None, run_id=None, blank_lines=0, number=None) -> None:
    """Record the drop in the ledger; a loaded drop with the number its table was made with, any other (which has
    no table) with the next."""
    conn.execute(
        "INSERT INTO ops.drops (drop_id, drop_number, partner, feed_id, file_name, content_hash, size_bytes, status, "
        "rows_delivered, rows_loaded, rows_quarantined, duplicate_of, dagster_run_id, blank_lines) "
        "VALUES (%s, coalesce(%s, nextval('ops.drop_numbers')), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (drop_id, number, contract.partner, contract.feed_id, file_name, content_hash, size, status, delivered, loaded,
         quarantined, duplicate_of, run_id, blank_lines),
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
        "dagster_run_id = EXCLUDED.dagster_run_id, processed_at = now(), processed_by = current_user",
        (drop_id, partner, feed_id, file_name, content_hash, size, rows_delivered, rows_delivered, Jsonb(reason),
         location, run_id),
    )
