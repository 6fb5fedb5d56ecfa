"""Invented places of the simulation: streets and addresses on the postcode directory, schools, early-years
settings and GP practices spread over each council's wards."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.lib import geography
from gmoda_assets.simulate.identifiers import unique_ints

STREET_WORDS = [
    "Acacia", "Albert", "Alexandra", "Ash", "Ashworth", "Beech", "Birch", "Brook", "Canal", "Chapel", "Cherry",
    "Church", "Clarendon", "Clifton", "Cromwell", "Derby", "Elm", "Gladstone", "Grange", "Hawthorn", "Heywood",
    "Highfield", "Hollin", "Holly", "Kingsway", "Lancaster", "Larch", "Lime", "Manor", "Maple", "Marlborough",
    "Mill", "Moss", "Oak", "Orchard", "Park", "Peel", "Pennine", "Queen's", "Railway", "Regent", "Rose",
    "St John's", "St Mary's", "Stamford", "Station", "Victoria", "Wellington", "Willow", "Windsor", "York",
    "Bridgewater", "Cotton", "Weaver", "Spinners", "Foundry", "Dale", "Moorside", "Fairfield", "Greenfield",
]
STREET_KINDS = ["Road", "Street", "Avenue", "Close", "Lane", "Drive", "Grove", "Way", "Crescent", "Court",
                "Terrace", "Walk", "Gardens", "Mews", "Place", "Rise"]
# GP practice ODS code prefix of each council's former clinical commissioning group.
GP_PREFIXES = {
    "E08000001": "P82", "E08000002": "P83", "E08000003": "P84", "E08000004": "P85", "E08000005": "P86",
    "E08000006": "P87", "E08000007": "P88", "E08000008": "P89", "E08000009": "P91", "E08000010": "P92",
}
PUPILS_PER_SCHOOL_YEAR = 45
SETTINGS_PER_SCHOOL = 1.3  # private, voluntary and independent settings besides school nursery classes
RESIDENTS_PER_PRACTICE = 7_500


def streets(rng: np.random.Generator, directory: pd.DataFrame) -> np.ndarray:
    """A street name for every postcode of the directory (a unit postcode is usually one street)."""
    word = rng.integers(0, len(STREET_WORDS), len(directory))
    kind = rng.integers(0, len(STREET_KINDS), len(directory))
    return np.char.add(np.char.add(np.array(STREET_WORDS)[word], " "), np.array(STREET_KINDS)[kind]).astype(object)


def address_lines(rng: np.random.Generator, street: np.ndarray) -> np.ndarray:
    """House-number addresses on the given streets; about one in twelve is a flat."""
    number = np.char.mod("%d", 1 + rng.geometric(1 / 45, len(street)) % 240)
    line = np.char.add(np.char.add(number, " "), street.astype(str))
    flat = rng.random(len(street)) < 0.08
    flat_no = np.char.mod("Flat %d, ", rng.integers(1, 12, len(street)))
    return np.where(flat, np.char.add(flat_no, line), line).astype(object)


def _allocate(rng: np.random.Generator, wards: pd.DataFrame, count: int) -> np.ndarray:
    """Wards of ``count`` facilities of one council: one per ward first, the rest in proportion to children."""
    base = np.arange(len(wards))[: min(count, len(wards))]
    p = wards.children.to_numpy() / wards.children.sum()
    extra = rng.choice(len(wards), max(0, count - len(wards)), p=p)
    return wards.ward17cd.to_numpy()[np.concatenate([base, extra])]


class Facilities:
    """Schools, early-years settings and GP practices of every council, each placed in a ward."""

    def __init__(self, rng: np.random.Generator, assessed_per_year: dict[str, float]) -> None:
        lsoas = geography.lsoas()
        wards = lsoas.groupby(["lad19cd", "ward17cd"], as_index=False).agg(
            children=("children_0_15_mid2015", "sum"), residents=("population_mid2015", "sum"))
        schools, settings, practices = [], [], []
        for council, group in wards.groupby("lad19cd", sort=True):
            n_schools = max(len(group), round(assessed_per_year[council] / PUPILS_PER_SCHOOL_YEAR))
            school_wards = _allocate(rng, group, n_schools)
            schools.append(pd.DataFrame({"lad19cd": council, "ward17cd": school_wards,
                                         "establishment": 2000 + rng.permutation(999)[:n_schools] + 1}))
            pvi_wards = _allocate(rng, group, round(n_schools * SETTINGS_PER_SCHOOL))
            settings.append(pd.DataFrame({"lad19cd": council, "ward17cd": pvi_wards}))
            n_practices = max(len(group) // 2, round(group.residents.sum() / RESIDENTS_PER_PRACTICE))
            practices.append(pd.DataFrame({"lad19cd": council, "ward17cd": _allocate(rng, group, n_practices),
                                           "gp_practice_code": [f"{GP_PREFIXES[council]}{i:03d}"
                                                                for i in range(1, n_practices + 1)]}))
        self.schools = pd.concat(schools, ignore_index=True)
        self.schools["urn"] = np.char.mod("%d", unique_ints(rng, len(self.schools), 105_000, 150_000))
        pvi = pd.concat(settings, ignore_index=True)
        pvi["urn"] = np.char.mod("%d", unique_ints(rng, len(pvi), 500_000, 600_000))
        # Children take funded hours at school nursery classes and at private and voluntary settings alike.
        self.settings = pd.concat([self.schools[["lad19cd", "ward17cd", "urn"]], pvi], ignore_index=True)
        self.practices = pd.concat(practices, ignore_index=True)

    @staticmethod
    def pick(table: pd.DataFrame, ward: np.ndarray, council: np.ndarray, u: np.ndarray,
             u_elsewhere: np.ndarray, p_elsewhere: float) -> np.ndarray:
        """Row positions in ``table`` of one facility per person: one in their ward, or with probability
        ``p_elsewhere`` one anywhere in their council. ``u`` and ``u_elsewhere`` are the person's own uniform
        draws, so the same person in the same ward always picks the same facility."""
        order = np.lexsort((np.arange(len(table)), table.ward17cd.to_numpy()))
        ward_keys, ward_start, ward_count = np.unique(table.ward17cd.to_numpy()[order], return_index=True,
                                                      return_counts=True)
        council_order = np.lexsort((np.arange(len(table)), table.lad19cd.to_numpy()))
        council_keys, council_start, council_count = np.unique(table.lad19cd.to_numpy()[council_order],
                                                               return_index=True, return_counts=True)
        w = np.searchsorted(ward_keys, ward)
        c = np.searchsorted(council_keys, council)
        in_ward = order[ward_start[w] + (u * ward_count[w]).astype(np.int64)]
        anywhere = council_order[council_start[c] + (u * council_count[c]).astype(np.int64)]
        return np.where(u_elsewhere < p_elsewhere, anywhere, in_ward)
