"""The ground-truth population: families with children born in six academic-year cohorts, where they live
over time, and what is true of each child at birth and in infancy.

Everything is drawn once from one generator; every partner feed is later rendered from this one population,
so the same child appears consistently (and, after error injection, imperfectly) across feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from gmoda_assets.lib import geography
from gmoda_assets.simulate import names, timeline
from gmoda_assets.simulate.identifiers import nhs_numbers, unique_ints
from gmoda_assets.simulate.places import Facilities, address_lines, streets

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
SMALL_CHILDREN = 1_500
ETHNICITIES = ("white_british", "white_other", "mixed", "asian_pakistani", "asian_bangladeshi", "asian_indian",
               "asian_other", "black_african", "black_caribbean", "black_other", "other", "not_stated")
# Ethnic mix of young children by council (order of ETHNICITIES), after Census 2021 for 0-4 year olds.
ETHNIC_MIX = {
    "E08000001": (60, 4, 6, 10, 1, 11, 2, 3, .5, .5, 1.5, 1),
    "E08000002": (72, 5, 6, 9, 1, 1.5, 1.5, 2, .5, .5, 1, 1),
    "E08000003": (35, 8, 9, 17, 4, 3, 4, 11, 2, 2, 4, 1),
    "E08000004": (56, 3, 5, 17, 12, 1, 1, 3, .5, .5, 1, 1),
    "E08000005": (63, 4, 5, 19, 3, 1, 1, 2, .5, .5, 1, 1),
    "E08000006": (66, 8, 6, 2, 1, 1, 3, 8, 1, 1, 3, 1),
    "E08000007": (81, 4, 5, 4, .5, 2, 1.5, 1, .5, .5, 1, 1),
    "E08000008": (76, 3, 5, 5, 5, 3, 1, 1, .5, .5, 1, 1),
    "E08000009": (66, 5, 7, 8, .5, 4, 2, 2, 2, 1, 2, 1),
    "E08000010": (88, 4, 4, .5, .2, .5, 1, 1, .2, .2, .5, 1),
}
# How strongly each group is concentrated in the more deprived neighbourhoods of its council.
ETHNIC_DEPRIVATION_TILT = (-0.15, 0.3, 0.4, 0.6, 0.7, 0.0, 0.3, 0.6, 0.6, 0.6, 0.5, 0.0)
# Share whose first language is not English, by ethnicity.
EAL_RATE = dict(zip(ETHNICITIES, (0.005, 0.75, 0.1, 0.72, 0.82, 0.6, 0.7, 0.55, 0.02, 0.3, 0.7, 0.2)))
FAMILY_SIZES, FAMILY_SIZE_P = (1, 2, 3, 4), (0.48, 0.36, 0.12, 0.04)  # children a mother has in all
TWIN_RATE = 0.015
MOVES_PER_YEAR = 0.09
MOVE_WITHIN_COUNCIL = 0.82
FSM_RATE = 0.25  # free school meals eligibility across GM Reception children
TWO_YEAR_RATE = 0.36  # low-income families entitled to funded places for two-year-olds


@dataclass
class Population:
    """One draw of the simulated world. Dates are integer days since 1970-01-01 (see ``timeline``)."""

    seed: int
    as_of: date
    cutoff: int  # last day of data any feed may hold
    lsoas: pd.DataFrame  # geography.lsoas() with dep_z; rows are indexed by position (``lsoa`` columns)
    postcodes: pd.DataFrame  # the postcode directory with a street per postcode
    facilities: Facilities
    households: pd.DataFrame
    mothers: pd.DataFrame
    partners: pd.DataFrame
    children: pd.DataFrame
    periods: pd.DataFrame  # address history: one row per household per address, sorted by household, start

    def address_at(self, household: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Row positions in ``periods`` of each household's address on each day."""
        keys = self.periods.household.to_numpy() * 100_000 + self.periods.start.to_numpy()
        pos = np.searchsorted(keys, np.asarray(household) * 100_000 + np.asarray(days), side="right") - 1
        # Before the first recorded address the family lived at it already.
        first = np.searchsorted(keys, np.asarray(household) * 100_000, side="left")
        return np.maximum(pos, first)

    @property
    def partner_row(self) -> np.ndarray:
        """Row in ``partners`` of each household's partner, -1 where the mother has none."""
        row = np.full(len(self.households), -1)
        row[self.partners.household.to_numpy()] = np.arange(len(self.partners))
        return row

    def children_of(self, household: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (element of ``household``, child of that household) pair, as positions: the element's index
        and the child's row in ``children`` (sorted by household)."""
        lo = np.searchsorted(self.children.household.to_numpy(), household, side="left")
        count = np.searchsorted(self.children.household.to_numpy(), household, side="right") - lo
        element = np.repeat(np.arange(len(household)), count)
        return element, np.repeat(lo, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)


@cache
def council_targets() -> pd.DataFrame:
    """Published GLD rates per council and assessment year (reference/gm_la_eyfsp_gld.csv, councils only)."""
    table = pd.read_csv(REFERENCE_DIR / "gm_la_eyfsp_gld.csv", dtype={"area_code": str})
    return table[table.area_code.str.startswith("E08") & table.children_assessed.notna()].reset_index(drop=True)


def children_per_year(scale: str) -> dict[str, float]:
    """Births per academic year in each council at the given scale (GM: children assessed, 2022/23-2024/25)."""
    assessed = council_targets().groupby("area_code").children_assessed.mean()
    if scale == "gm":
        factor = 1.0
    elif scale == "small":
        factor = SMALL_CHILDREN / len(timeline.COHORT_YEARS) / assessed.sum()
    else:
        raise ValueError(f"unknown scale '{scale}' (use 'small' or 'gm')")
    return {code: float(n * factor) for code, n in assessed.sort_index().items()}


def _lsoa_table() -> pd.DataFrame:
    table = geography.lsoas().sort_values("lsoa11cd", ignore_index=True)
    # Deprivation score: 0 at the middle income decile, about +1.6 in the most deprived tenth.
    table["dep_z"] = (5.5 - table.income19_decile) / 2.87
    return table


def _categorical(rng: np.random.Generator, group: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One category per element, drawn from row ``group`` of the probability matrix ``probs``."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    return (rng.random(len(group))[:, None] > cdf[group]).sum(axis=1)


def _pick_lsoa(rng: np.random.Generator, lsoas: pd.DataFrame, council: np.ndarray,
               near_decile: np.ndarray | None) -> np.ndarray:
    """An LSOA in each council, in proportion to its children, favouring deciles near ``near_decile``."""
    councils = lsoas.lad19cd.to_numpy()
    out = np.empty(len(council), dtype=np.int64)
    key = council if near_decile is None else np.char.add(council.astype(str), np.char.mod("-%d", near_decile))
    for group in np.unique(key):
        hit = np.flatnonzero(key == group)
        code = group[:9]
        pool = np.flatnonzero(councils == code)
        weight = lsoas.children_0_15_mid2015.to_numpy()[pool].astype(float)
        if near_decile is not None:
            weight *= np.exp(-np.abs(lsoas.imd19_decile.to_numpy()[pool] - int(group[10:])) / 1.5)
        cdf = np.cumsum(weight)
        out[hit] = pool[np.searchsorted(cdf, rng.random(hit.size) * cdf[-1], side="right")]
    return out


def _ethnic_probs(lsoas: pd.DataFrame, councils: list[str]) -> np.ndarray:
    """P(ethnicity | council, IMD decile), tilted towards deprivation and fitted to each council's mix."""
    tilt = np.array(ETHNIC_DEPRIVATION_TILT)
    dz = (5.5 - np.arange(1, 11)) / 2.87
    probs = np.zeros((len(councils) * 10, len(ETHNICITIES)))
    for i, code in enumerate(councils):
        target = np.array(ETHNIC_MIX[code], dtype=float)
        target /= target.sum()
        rows = lsoas[lsoas.lad19cd == code]
        p_decile = np.bincount(rows.imd19_decile, weights=rows.children_0_15_mid2015, minlength=11)[1:]
        p_decile /= p_decile.sum()
        base = target.copy()
        for _ in range(50):  # iterative proportional fitting of the council's marginal mix
            q = base[None, :] * np.exp(tilt[None, :] * dz[:, None])
            q /= q.sum(axis=1, keepdims=True)
            base *= target / (p_decile @ q)
        probs[i * 10:(i + 1) * 10] = q
    return probs


def _families(rng: np.random.Generator, n_children: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth days of a stationary stream of families, kept until ``n_children`` births fall in the cohorts.

    Returns (household of each cohort child, its birth day, each household's first birth day of any child).
    A family's births start at any time in the 14 years before the cohorts, so some cohort children have
    older brothers and sisters who are not simulated."""
    lo, hi = timeline.day(timeline.BIRTHS_FROM), timeline.day(timeline.BIRTHS_TO)
    n_families = int(n_children * 2.2) + 200
    size = rng.choice(FAMILY_SIZES, n_families, p=FAMILY_SIZE_P)
    first = rng.uniform(lo - 14 * 365.25, hi + 1, n_families)
    gaps = 365.25 * (1.2 + rng.gamma(2.0, 1.1, (n_families, 3)))
    births = first[:, None] + np.concatenate([np.zeros((n_families, 1)), np.cumsum(gaps, axis=1)], axis=1)
    births = np.floor(births).astype(np.int64)
    twins = rng.random(births.shape) < TWIN_RATE
    slot = np.broadcast_to(np.arange(4), births.shape)
    in_cohorts = (slot < size[:, None]) & (births >= lo) & (births <= hi)
    counts = (in_cohorts * (1 + twins)).sum(axis=1)
    keep = np.flatnonzero(counts > 0)
    keep = keep[: np.searchsorted(np.cumsum(counts[keep]), n_children) + 1]
    family, slot_ = np.nonzero(in_cohorts[keep])
    household = np.repeat(family, 1 + twins[keep][family, slot_])
    born = timeline.seasonal(np.repeat(births[keep][family, slot_], 1 + twins[keep][family, slot_]))
    return household, born, np.floor(first[keep]).astype(np.int64)


def _names_of_people(rng: np.random.Generator, tradition: np.ndarray, female: np.ndarray, adult: bool,
                     surname: np.ndarray) -> pd.DataFrame:
    given = np.where(female, names.draw(rng, tradition, 2 if adult else 0),
                     names.draw(rng, tradition, 3 if adult else 1))
    family = np.where(female, names.feminine(surname), surname)
    return pd.DataFrame({"given_name": given, "family_name": family})


def build_population(scale: str = "small", seed: int = 42, as_of: date = date(2025, 11, 1)) -> Population:
    """Draw the families, children and address histories (not yet development or service use)."""
    rng = np.random.default_rng(seed)
    cutoff = timeline.day(as_of.replace(day=1)) - 1
    lsoas = _lsoa_table()
    directory = geography.postcode_directory()
    directory["street"] = streets(rng, directory)
    directory["lsoa"] = np.searchsorted(lsoas.lsoa11cd.to_numpy(), directory.lsoa11cd.to_numpy())
    per_year = children_per_year(scale)
    councils = sorted(per_year)
    facilities = Facilities(rng, children_per_year("gm"))

    # Families and births.
    n_children = round(sum(per_year.values()) * len(timeline.COHORT_YEARS))
    household, dob, first_birth = _families(rng, n_children)
    n_hh = len(first_birth)
    weight = np.array([per_year[c] for c in councils])
    hh_council = np.array(councils)[rng.choice(len(councils), n_hh, p=weight / weight.sum())]
    hh_lsoa = _pick_lsoa(rng, lsoas, hh_council, None)
    dep_z = lsoas.dep_z.to_numpy()[hh_lsoa]
    disadvantage = 0.65 * dep_z + 0.76 * rng.standard_normal(n_hh)
    council_index = np.searchsorted(councils, hh_council)
    decile = lsoas.imd19_decile.to_numpy()[hh_lsoa]
    ethnicity = np.array(ETHNICITIES)[_categorical(rng, council_index * 10 + decile - 1,
                                                   _ethnic_probs(lsoas, councils))]
    tradition = names.draw_tradition(rng, ethnicity)
    surname = names.draw(rng, tradition, 4)
    has_partner = rng.random(n_hh) < 1 / (1 + np.exp(-(1.2 - 0.6 * disadvantage)))
    households = pd.DataFrame({
        "household": np.arange(n_hh), "household_id": np.char.mod("HH%07d", np.arange(n_hh)).astype(object),
        "council": hh_council, "lsoa": hh_lsoa, "ethnicity": ethnicity,
        "tradition": tradition, "surname": surname, "disadvantage": disadvantage,
        # Income-related entitlements: the most disadvantaged quarter (FSM) and a wider third (two-year places).
        "low_income": disadvantage > np.quantile(disadvantage, 1 - FSM_RATE),
        "two_year_eligible": disadvantage > np.quantile(disadvantage, 1 - TWO_YEAR_RATE),
        "mother_no_qualifications": rng.random(n_hh) < 1 / (1 + np.exp(-(-2.6 + 1.1 * disadvantage))),
        # Family adversity (mental health, substance misuse, domestic abuse) behind police and social care.
        "adversity": 0.6 * disadvantage + 0.8 * rng.standard_normal(n_hh),
        "has_partner": has_partner,
        "family_development": rng.standard_normal(n_hh),
    })
    households["working"] = ~households.low_income & (rng.random(n_hh) < 0.85)

    # Mothers and partners.
    mother_tradition = np.where((ethnicity == "mixed") & (rng.random(n_hh) < 0.6), "british", tradition)
    own_surname = names.draw(rng, mother_tradition, 4)
    mother_surname = np.where(rng.random(n_hh) < 0.75, surname, own_surname)
    # Younger mothers in deprived areas; and no births after 45.
    span = (np.maximum.reduceat(dob, np.r_[0, np.flatnonzero(np.diff(household)) + 1]) - first_birth) / 365.25
    age_first = np.clip(rng.normal(28.0 - 1.6 * dep_z, 5.0), 16, np.maximum(16, 45 - span))
    mother_dob = first_birth - np.round(age_first * 365.25).astype(np.int64)
    mothers = _names_of_people(rng, mother_tradition, np.ones(n_hh, bool), True, mother_surname)
    mothers.insert(0, "household", np.arange(n_hh))
    mothers.insert(0, "person_id", np.char.mod("MO%07d", np.arange(n_hh)).astype(object))
    mothers["date_of_birth"] = mother_dob
    partner_hh = np.flatnonzero(has_partner)
    partner_surname = np.where(rng.random(partner_hh.size) < 0.8, surname[partner_hh],
                               names.draw(rng, tradition[partner_hh], 4))
    partners = _names_of_people(rng, tradition[partner_hh], np.zeros(partner_hh.size, bool), True,
                                partner_surname)
    partners.insert(0, "household", partner_hh)
    partners.insert(0, "person_id", np.char.mod("PA%07d", np.arange(partner_hh.size)).astype(object))
    # Partners are a few years older on average, and adults when the first child is born.
    partner_dob = mother_dob[partner_hh] - np.round(rng.normal(2.5, 4.0, partner_hh.size) * 365.25).astype(np.int64)
    partners["date_of_birth"] = np.minimum(partner_dob, first_birth[partner_hh] - round(17 * 365.25))

    # Children.
    n = len(dob)
    order = np.lexsort((dob, household))
    household, dob = household[order], dob[order]
    female = rng.random(n) < 0.487
    # Second-generation families often choose British names.
    child_tradition = np.where(rng.random(n) < 0.12, "british", tradition[household])
    children = _names_of_people(rng, child_tradition, female, False, surname[household])
    twin_clash = (np.r_[False, (household[1:] == household[:-1]) & (dob[1:] == dob[:-1])]
                  & (children.given_name.to_numpy() == np.r_[None, children.given_name.to_numpy()[:-1]]))
    children.loc[twin_clash, "given_name"] = _names_of_people(
        rng, np.full(twin_clash.sum(), "british"), female[twin_clash], False, surname[household][twin_clash]
    ).given_name.to_numpy()
    twin = np.zeros(n, bool)
    same = (household[1:] == household[:-1]) & (dob[1:] == dob[:-1])
    twin[1:] |= same
    twin[:-1] |= same
    children.insert(0, "household", household)
    children.insert(0, "child_id", np.char.mod("CH%07d", np.arange(n)).astype(object))
    children["sex"] = np.where(female, "female", "male")
    children["date_of_birth"] = dob
    children["twin"] = twin
    children["ethnicity"] = ethnicity[household]
    children["first_language"] = np.where(
        rng.random(n) < np.vectorize(EAL_RATE.get)(ethnicity[household]), "other", "english")
    # NHS numbers are unique across everyone.
    numbers = nhs_numbers(rng, n_hh + partner_hh.size + n)
    mothers["nhs_number"] = numbers[:n_hh]
    partners["nhs_number"] = numbers[n_hh:n_hh + partner_hh.size]
    children["nhs_number"] = numbers[n_hh + partner_hh.size:]
    children["cohort"] = timeline.academic_year_start(dob)
    children["mother_age"] = ((dob - mother_dob[household]) / 365.25).astype(np.int64)
    children["fsm_eligible"] = households.low_income.to_numpy()[household]
    _birth_facts(rng, children, households)

    # Address histories.
    start = dob[np.r_[0, np.flatnonzero(np.diff(household)) + 1]] - rng.integers(0, 730, n_hh)
    periods = _address_history(rng, lsoas, directory, households, start, cutoff)
    return Population(seed=seed, as_of=as_of, cutoff=cutoff, lsoas=lsoas, postcodes=directory,
                      facilities=facilities, households=households, mothers=mothers, partners=partners,
                      children=children, periods=periods)


# Mean birth weight (grams) by completed weeks of gestation, girls; boys are about 100 g heavier.
_WEIGHT_BY_WEEK = {24: 650, 26: 900, 28: 1150, 30: 1500, 32: 1850, 34: 2300, 36: 2750, 37: 2950, 38: 3150,
                   39: 3300, 40: 3420, 41: 3520, 42: 3580}


def _birth_facts(rng: np.random.Generator, children: pd.DataFrame, households: pd.DataFrame) -> None:
    """Gestation, birth weight and infant feeding of each child (added as columns)."""
    n = len(children)
    hh = households.iloc[children.household.to_numpy()]
    dep = 0.65 * hh.disadvantage.to_numpy()
    twin = children.twin.to_numpy()
    age = children.mother_age.to_numpy()
    # Very preterm about 1.5%, moderately or late preterm 6.5%; more among twins, in deprived areas and at
    # the extremes of the mother's age.
    risk = 0.25 * dep + 2.3 * twin + 0.03 * np.abs(age - 29)
    z = rng.standard_normal(n) - risk
    very, moderate = z < np.quantile(z, 0.015), z < np.quantile(z, 0.08)
    weeks = np.where(very, rng.integers(24, 32, n),
                     np.where(moderate, rng.integers(32, 37, n),
                              np.clip(np.round(rng.normal(39.4, 1.2, n)), 37, 42))).astype(np.int64)
    mean = np.interp(weeks, list(_WEIGHT_BY_WEEK), list(_WEIGHT_BY_WEEK.values()))
    south_asian = np.isin(children.ethnicity.to_numpy(), ["asian_pakistani", "asian_bangladeshi", "asian_indian"])
    mean = mean + 100 * (children.sex.to_numpy() == "male") - 60 * dep - 200 * south_asian - 250 * twin
    children["gestation_weeks"] = weeks
    children["birth_weight_grams"] = np.clip(np.round(mean * (1 + 0.12 * rng.standard_normal(n))), 400, 5800)\
        .astype(np.int64)
    # Breastfeeding: started by about 70%, still going at 6-8 weeks for about 45%; more among migrant
    # families and older mothers, less in deprived areas.
    culture = np.isin(children.ethnicity.to_numpy(),
                      ["white_other", "asian_pakistani", "asian_bangladeshi", "asian_indian", "asian_other",
                       "black_african", "other"])
    start = rng.random(n) < 1 / (1 + np.exp(-(0.9 - 0.55 * dep + 1.1 * culture + 0.04 * (age - 29))))
    keep = start & (rng.random(n) < 1 / (1 + np.exp(-(0.35 - 0.35 * dep + 0.7 * culture))))
    exclusive_birth = start & (rng.random(n) < 0.7)
    exclusive_6w = keep & (rng.random(n) < 0.6)
    children["feeding_new_birth"] = np.where(exclusive_birth, "exclusive", np.where(start, "partial", "none"))
    children["feeding_six_eight_week"] = np.where(exclusive_6w, "exclusive", np.where(keep, "partial", "none"))
    children["never_breastfed"] = ~start


def postcode_rows(rng: np.random.Generator, directory: pd.DataFrame, lsoa: np.ndarray) -> np.ndarray:
    """Row positions in the postcode directory of a random postcode in each given LSOA (by position)."""
    order = np.lexsort((directory.postcode.to_numpy(), directory.lsoa.to_numpy()))
    first = np.searchsorted(directory.lsoa.to_numpy()[order], lsoa, side="left")
    count = np.searchsorted(directory.lsoa.to_numpy()[order], lsoa, side="right") - first
    return order[first + (rng.random(len(lsoa)) * count).astype(np.int64)]


def _address_history(rng: np.random.Generator, lsoas: pd.DataFrame, directory: pd.DataFrame,
                     households: pd.DataFrame, start: np.ndarray, cutoff: int) -> pd.DataFrame:
    """Where each family lived: an address from ``start``, and a new one after each move until ``cutoff``."""
    n_hh = len(households)
    n_moves = rng.poisson(MOVES_PER_YEAR * (cutoff - start) / 365.25)
    hh = np.repeat(np.arange(n_hh), 1 + n_moves)
    seq = np.arange(len(hh)) - np.repeat(np.cumsum(1 + n_moves) - (1 + n_moves), 1 + n_moves)
    when = np.where(seq == 0, start[hh], rng.integers(start[hh] + 1, cutoff + 1))
    order = np.lexsort((when, hh))
    when = when[order]
    lsoa = np.empty(len(hh), dtype=np.int64)
    lsoa[seq == 0] = households.lsoa.to_numpy()
    councils = lsoas.lad19cd.to_numpy()
    council_list = np.unique(councils)
    for s in range(1, seq.max() + 1):
        at = np.flatnonzero(seq == s)
        origin = lsoa[at - 1]
        council = councils[origin]
        # Most moves stay in the council; the rest go anywhere in GM in proportion to its families.
        away = rng.random(at.size) >= MOVE_WITHIN_COUNCIL
        weight = households.council.value_counts().reindex(council_list).to_numpy(dtype=float)
        council = np.where(away, council_list[rng.choice(council_list.size, at.size, p=weight / weight.sum())],
                           council)
        lsoa[at] = _pick_lsoa(rng, lsoas, council, lsoas.imd19_decile.to_numpy()[origin])
    row = postcode_rows(rng, directory, lsoa)
    postcode = directory.postcode.to_numpy()[row]
    street = directory.street.to_numpy()[row]
    return pd.DataFrame({
        "household": hh, "seq": seq, "start": when,
        "end": np.r_[np.where(hh[1:] == hh[:-1], when[1:] - 1, -1), -1],
        "lsoa": lsoa, "lad19cd": councils[lsoa], "ward17cd": lsoas.ward17cd.to_numpy()[lsoa],
        "imd_decile": lsoas.imd19_decile.to_numpy()[lsoa], "postcode": postcode,
        "address_line": address_lines(rng, street),
        "uprn": np.char.mod("%d", unique_ints(rng, len(hh), 100_000_000_000, 100_099_999_999)),
    })
