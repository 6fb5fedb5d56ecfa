"""SQL that turns a feed's raw rows into its staging table: typed, cleaned, pseudonymised, one row per record.

Everything runs inside PostgreSQL. Each delivered column becomes an expression for its canonical field (from
the feed contract) and a condition that says why a value is invalid. Direct identifiers never pass through:
NHS numbers, UPNs, UPRNs and partner record ids become keyed pseudonyms; names and addresses are dropped
(only linkage features keep a derived form of them); date of birth becomes year and month; a postcode becomes
its LSOA, ward and council from the postcode lookup.

The expressions read a prepared row (``prepared``), not the raw row: PostgreSQL evaluates a subexpression
again wherever an expression names it, and a feed's typed value and its rejection rule name the same parsed
date or NHS-number check (the check inlined its normalisation eleven times). Cleaned values, normalised
identifiers and NHS-number checks are computed once per row in two fenced subqueries (``OFFSET 0``), and dates
parsed once per distinct value, in lookups the rows join (README, "Performance").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gmoda_assets.lib.contracts import Column, FeedContract, kinds
from gmoda_assets.lib.pseudonymise import sql_pseudonym
from gmoda_assets.lib import sql_dates as dates

# Identifiers that are the same in every partner's data, so their pseudonyms link across partners.
NATIONAL_IDENTIFIERS = {"nhs_number": "nhs", "upn": "upn", "uprn": "uprn"}
# Identifiers staging drops or coarsens rather than replacing them by a keyed pseudonym.
UNKEYED_IDENTIFIERS = ("name", "address", "date_of_birth", "postcode")
SQL_TYPES = {"text": "text", "code": "text", "integer": "integer", "decimal": "numeric", "date": "date", "datetime": "date"}


@dataclass(frozen=True)
class StagingColumn:
    name: str
    sql_type: str
    description: str
    expression: str  # over the raw row aliased r (and the postcode lookup aliased pc)
    sources: tuple[str, ...] = ()  # canonical fields it is derived from


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal (for statements executed without parameters: ``%`` is not doubled)."""
    return "'" + text.replace("'", "''") + "'"


def value(col: Column) -> str:
    return f"nullif(btrim(r.{q(col.db_name)}), '')"


def delivered(col: Column) -> str:
    """The column's cleaned value (``value``) in the prepared row."""
    return f"r.{q(col.db_name)}"


def _normal(col: Column) -> str:
    return f"r.{q(col.db_name + '__normal')}"  # without spaces and hyphens: how identifiers are compared


def _date(col: Column) -> str:
    return f"r.{q(col.db_name + '__date')}"


def _nhs_valid(col: Column) -> str:
    return f"r.{q(col.db_name + '__valid')}"


def prepared(contract: FeedContract, raw_rows: str) -> str:
    """SQL for the rows the staging expressions read (aliased r), from ``raw_rows`` (FROM items: the raw table
    aliased r joined to its drops' ledger rows aliased d, with its WHERE): lineage (the drop id the ledger's), each
    delivered column cleaned, identifiers normalised and NHS numbers checked, once per row, and dates parsed once
    per distinct value. A feed's rows repeat few dates (health visiting's 735,339 reviews hold 2,201 dates of birth
    and 3,157 review dates at Greater Manchester scale), so each date column's distinct values in scope are parsed
    in a lookup the rows join by their cleaned value, where parsing every row's dates took a quarter of the feed's
    typing.
    (Identifiers and datetimes repeat far less: a lookup of NHS numbers cost births more than it saved, one of
    incident times cost police incidents.)"""
    cleaned = [f"{value(c)} AS {q(c.db_name)}" for c in contract.columns]
    identifiers = [c for c in contract.columns if c.identifier and c.identifier not in UNKEYED_IDENTIFIERS]
    normals = [f"regexp_replace({value(c)}, '[\\s-]', '', 'g') AS {q(c.db_name + '__normal')}" for c in identifiers]
    dated = [c for c in contract.columns if c.type in ("date", "datetime") or c.identifier == "date_of_birth"]
    checked = [c for c in identifiers if c.identifier == "nhs_number"]
    # A datetime (a police incident's) rarely repeats: parsed in every row. A lookup is fenced (OFFSET 0):
    # PostgreSQL would otherwise pull its expression up into the join, and parse every row's date again.
    looked_up = [c for c in dated if c.type != "datetime"]
    joins = [f"LEFT JOIN (SELECT v, {dates.parsed_date('v', c.format)} AS parsed FROM (SELECT DISTINCT {value(c)} "
             f"AS v FROM {raw_rows}) AS s OFFSET 0) AS d{i} ON d{i}.v = {delivered(c)}" for i, c in enumerate(looked_up)]
    second = ([f"d{i}.parsed AS {q(c.db_name + '__date')}" for i, c in enumerate(looked_up)]
              + [f"{dates.parsed_date(delivered(c), c.format)} AS {q(c.db_name + '__date')}" for c in dated
                 if c not in looked_up]
              + [f"ops.nhs_digits_are_valid({_normal(c)}) AS {q(c.db_name + '__valid')}" for c in checked])
    first = f"SELECT d.drop_id AS _drop_id, r._row_number, d.processed_at AS _loaded_at, {', '.join(cleaned + normals)} FROM {raw_rows} OFFSET 0"
    return f"(SELECT {', '.join(['r.*', *second])} FROM ({first}) r {' '.join(joins)} OFFSET 0) r"


def parsed_date(col: Column) -> str:
    """The column's value as a date (a datetime's time of day is dropped: staging holds dates)."""
    return dates.parsed_date(value(col), col.format)


# Shapes use [0-9], not \d: on a database with an ICU locale \d also matches other scripts' digits, which no
# cast accepts.
INTEGER_SHAPE = "^-?[0-9]+$"
DECIMAL_SHAPE = "^-?[0-9]+([.][0-9]+)?$"
# What a value must fit to be staged: PostgreSQL's integer; for a decimal, at most 15 digits before the point
# (whole parts stay exact in the doubles analysts' tools read numbers into; digits after it are not limited).
# pg_input_is_valid tests the fit without raising, so one value too large rejects its row, not the feed; values
# this short or shorter always fit, and skip it.
RANGES = {"integer": ("integer", 9, "an integer (-2147483648 to 2147483647)"),
          "decimal": ("numeric(30,15)", 15, "a decimal (at most 15 digits before the point)")}


def typed(col: Column) -> tuple[str, tuple[str, str] | None]:
    """(SQL for the typed value of a non-identifier, its rejection rule: (SQL for the reason, SQL condition)),
    over the prepared row."""
    v = delivered(col)
    shown = f"quote_literal(left({v}, 40))"
    if col.type in ("integer", "decimal"):
        shape = lit(INTEGER_SHAPE if col.type == "integer" else DECIMAL_SHAPE)
        fits, short, what = RANGES[col.type]
        valid = f"{v} ~ {shape} AND CASE WHEN octet_length({v}) <= {short} THEN true ELSE pg_input_is_valid({v}, {lit(fits)}) END"
        reason = (f"CASE WHEN {v} ~ {shape} THEN {lit(f'{col.name}: out of range for {what}: ')} "
                  f"ELSE {lit(f'{col.name}: not a valid {col.type}: ')} END || {shown}")
        return f"CASE WHEN {valid} THEN {v}::{SQL_TYPES[col.type]} END", (reason, f"{v} IS NOT NULL AND NOT ({valid})")
    if col.type in ("date", "datetime"):
        # Years have four digits at most, so every date parsed fits date, smallint years and integer day counts.
        reason = f"{lit(f'{col.name}: not a date written as {col.format}: ')} || {shown}"
        return _date(col), (reason, f"{v} IS NOT NULL AND {_date(col)} IS NULL")
    if col.type == "code":
        code = f"({lit(json.dumps(col.values, sort_keys=True))}::jsonb ->> {v})"
        return code, (f"{lit(f'{col.name}: not a known code: ')} || {shown}", f"{v} IS NOT NULL AND {code} IS NULL")
    return v, None


def normalised_postcode(col: Column) -> str:
    return f"upper(regexp_replace(r.{q(col.db_name)}, '\\s', '', 'g'))"


def record_key(contract: FeedContract) -> str:
    """Pseudonym of the record's key fields: stable across deliveries, so a re-sent record replaces the last."""
    parts = []
    for field in kinds()[contract.kind]["key"]:
        col = contract.column(field)
        parts.append(f"coalesce(upper({delivered(col)}), '')")
    return sql_pseudonym(f"{lit('record:' + contract.feed_id)} || ':' || " + " || '|' || ".join(parts))


def build(contract: FeedContract) -> tuple[list[StagingColumn], list[tuple[str, str]]]:
    """The staging columns of a feed and its rejection rules: (SQL for the reason, SQL condition) pairs.
    Reasons name the delivered column; they show the offending value only where it is not an identifier."""
    fields = kinds()[contract.kind]["fields"]
    columns = [StagingColumn("record_key", "text", "Pseudonym of the record's key fields; one row per record.",
                             record_key(contract), tuple(kinds()[contract.kind]["key"]))]
    rules: list[tuple[str, str]] = []
    for field, spec in fields.items():
        col = contract.column(field)
        identifier = spec.get("identifier")
        v = delivered(col) if col else "NULL"
        if col and col.required:
            rules.append((lit(f"{col.name}: required value missing"), f"{v} IS NULL"))
        if identifier in ("name", "address"):
            continue  # only linkage features keep a derived form
        if identifier == "date_of_birth":
            parsed = _date(col) if col else "NULL::date"
            columns += [
                StagingColumn("birth_year", "smallint", "Year of birth (date of birth is not kept).",
                              f"extract(year FROM {parsed})::smallint", (field,)),
                StagingColumn("birth_month", "smallint", "Month of birth, 1-12 (date of birth is not kept).",
                              f"extract(month FROM {parsed})::smallint", (field,)),
            ]
            if col:
                rules.append((lit(f"{col.name}: not a real date written as {col.format}"), f"{v} IS NOT NULL AND {parsed} IS NULL"))
            continue
        if identifier == "postcode":
            for code, what in (("lsoa11cd", "LSOA (2011)"), ("ward17cd", "electoral ward (2017)"), ("lad19cd", "council area")):
                columns.append(StagingColumn(code, "text", f"{what} of the delivered postcode (the postcode is not kept).",
                                             f"pc.{code}" if col else "NULL", (field,)))
            if col:
                rules.append((lit(f"{col.name}: not a postcode in the Greater Manchester postcode directory"),
                              f"{v} IS NOT NULL AND pc.postcode_key IS NULL"))
            continue
        if identifier:
            namespace = NATIONAL_IDENTIFIERS.get(identifier, f"{identifier}:{contract.feed_id}")
            normal = f"upper({_normal(col)})" if col else "NULL"
            valid = _nhs_valid(col) if col and identifier == "nhs_number" else "true"
            columns.append(StagingColumn(
                f"{field}_pseudonym", "text",
                f"Keyed pseudonym of {field.replace('_', ' ')} ({'the same in every partner' if identifier in NATIONAL_IDENTIFIERS else 'within this feed'}).",
                f"CASE WHEN {v} IS NOT NULL AND {valid} THEN {sql_pseudonym(lit(namespace + ':') + ' || ' + normal)} END",
                (field,)))
            if col and identifier == "nhs_number":
                rules.append((lit(f"{col.name}: not a valid NHS number (check digit)"), f"{v} IS NOT NULL AND NOT {valid}"))
            continue
        sql_type = SQL_TYPES[spec["type"]]
        if col is None:
            columns.append(StagingColumn(field, sql_type, spec.get("description", field.replace("_", " ")), f"NULL::{sql_type}"))
            continue
        typed_value, rule = typed(col)
        columns.append(StagingColumn(field, sql_type, spec.get("description", field.replace("_", " ")), typed_value, (field,)))
        if rule:
            rules.append(rule)
    return columns, rules
