"""Looking for a simulation's identifiers where the platform reports: the evaluation behind the promise that no
identifier value reaches Dagster's event log, run messages, quarantine reasons, ``ops`` tables or the console.

``identifier_values`` gathers what to look for from the truth and from the delivered files (in the landing zone
and in quarantine); ``platform_texts`` yields every text the platform shows
(each Dagster event of each run with its errors and their causes, each run's tags and config, each
``<file>.reason.json`` in quarantine, each row of each ``ops`` table); ``find`` names each hit.

What is looked for, and why these and no others (a test that cries wolf gets switched off):

- NHS numbers, UPNs, UPRNs and postcodes of the truth (children, adults, address histories), in the forms
  partners deliver them (an NHS number also in 3-3-4 groups, a postcode also without its space);
- dates of birth of the truth, in every date format a contract delivers a date of birth in;
- full names (given and family name together, either order) and address lines of the truth;
- every value of a delivered identifier column (kinds.yaml) as the file holds it, with full names taken from
  one row: this is how the faults the simulator injects (a mistyped NHS number, a malformed postcode, an
  impossible date of birth) are found, as they are in no truth table.

A value the files also deliver in a column that is not an identifier is not looked for: such a value may be
shown (a code, a review date), and a hit could not tell which column it came from. In a simulated month that
leaves out about one date of birth in eleven (a child's birthday that is also someone's review date), and
nothing else. Single given or family names are not looked for: many are English words or parts of column and code names
(Grace, May, Brown, White as in white_british), so a hit would say nothing. Values shorter than six letters and
digits (an NHS number cut to a few digits) are left out for the same reason.

Matching is by whole tokens, case-insensitive: text is cut into runs of letters and digits (an underscore
separates, as in white_british; a number with a decimal point, such as an event's timestamp, stays one token) and a value matches a run of consecutive tokens
equal to its own. So ``M14 5AB`` matches ``m14 5ab`` and ``M14-5AB`` but not ``XM14 5ABC``, and an NHS number
does not match inside a longer number or a hex digest.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from gmoda_assets.lib.contracts import feed_contracts, match_file

TOKEN = re.compile(r"[^\W_]+(?:\.[0-9]+)*")
MIN_CHARACTERS = 6


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.upper())


@dataclass
class IdentifierValues:
    """Token sequences of identifier values, each with what it is (for the report of a hit)."""

    kinds: dict[tuple[str, ...], str] = field(default_factory=dict)

    def add(self, kind: str, value: object) -> None:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return
        key = tuple(tokens(str(value)))
        if sum(map(len, key)) >= MIN_CHARACTERS:
            self.kinds.setdefault(key, kind)

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def longest(self) -> int:
        return max(map(len, self.kinds), default=0)


@dataclass(frozen=True)
class Hit:
    where: str
    kind: str
    value: str


def _dob_formats() -> set[str]:
    return {c.format for f in feed_contracts() for c in f.columns if c.identifier == "date_of_birth" and c.format}


def _add_nhs(values: IdentifierValues, numbers: Iterable) -> None:
    for n in numbers:
        if isinstance(n, str) and n:
            values.add("nhs_number", n)
            values.add("nhs_number", f"{n[:3]} {n[3:6]} {n[6:]}")


def _add_postcodes(values: IdentifierValues, postcodes: Iterable) -> None:
    for p in postcodes:
        if isinstance(p, str) and p:
            values.add("postcode", p)
            values.add("postcode", p.replace(" ", ""))


def _add_names(values: IdentifierValues, given: Iterable, family: Iterable) -> None:
    for g, f in zip(given, family):
        if isinstance(g, str) and isinstance(f, str) and g and f:
            values.add("name", f"{g} {f}")
            values.add("name", f"{f} {g}")


def _add_dates_of_birth(values: IdentifierValues, dates: Iterable, formats: set[str]) -> None:
    for d in dates:
        if isinstance(d, str) and d:
            born = datetime.strptime(d, "%Y-%m-%d")
            for fmt in formats:
                values.add("date_of_birth", born.strftime(fmt))


def identifier_values(truth: Path, delivered: Iterable[Path]) -> IdentifierValues:
    """The identifiers of a simulation: from its truth folder and from the ``delivered`` files (those matching no
    contract are skipped)."""
    values = IdentifierValues()
    formats = _dob_formats()
    read = lambda name: pd.read_csv(truth / name, dtype=str, keep_default_na=False)  # noqa: E731
    for people in (read("children.csv.gz"), read("people.csv.gz")):
        _add_nhs(values, people.nhs_number)
        _add_names(values, people.given_name, people.family_name)
        _add_dates_of_birth(values, people.date_of_birth, formats)
    children = read("children.csv.gz")
    for upn in children.upn:
        values.add("upn", upn)
    _add_postcodes(values, children.postcode)
    addresses = read("addresses.csv.gz")
    _add_postcodes(values, addresses.postcode)
    for line, uprn in zip(addresses.address_line, addresses.uprn):
        values.add("address", line)
        values.add("uprn", uprn)
    not_identifiers: set[tuple[str, ...]] = set()
    for path in delivered:
        contract = match_file(path.parent.name, path.name)
        if contract is not None:
            not_identifiers |= _add_delivered(values, path, contract)
    for key in not_identifiers:
        values.kinds.pop(key, None)
    return values


def _add_delivered(values: IdentifierValues, path: Path, contract) -> set[tuple[str, ...]]:
    """Add the values of the file's identifier columns; return those of its other columns, as token sequences."""
    not_identifiers = set()
    by_name = {c.name: c for c in contract.columns}
    with path.open(encoding=contract.encoding, newline="", errors="replace") as handle:
        rows = csv.reader(handle, delimiter=contract.delimiter, quotechar=contract.quote)
        header = [h.strip() for h in next(rows, [])]
        columns = [by_name.get(h) for h in header]
        given = next((i for i, c in enumerate(columns) if c and c.source == "given_name"), None)
        family = next((i for i, c in enumerate(columns) if c and c.source == "family_name"), None)
        for row in rows:
            for column, value in zip(columns, row):
                if column is not None and column.identifier and column.identifier != "name" and value.strip():
                    values.add(column.identifier, value)
                elif column is not None and not column.identifier:
                    not_identifiers.add(tuple(tokens(value)))
            if given is not None and family is not None and len(row) == len(header):
                _add_names(values, [row[given]], [row[family]])
    return not_identifiers


def _leaves(obj) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key)
            yield from _leaves(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _leaves(value)
    elif obj is not None:
        yield str(obj)


def _serialised(obj) -> str:
    """Every string a Dagster object holds, nested errors and their causes included, one per line."""
    from dagster._serdes import serialize_value

    return "\n".join(_leaves(json.loads(serialize_value(obj))))


def platform_texts(instance, warehouse_url: str, quarantine: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for everything the platform has shown: events, runs, quarantine reasons, ops rows."""
    import psycopg
    from psycopg import sql

    for run in instance.get_runs():
        yield f"run {run.run_id}", _serialised(run)
        for entry in instance.all_logs(run.run_id):
            yield f"run {run.run_id} event {entry.dagster_event_type or 'log'}", _serialised(entry)
    for path in sorted(quarantine.rglob("*.reason.json")):
        yield str(path), path.read_text(encoding="utf-8")
    with psycopg.connect(warehouse_url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'ops' ORDER BY 1")]
        for table in tables:
            rows = conn.execute(sql.SQL("SELECT to_jsonb(t)::text FROM {} t").format(sql.Identifier("ops", table))).fetchall()
            yield f"ops.{table}", "\n".join(r[0] for r in rows)


def find(values: IdentifierValues, texts: Iterable[tuple[str, str]]) -> list[Hit]:
    """Every run of tokens in ``texts`` that is an identifier value."""
    hits = []
    longest = values.longest
    first = {key[0] for key in values.kinds}
    for where, text in texts:
        for line in text.splitlines():
            found = tokens(line)
            for start in range(len(found)):
                if found[start] not in first:
                    continue
                for end in range(start + 1, min(start + longest, len(found)) + 1):
                    kind = values.kinds.get(tuple(found[start:end]))
                    if kind is not None:
                        hits.append(Hit(where, kind, " ".join(found[start:end])))
    return hits
