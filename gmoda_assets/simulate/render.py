"""Rendering canonical records into partner files exactly as each feed contract describes them.

Delivery convention: the round for data month M holds records up to the last day of M and is delivered on the
first day of month M+1 (its date names the file). The rounds are the ``months`` months before ``as_of``'s month.
An increment feed's first round is a backfill of every record current at its month end; later rounds hold the
record versions that began in their month, and an increment with nothing new is not sent. A snapshot holds
every record version current at its month end, so an unchanged snapshot is byte-identical to the last one.
Rows are sorted by record key; data rows are numbered from 1 after the header.

Delivery faults: a *late* increment keeps its own file name (its due date) but arrives with the next round
(manifest ``delivery_date`` is that round's date); a *duplicate delivery* is a file re-sent unchanged a week
later under that date's file name (only where the name differs and the date is not after ``as_of``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from gmoda_assets.lib.contracts import Column, FeedContract, contract_for
from gmoda_assets.lib.digest import sha256_of
from gmoda_assets.simulate import errors, timeline
from gmoda_assets.simulate.names import TRANSLITERATION
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO

_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_YEARS = np.array([f"{i:04d}" for i in range(3000)], dtype=object)
_MONTH_ABBR = np.array(["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
                       dtype=object)
_MONTH_NAME = np.array(["", "January", "February", "March", "April", "May", "June", "July", "August", "September",
                        "October", "November", "December"], dtype=object)
# Impossible (day, month) pairs an error can put into a date.
_IMPOSSIBLE = ((31, 2), (30, 2), (31, 4), (31, 6), (31, 9), (31, 11))


@dataclass(frozen=True)
class Round:
    """One monthly delivery round: data up to ``cut`` (a month end), delivered on ``delivered``."""

    index: int
    cut: date
    delivered: date


def rounds(as_of: date, months: int) -> list[Round]:
    """The ``months`` monthly rounds whose data months end before ``as_of``'s month."""
    if months < 1:
        raise ValueError("months must be at least 1")
    first = timeline.add_months(as_of, -months)
    return [Round(i, timeline.month_end(timeline.add_months(first, i)), timeline.add_months(first, i + 1))
            for i in range(months)]


def format_dates(fmt: str, year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray,
                 minute: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Vectorised strftime for the directives contracts use (%Y %y %m %d %b %B %H %M %S)."""
    tokens = {"Y": lambda: _YEARS[year], "y": lambda: _TWO_DIGITS[year % 100],
              "m": lambda: _TWO_DIGITS[month], "d": lambda: _TWO_DIGITS[day], "b": lambda: _MONTH_ABBR[month],
              "B": lambda: _MONTH_NAME[month], "H": lambda: _TWO_DIGITS[hour], "M": lambda: _TWO_DIGITS[minute],
              "S": lambda: _TWO_DIGITS[second]}
    out = np.full(len(year), "", dtype=object)
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            if fmt[i + 1] not in tokens:
                raise ValueError(f"date format directive %{fmt[i + 1]} is not supported")
            out = out + tokens[fmt[i + 1]]()
            i += 2
        else:
            out = out + fmt[i]
            i += 1
    return out


def _parts(values: pd.Series) -> tuple[np.ndarray, ...]:
    stamp = values.to_numpy(dtype="datetime64[s]")
    missing = np.isnat(stamp)
    stamp = np.where(missing, np.datetime64(0, "s"), stamp)
    days = stamp.astype("datetime64[D]")
    year, month, day = timeline.ymd(days.astype(np.int64))
    seconds = (stamp - days).astype(np.int64)
    return missing, year, month, day, seconds // 3600, seconds // 60 % 60, seconds % 60


def _decimal(values: np.ndarray) -> np.ndarray:
    """Shortest decimal text without a trailing ".0" (15, 7.5, 2.35)."""
    text = pd.Series(values.astype(str))
    return text.str.removesuffix(".0").to_numpy(dtype=object)


def render_column(column: Column, values: pd.Series) -> np.ndarray:
    """Delivered text of one column: dates in the column's format, codes as delivered, numbers as text,
    missing as the empty string."""
    if column.type in ("date", "datetime"):
        missing, *parts = _parts(values)
        out = format_dates(column.format, *parts)
        out[missing] = ""
        return out
    missing = values.isna().to_numpy()
    if column.type == "code":
        inverse = {}
        for delivered, canonical in column.values.items():
            inverse.setdefault(canonical, delivered)
        out = values.map(inverse).to_numpy(dtype=object)
    elif column.type == "integer":
        out = np.full(len(values), "", dtype=object)
        out[~missing] = values[~missing].to_numpy(dtype=np.int64).astype(str)
    elif column.type == "decimal":
        out = np.full(len(values), "", dtype=object)
        out[~missing] = _decimal(values[~missing].to_numpy(dtype=float))
    else:
        out = values.to_numpy(dtype=object)
    out = np.where(missing | pd.isna(out), "", out).astype(object)
    return out


@dataclass
class RenderedFeed:
    """A feed's record versions as delivered strings, with the errors injected into them."""

    contract: FeedContract
    records: pd.DataFrame  # sorted by KEY, FROM
    cells: dict[str, np.ndarray]  # delivered column name -> strings per record version
    cell_errors: pd.DataFrame  # version row, column, kind
    duplicated: np.ndarray  # per version: written twice


def render_feed(rng: np.random.Generator, contract: FeedContract, records: pd.DataFrame) -> RenderedFeed:
    """Render every version of every record once, with its planned errors."""
    records = records.sort_values([KEY, FROM], kind="stable", ignore_index=True)
    cells = {c.name: render_column(c, records[c.source]) for c in contract.columns}
    keys = records[KEY].to_numpy(dtype=object)
    unique_keys = pd.unique(keys)
    planned = errors.plan(rng, contract, unique_keys)
    hits = records[[KEY]].reset_index().merge(planned, left_on=KEY, right_on="key")
    columns = {c.name: c for c in contract.columns}
    found = []
    for row, name, kind, seed in zip(hits["index"], hits.column, hits.kind, hits.seed):
        if kind == "duplicate_row":
            continue
        column = columns[name]
        value = cells[name][row]
        swap = impossible = None
        if kind.startswith("date_") and value:
            swap, impossible = _date_alternatives(column, records[column.source].iloc[row], seed)
        new = errors.corrupt(kind, value, column, int(seed), swap, impossible)
        if new is not None:
            cells[name][row] = new
            found.append((row, name, kind))
    if contract.encoding == "cp1252":
        found += _transliterate(cells)
    cell_errors = pd.DataFrame(found, columns=["row", "column", "kind"]).sort_values(["row", "column"],
                                                                                    ignore_index=True)
    duplicated = pd.Series(keys).isin(planned.key[planned.kind == "duplicate_row"]).to_numpy()
    return RenderedFeed(contract, records, cells, cell_errors, duplicated)


def _date_alternatives(column: Column, value: pd.Timestamp, seed: int) -> tuple[str | None, str]:
    """The date with day and month swapped (None where that would not change it) and with an impossible day."""
    stamp = pd.Timestamp(value)
    one = lambda v: np.array([v])  # noqa: E731
    time = (one(stamp.hour), one(stamp.minute), one(stamp.second))
    swap = None
    if stamp.day <= 12 and stamp.day != stamp.month:
        swap = format_dates(column.format, one(stamp.year), one(stamp.day), one(stamp.month), *time)[0]
    day, month = _IMPOSSIBLE[seed % len(_IMPOSSIBLE)]
    impossible = format_dates(column.format, one(stamp.year), one(month), one(day), *time)[0]
    return swap, impossible


def _transliterate(cells: dict[str, np.ndarray]) -> list[tuple[int, str, str]]:
    """Spell values Windows-1252 cannot hold as such systems do (Łukasz -> Lukasz)."""
    found = []
    for name, values in cells.items():
        text = pd.Series(values, dtype=object)
        for row in np.flatnonzero(text.str.contains(r"[^\x00-\xff]", regex=True).to_numpy()):
            value = values[row]
            try:
                value.encode("cp1252")
            except UnicodeEncodeError:
                values[row] = value.translate(TRANSLITERATION)
                found.append((row, name, "transliterated"))
    return found


def select(records: pd.DataFrame, contract: FeedContract, rnd: Round, previous: Round | None) -> np.ndarray:
    """Positions of the record versions a round delivers (see the module docstring)."""
    cut = np.datetime64(rnd.cut, "s") + np.timedelta64(1, "D") - np.timedelta64(1, "s")
    start = records[FROM].to_numpy(dtype="datetime64[s]")
    end = records[TO].to_numpy(dtype="datetime64[s]")
    current = (start <= cut) & (np.isnat(end) | (end > cut))
    if contract.delivery == "snapshot" or previous is None:
        return np.flatnonzero(current)
    last = np.datetime64(previous.cut, "s") + np.timedelta64(1, "D") - np.timedelta64(1, "s")
    return np.flatnonzero((start > last) & (start <= cut))


@dataclass
class DeliveredFile:
    """One file's bytes and what the truth needs to know about it."""

    partner: str
    feed_id: str
    file_name: str
    due: date
    delivered: date
    sha256: str
    content: bytes | None  # dropped once written
    persons: np.ndarray  # true person of each data row
    keys: np.ndarray  # record key of each data row
    errors: list[dict] = field(default_factory=list)
    late: bool = False
    duplicate_of: str | None = None

    @property
    def rows(self) -> int:
        return len(self.persons)


def write_file(feed: RenderedFeed, positions: np.ndarray, rnd: Round) -> DeliveredFile:
    """The delivered file of one round: header, rows (duplicates written twice), contract dialect."""
    contract = feed.contract
    rows = np.repeat(positions, 1 + feed.duplicated[positions])
    repeat = np.r_[False, (rows[1:] == rows[:-1])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=contract.delimiter, quotechar=contract.quote, quoting=csv.QUOTE_MINIMAL,
                        lineterminator="\r\n" if contract.encoding == "cp1252" else "\n")
    writer.writerow([c.name for c in contract.columns])
    writer.writerows(zip(*(feed.cells[c.name][rows] for c in contract.columns)))
    line = np.arange(1, rows.size + 1)
    first_rows, first_lines = rows[~repeat], line[~repeat]  # ascending positions, each once
    selected = feed.cell_errors[feed.cell_errors.row.isin(positions)]
    at = first_lines[np.searchsorted(first_rows, selected.row.to_numpy())]
    found = []
    for row, at_line, column, kind in zip(selected.row, at, selected.column, selected.kind):
        found.append({"row": int(at_line), "column": column, "kind": kind})
        if feed.duplicated[row]:
            found.append({"row": int(at_line) + 1, "column": column, "kind": kind})
    found += [{"row": int(n), "column": None, "kind": "duplicate_row"} for n in line[repeat]]
    found.sort(key=lambda e: (e["row"], e["column"] or ""))
    content = buffer.getvalue().encode(contract.encoding)
    return DeliveredFile(
        partner=contract.partner, feed_id=contract.feed_id, file_name=contract.render_file_name(rnd.delivered),
        due=rnd.delivered, delivered=rnd.delivered, sha256=sha256_of([content]).hexdigest(), content=content,
        persons=feed.records[PERSON].to_numpy(dtype=object)[rows], keys=feed.records[KEY].to_numpy(dtype=object)[rows],
        errors=found,
    )


def delivery_faults(rng: np.random.Generator, files: list[DeliveredFile], schedule: list[Round],
                    as_of: date) -> list[DeliveredFile]:
    """Mark some increments late (sent with the next round) and re-send some files under a later date's name;
    returns the re-sent copies."""
    last = schedule[-1].delivered
    next_round = {r.delivered: s.delivered for r, s in zip(schedule, schedule[1:])}
    late = [f for f in files if f.delivered != last and _contract(f).delivery == "increment"]
    for f in _some(rng, late, errors.LATE_FILE_RATE):
        f.late, f.delivered = True, next_round[f.due]
    names = {(f.partner, f.file_name) for f in files}
    copies = []
    for f in files:
        resent = f.delivered + timedelta(days=errors.DUPLICATE_DELAY_DAYS)
        name = _contract(f).render_file_name(resent)
        if resent <= as_of and (f.partner, name) not in names:
            copies.append(DeliveredFile(partner=f.partner, feed_id=f.feed_id, file_name=name, due=f.due,
                                        delivered=resent, sha256=f.sha256, content=None, persons=f.persons, keys=f.keys,
                                        errors=f.errors, duplicate_of=f.file_name))
    return _some(rng, copies, errors.DUPLICATE_FILE_RATE)


def _some(rng: np.random.Generator, items: list, rate: float) -> list:
    """A random ``rate`` share of ``items`` (at least one when there are any), in their original order."""
    if not items:
        return []
    count = max(1, round(rate * len(items)))
    return [items[i] for i in sorted(rng.choice(len(items), count, replace=False))]


def _contract(f: DeliveredFile) -> FeedContract:
    return contract_for(f.feed_id)
