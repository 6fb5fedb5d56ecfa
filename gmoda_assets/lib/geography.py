"""The platform's geography reference: Greater Manchester LSOAs and an invented postcode directory.

Real postcode directories cannot be shipped, so the platform uses a deterministic invented one built from the
LSOA reference (``reference/gm_lsoa_2011.csv``). Each ward is placed in a real postcode district of its council
(Fallowfield in M14, Reddish in SK5, ...); each LSOA gets its own postcode sector digits and 10-25 unit
postcodes. Every postcode has a valid UK shape, is unique and maps to exactly one LSOA, hence to one ward and
council. The directory is derived by hashing with a fixed salt, not by a random generator, so it is identical
on every machine, run and library version, and independent of any simulation seed.
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

# Each ward's postcode district, as near to the real one as a single district allows.
WARD_DISTRICTS: dict[str, dict[str, str]] = {
    "Bolton": {
        "Astley Bridge": "BL1", "Bradshaw": "BL2", "Breightmet": "BL2", "Bromley Cross": "BL7", "Crompton": "BL1",
        "Farnworth": "BL4", "Great Lever": "BL3", "Halliwell": "BL1", "Harper Green": "BL4",
        "Heaton and Lostock": "BL6", "Horwich North East": "BL6", "Horwich and Blackrod": "BL6", "Hulton": "BL5",
        "Kearsley": "BL4", "Little Lever and Darcy Lever": "BL3", "Rumworth": "BL3", "Smithills": "BL1",
        "Tonge with the Haulgh": "BL2", "Westhoughton North and Chew Moor": "BL5", "Westhoughton South": "BL5",
    },
    "Bury": {
        "Besses": "M45", "Church": "BL8", "East": "BL9", "Elton": "BL8", "Holyrood": "M25", "Moorside": "BL9",
        "North Manor": "BL8", "Pilkington Park": "M45", "Radcliffe East": "M26", "Radcliffe North": "M26",
        "Radcliffe West": "M26", "Ramsbottom": "BL0", "Redvales": "BL9", "Sedgley": "M25", "St Mary's": "M25",
        "Tottington": "BL8", "Unsworth": "BL9",
    },
    "Manchester": {
        "Ancoats and Clayton": "M11", "Ardwick": "M12", "Baguley": "M23", "Bradford": "M11", "Brooklands": "M23",
        "Burnage": "M19", "Charlestown": "M9", "Cheetham": "M8", "Chorlton": "M21", "Chorlton Park": "M21",
        "City Centre": "M1", "Crumpsall": "M8", "Didsbury East": "M20", "Didsbury West": "M20",
        "Fallowfield": "M14", "Gorton North": "M18", "Gorton South": "M18", "Harpurhey": "M9",
        "Higher Blackley": "M9", "Hulme": "M15", "Levenshulme": "M19", "Longsight": "M13",
        "Miles Platting and Newton Heath": "M40", "Moss Side": "M16", "Moston": "M40", "Northenden": "M22",
        "Old Moat": "M20", "Rusholme": "M14", "Sharston": "M22", "Whalley Range": "M16", "Withington": "M20",
        "Woodhouse Park": "M22",
    },
    "Oldham": {
        "Alexandra": "OL8", "Chadderton Central": "OL9", "Chadderton North": "OL9", "Chadderton South": "OL9",
        "Coldhurst": "OL1", "Crompton": "OL2", "Failsworth East": "M35", "Failsworth West": "M35",
        "Hollinwood": "OL8", "Medlock Vale": "OL8", "Royton North": "OL2", "Royton South": "OL2",
        "Saddleworth North": "OL3", "Saddleworth South": "OL3", "Saddleworth West and Lees": "OL4", "Shaw": "OL2",
        "St James'": "OL4", "St Mary's": "OL1", "Waterhead": "OL4", "Werneth": "OL8",
    },
    "Rochdale": {
        "Balderstone and Kirkholt": "OL11", "Bamford": "OL11", "Castleton": "OL11", "Central Rochdale": "OL16",
        "East Middleton": "M24", "Healey": "OL12", "Hopwood Hall": "M24", "Kingsway": "OL16",
        "Littleborough Lakeside": "OL15", "Milkstone and Deeplish": "OL11", "Milnrow and Newhey": "OL16",
        "Norden": "OL11", "North Heywood": "OL10", "North Middleton": "M24", "Smallbridge and Firgrove": "OL16",
        "South Middleton": "M24", "Spotland and Falinge": "OL12", "Wardle and West Littleborough": "OL12",
        "West Heywood": "OL10", "West Middleton": "M24",
    },
    "Salford": {
        "Barton": "M30", "Boothstown and Ellenbrook": "M28", "Broughton": "M7", "Cadishead": "M44",
        "Claremont": "M6", "Eccles": "M30", "Irlam": "M44", "Irwell Riverside": "M3", "Kersal": "M7",
        "Langworthy": "M6", "Little Hulton": "M38", "Ordsall": "M5", "Pendlebury": "M27", "Swinton North": "M27",
        "Swinton South": "M27", "Walkden North": "M28", "Walkden South": "M28", "Weaste and Seedley": "M5",
        "Winton": "M30", "Worsley": "M28",
    },
    "Stockport": {
        "Bramhall North": "SK7", "Bramhall South and Woodford": "SK7", "Bredbury Green and Romiley": "SK6",
        "Bredbury and Woodley": "SK6", "Brinnington and Central": "SK1", "Cheadle Hulme North": "SK8",
        "Cheadle Hulme South": "SK8", "Cheadle and Gatley": "SK8", "Davenport and Cale Green": "SK3",
        "Edgeley and Cheadle Heath": "SK3", "Hazel Grove": "SK7", "Heald Green": "SK8", "Heatons North": "SK4",
        "Heatons South": "SK4", "Manor": "SK2", "Marple North": "SK6", "Marple South and High Lane": "SK6",
        "Offerton": "SK2", "Reddish North": "SK5", "Reddish South": "SK5", "Stepping Hill": "SK2",
    },
    "Tameside": {
        "Ashton Hurst": "OL6", "Ashton St Michael's": "OL6", "Ashton Waterloo": "OL7", "Audenshaw": "M34",
        "Denton North East": "M34", "Denton South": "M34", "Denton West": "M34", "Droylsden East": "M43",
        "Droylsden West": "M43", "Dukinfield": "SK16", "Dukinfield Stalybridge": "SK15", "Hyde Godley": "SK14",
        "Hyde Newton": "SK14", "Hyde Werneth": "SK14", "Longdendale": "SK14", "Mossley": "OL5",
        "St Peter's": "OL6", "Stalybridge North": "SK15", "Stalybridge South": "SK15",
    },
    "Trafford": {
        "Altrincham": "WA14", "Ashton upon Mersey": "M33", "Bowdon": "WA14", "Broadheath": "WA14",
        "Brooklands": "M33", "Bucklow-St Martins": "M31", "Clifford": "M16", "Davyhulme East": "M41",
        "Davyhulme West": "M41", "Flixton": "M41", "Gorse Hill": "M32", "Hale Barns": "WA15",
        "Hale Central": "WA15", "Longford": "M32", "Priory": "M33", "Sale Moor": "M33", "St Mary's": "M33",
        "Stretford": "M32", "Timperley": "WA15", "Urmston": "M41", "Village": "WA15",
    },
    "Wigan": {
        "Abram": "WN2", "Ashton": "WN4", "Aspull New Springs Whelley": "WN2", "Astley Mosley Common": "M29",
        "Atherleigh": "M46", "Atherton": "M46", "Bryn": "WN4", "Douglas": "WN5", "Golborne and Lowton West": "WA3",
        "Hindley": "WN2", "Hindley Green": "WN2", "Ince": "WN3", "Leigh East": "WN7", "Leigh South": "WN7",
        "Leigh West": "WN7", "Lowton East": "WA3", "Orrell": "WN5", "Pemberton": "WN5",
        "Shevington with Lower Ground": "WN6", "Standish with Langtree": "WN6", "Tyldesley": "M29",
        "Wigan Central": "WN1", "Wigan West": "WN5", "Winstanley": "WN3", "Worsley Mesnes": "WN3",
    },
}


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
    table = _lsoas()
    district_of = {
        (row.lad19nm, row.ward17nm): WARD_DISTRICTS[row.lad19nm][row.ward17nm]
        for row in table[["lad19nm", "ward17nm"]].drop_duplicates().itertuples()
    }
    table = table.assign(district=[district_of[k] for k in zip(table.lad19nm, table.ward17nm)])
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
