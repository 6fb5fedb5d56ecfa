"""Realistic data-quality errors in delivered files: every rate in one place, and how each kind corrupts a value.

Errors are planned per record (``KEY``), not per file row, so a record keeps its typo in every snapshot and
every version, as the partner's system would. Each injected error is recorded in the truth manifest with the
file, data row (counting from 1 after the header), delivered column name and kind.

Kinds that leave a value valid once normalised: ``name_case``, ``nhs_spaced``, ``postcode_lowercase``,
``postcode_no_space``. Kinds that change who a value points at or make it unusable: the rest. Missing NHS
numbers in social care and EYFSP extracts are common in real data and have their own, higher rates.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from gmoda_assets.lib.contracts import Column, FeedContract
from gmoda_assets.simulate.names import VARIANTS

# Probability per record and eligible cell.
CELL_RATES = {
    "name_typo": 0.0004,  # transposed, dropped or doubled letter
    "name_case": 0.0002,  # SMITH, smith
    "name_punctuation": 0.015,  # of names with an apostrophe, hyphen or space: OBrien, Smith Jones
    "name_variant": 0.0015,  # of names with a nickname or other spelling: Mohammed/Muhammad, Alex
    "nhs_spaced": 0.001,  # 943 476 5919 (valid)
    "nhs_bad_check": 0.0002,  # ten digits failing the modulus-11 check
    "nhs_short": 0.0002,  # a digit lost
    "nhs_missing": 0.001,  # where the column is optional
    "postcode_missing": 0.0006,  # where the column is optional
    "postcode_malformed": 0.0002,
    "postcode_lowercase": 0.0005,
    "postcode_no_space": 0.0006,
    "date_impossible": 0.0001,  # 31/02/2019
    "date_day_month_swap": 0.0003,  # 03/04 for 04/03, where the format has numeric day and month
}
ROW_RATES = {
    "required_missing": 0.0002,  # one required value left blank
    "unknown_code": 0.0002,  # a code the contract does not list
    "duplicate_row": 0.0005,  # the record written twice in the file
}
# Optional NHS numbers systems often do not hold, by kind of feed.
NHS_MISSING_BY_KIND = {"social_care": 0.12, "eyfsp": 0.25}
# Share of eligible files delivered late (a month's increment sent with the next month's) or twice (the same
# content re-sent under a later date's file name).
LATE_FILE_RATE = 0.08
DUPLICATE_FILE_RATE = 0.05
DUPLICATE_DELAY_DAYS = 7
UNKNOWN_CODES = ("X", "99", "?", "Z9", "UNK", "n/a")
# Kinds applied to a column, by what the column holds.
_NAME_KINDS = ("name_typo", "name_case", "name_punctuation", "name_variant")
_NHS_KINDS = ("nhs_spaced", "nhs_bad_check", "nhs_short", "nhs_missing")
_POSTCODE_KINDS = ("postcode_missing", "postcode_malformed", "postcode_lowercase", "postcode_no_space")
_DATE_KINDS = ("date_impossible", "date_day_month_swap")


def _column_kinds(contract: FeedContract, column: Column) -> list[tuple[str, float]]:
    if column.identifier == "name":
        kinds = list(_NAME_KINDS)
    elif column.identifier == "nhs_number":
        kinds = [k for k in _NHS_KINDS if k != "nhs_missing" or not column.required]
    elif column.source == "postcode":
        kinds = [k for k in _POSTCODE_KINDS if k != "postcode_missing" or not column.required]
    elif column.type in ("date", "datetime"):
        kinds = list(_DATE_KINDS)
    else:
        return []
    rates = [(k, CELL_RATES[k]) for k in kinds]
    if column.source == "nhs_number" and not column.required and contract.kind in NHS_MISSING_BY_KIND:
        rates = [(k, NHS_MISSING_BY_KIND[contract.kind] if k == "nhs_missing" else r) for k, r in rates]
    return rates


def plan(rng: np.random.Generator, contract: FeedContract, keys: np.ndarray) -> pd.DataFrame:
    """Errors to inject per record key: columns key, column (delivered name), kind, seed."""
    parts = []
    for column in contract.columns:
        for kind, rate in _column_kinds(contract, column):
            hit = np.flatnonzero(rng.random(keys.size) < rate)
            parts.append(pd.DataFrame({"key": keys[hit], "column": column.name, "kind": kind}))
    required = [c.name for c in contract.columns if c.required]
    codes = [c.name for c in contract.columns if c.type == "code"]
    for kind, options in (("required_missing", required), ("unknown_code", codes), ("duplicate_row", [""])):
        if options:
            hit = np.flatnonzero(rng.random(keys.size) < ROW_RATES[kind])
            parts.append(pd.DataFrame({"key": keys[hit], "kind": kind,
                                       "column": np.array(options, dtype=object)[rng.integers(0, len(options),
                                                                                              hit.size)]}))
    out = pd.concat(parts, ignore_index=True)
    # One error per cell: the first planned wins.
    out = out.drop_duplicates(["key", "column"], ignore_index=True)
    out["seed"] = rng.integers(0, 2 ** 62, len(out))
    return out


def _typo(value: str, r: random.Random) -> str:
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    if len(letters) < 3:
        return value
    i = r.choice(letters[:-1])
    how = r.choice(("transpose", "drop", "double"))
    if how == "transpose" and value[i + 1].isalpha() and value[i] != value[i + 1]:
        return value[:i] + value[i + 1] + value[i] + value[i + 2:]
    if how == "double":
        return value[:i + 1] + value[i] + value[i + 1:]
    return value[:i] + value[i + 1:]


def _punctuation(value: str, r: random.Random) -> str:
    for mark, options in (("'", ("", " ", "\u2019")), ("-", (" ", "")), (" ", ("-", ""))):
        if mark in value:
            return value.replace(mark, r.choice(options))
    return value


def _malformed_postcode(value: str, r: random.Random) -> str:
    outward, inward = value.split(" ") if " " in value else (value[:-3], value[-3:])
    how = r.randrange(3)
    if how == 0:
        return f"{outward} {inward[:2]}"  # inward code cut short
    if how == 1:
        return f"{outward} {inward[0]}{inward[1]}{r.randrange(10)}"  # digit for a letter
    return f"{outward}{r.choice('ABDE')} {inward}"  # stray letter in the outward code


def _date_parts(fmt: str) -> bool:
    return "%d" in fmt and "%m" in fmt


def corrupt(kind: str, value: str, column: Column, seed: int, swap: str | None, impossible: str | None) -> str | None:
    """The delivered value with error ``kind`` injected, or None where the kind cannot apply to it.
    ``swap`` and ``impossible`` are the value re-rendered with day and month swapped or with an impossible
    day, prepared by the renderer (which knows the date)."""
    r = random.Random(seed)
    if kind == "duplicate_row":
        return value
    if kind in ("required_missing", "nhs_missing", "postcode_missing"):
        return "" if value else None
    if not value:
        return None
    if kind == "unknown_code":
        options = [c for c in UNKNOWN_CODES if c not in (column.values or {})]
        return r.choice(options)
    if kind == "name_typo":
        out = _typo(value, r)
    elif kind == "name_case":
        out = value.upper() if r.random() < 0.7 else value.lower()
    elif kind == "name_punctuation":
        out = _punctuation(value, r)
    elif kind == "name_variant":
        out = r.choice(VARIANTS[value]) if value in VARIANTS else value
    elif kind == "nhs_spaced":
        out = f"{value[:3]} {value[3:6]} {value[6:]}" if len(value) == 10 else value
    elif kind == "nhs_bad_check":
        out = value[:9] + r.choice([d for d in "0123456789" if d != value[9]]) if len(value) == 10 else value
    elif kind == "nhs_short":
        i = r.randrange(len(value))
        out = value[:i] + value[i + 1:]
    elif kind == "postcode_malformed":
        out = _malformed_postcode(value, r)
    elif kind == "postcode_lowercase":
        out = value.lower()
    elif kind == "postcode_no_space":
        out = value.replace(" ", "")
    elif kind == "date_day_month_swap":
        out = swap if swap and _date_parts(column.format or "") else value
    elif kind == "date_impossible":
        out = impossible or value
    else:
        raise ValueError(f"unknown error kind '{kind}'")
    return out if out != value else None
