"""Canonical records: what each partner system holds, before it is written out as a delivered file.

Each feed's records are a DataFrame with the canonical fields of its kind (``contracts/kinds.yaml``: dates as
``datetime64``, codes as canonical values, missing as null) and four bookkeeping columns: ``KEY`` identifies a
record across versions and deliveries, ``PERSON`` is the true person it describes, and ``FROM``/``TO`` bound
the version's validity. A record that changes (an episode closing) has one row per version; the first round
of an increment feed delivers the versions current then, later rounds the versions that began in their month,
and snapshots every version current at the month end.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from gmoda_assets.lib.contracts import contract_for, partners
from gmoda_assets.simulate.identifiers import prefixed, unique_ints

KEY, PERSON, FROM, TO = "_key", "_person", "_from", "_to"
BOOKKEEPING = (KEY, PERSON, FROM, TO)
# Shape of local record identifiers by extract system and canonical field: (prefix, digits).
LOCAL_ID_FORMATS = {
    ("fee_capita_one", "child_ref"): ("EY", 6),
    ("fee_synergy", "child_ref"): ("", 7),
    ("csc_liquidlogic", "person_id"): ("", 7),
    ("csc_liquidlogic", "episode_id"): ("", 8),
    ("csc_mosaic", "person_id"): ("", 6),
    ("csc_mosaic", "episode_id"): ("", 7),
    ("csc_eclipse", "person_id"): ("C", 7),
    ("csc_eclipse", "episode_id"): ("CS", 8),
}


@cache
def _partner_by_code() -> dict[str, str]:
    return {p["code"]: pid for pid, p in partners().items() if "code" in p}


def partner_of(council_code: str) -> str:
    """The partner id (landing-zone folder) of a council's ONS code."""
    return _partner_by_code()[council_code]


def _format(system: str, field: str, numbers: np.ndarray) -> np.ndarray:
    prefix, digits = LOCAL_ID_FORMATS[(system, field)]
    return prefixed(prefix, numbers, digits)


def council_ids(rng: np.random.Generator, feed: str, field: str, key: np.ndarray, council: np.ndarray) -> np.ndarray:
    """One local identifier per distinct (council, key) in the shape of that council's system for ``feed``,
    so a person (or episode) keeps their number within a council and gets another in the next."""
    out = np.empty(len(key), dtype=object)
    for code in np.unique(council):
        hit = np.flatnonzero(council == code)
        distinct, inverse = np.unique(key[hit].astype(str), return_inverse=True)
        system = contract_for(f"{partner_of(code)}.{feed}").system
        digits = LOCAL_ID_FORMATS[(system, field)][1]
        numbers = unique_ints(rng, distinct.size, 10 ** (digits - 1), 10 ** digits)
        out[hit] = _format(system, field, numbers)[inverse]
    return out


def recorded_by(frame: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    """The record versions a system held by day ``cutoff`` (integer days since 1970-01-01)."""
    return frame[frame[FROM] <= np.datetime64(cutoff, "D")].reset_index(drop=True)


def empty_like(columns: list[str]) -> pd.DataFrame:
    """A feed with no records."""
    return pd.DataFrame({c: pd.Series(dtype="datetime64[s]" if c in (FROM, TO) else object) for c in columns})
