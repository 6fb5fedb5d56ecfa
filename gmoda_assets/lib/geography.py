"""The platform's geography reference: Greater Manchester LSOAs and an invented postcode directory.

Real postcode directories cannot be shipped, so the platform uses a deterministic invented one built from the
LSOA reference (``reference/gm_lsoa_2011.csv``). Each ward is placed in a real postcode district of its council
(Fallowfield in M14, Reddish in SK5, ...: ``reference/gm_ward_postcode_districts.csv``); each LSOA gets its own
postcode sector digits and 10-25 unit postcodes. Every postcode has a valid UK shape, is unique and maps to
exactly one LSOA, hence to one ward and council. The directory is derived by hashing with a fixed salt, not by a
random generator, so it is identical on every machine, run and library version, and independent of any
simulation seed.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import pandas as pd

from gmoda_assets.lib.digest import sha256_of

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
POSTCODE_PATTERN = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
# Letters the Royal Mail uses in the inward unit (never C, I, K, M, O or V).
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# The fixed "seed" of the directory: changing it re-draws every postcode.
_SALT = "gmoda-postcode-directory-v1"


@cache
def _lsoas() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "gm_lsoa_2011.csv", dtype={"lsoa11cd": str, "ward17cd": str, "lad19cd": str})


def lsoas() -> pd.DataFrame:
    """The 1,673 Greater Manchester LSOAs (2011) with ward, council, IMD 2019 deciles and population."""
    return _lsoas().copy()


def _rank(*parts: str) -> str:
    return sha256_of(["|".join((_SALT, *parts)).encode()]).hexdigest()


def _postcodes_per_lsoa(population: int) -> int:
    """About one postcode per 100 residents, between 10 and 25."""
    return min(25, max(10, round(population / 100)))


@cache
def _directory() -> pd.DataFrame:
    # Each ward's postcode district, as near to the real one as a single district allows.
    districts = pd.read_csv(REFERENCE_DIR / "gm_ward_postcode_districts.csv", dtype=str)
    table = _lsoas().merge(districts.rename(columns={"postcode_district": "district"}), how="left",
                           on=["lad19nm", "ward17nm"], validate="many_to_one")
    if (missing := table.loc[table.district.isna(), "ward17nm"].unique()).size:
        raise ValueError(f"gm_ward_postcode_districts.csv names no postcode district for {', '.join(missing)}")
    units = [a + b for a in UNIT_LETTERS for b in UNIT_LETTERS]
    rows = []
    for district, group in table.sort_values(["district", "ward17cd", "lsoa11cd"]).groupby("district", sort=True):
        # Neighbouring LSOAs (same ward) share a sector; at most 10 sectors (digits 0-9) per district.
        per_sector = max(4, math.ceil(len(group) / 10))
        digits = sorted("0123456789", key=lambda d: _rank(district, d))
        for start in range(0, len(group), per_sector):
            sector = f"{district} {digits[start // per_sector]}"
            pool = iter(sorted(units, key=lambda u: _rank(sector, u)))
            for lsoa in group.iloc[start:start + per_sector].itertuples():
                for _ in range(_postcodes_per_lsoa(lsoa.population_mid2015)):
                    rows.append((sector + next(pool), sector, district, lsoa.lsoa11cd, lsoa.ward17cd, lsoa.lad19cd))
    columns = ["postcode", "postcode_sector", "postcode_district", "lsoa11cd", "ward17cd", "lad19cd"]
    return pd.DataFrame(rows, columns=columns).sort_values("postcode", ignore_index=True)


def postcode_directory() -> pd.DataFrame:
    """Invented postcodes of Greater Manchester: postcode, sector, district, LSOA, ward and council codes."""
    return _directory().copy()


def normalise_postcode(value: str) -> str:
    """Upper case with one space before the inward code (``m145ab`` -> ``M14 5AB``); other text is stripped."""
    compact = re.sub(r"\s+", "", value).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact
