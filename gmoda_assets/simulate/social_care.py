"""Children's social care: early help, child in need, child protection and looked-after episodes.

Social care works with families, so interventions are drawn per household (far more often where adversity and
deprivation are high) and give every child then born in the family an episode with the same dates and need.
Children with an EHC plan also have disability (N2) child-in-need episodes of their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.population import Population
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO, council_ids, partner_of

INTERVENTIONS_PER_YEAR = 0.011  # per family at average adversity
ADVERSITY_EFFECT = 1.3
EARLY_HELP_FIRST = 0.45  # share of interventions that are early help rather than a child-in-need referral
CP_AFTER_CIN, LAC_AFTER_CP, LAC_AFTER_CIN = 0.22, 0.18, 0.03
# Median length in days and log-scale spread of each kind of episode.
DURATION = {"early_help": (150, 0.5), "child_in_need": (200, 0.7), "child_protection": (270, 0.5),
            "looked_after": (600, 0.8), "disability": (700, 0.6)}
NEEDS = ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9")
NEED_P = (0.55, 0.03, 0.04, 0.09, 0.17, 0.01, 0.005, 0.015, 0.09)
EHC_DISABILITY_EPISODE = 0.25
RECORDING_LAG_DAYS = 10


def _lengths(rng: np.random.Generator, kind: str, n: int) -> np.ndarray:
    median, spread = DURATION[kind]
    return np.maximum(7, np.round(median * np.exp(spread * rng.standard_normal(n)))).astype(np.int64)


def _interventions(rng: np.random.Generator, pop: Population) -> pd.DataFrame:
    """Family-level episodes: household, kind, start and end day (-1 while open), need code."""
    hh = pop.households
    first = pop.children.groupby("household").date_of_birth.min().to_numpy()
    years = (pop.cutoff - first) / 365.25
    rate = INTERVENTIONS_PER_YEAR * np.exp(ADVERSITY_EFFECT * hh.adversity.to_numpy()
                                           + 0.4 * hh.mother_no_qualifications.to_numpy())
    count = rng.poisson(rate * years)
    household = np.repeat(hh.household.to_numpy(), count)
    start = rng.integers(first[household], pop.cutoff + 1)
    n = household.size
    need = np.array(NEEDS)[rng.choice(len(NEEDS), n, p=np.array(NEED_P) / sum(NEED_P))]
    early = rng.random(n) < EARLY_HELP_FIRST
    cp = ~early & (rng.random(n) < CP_AFTER_CIN)
    lac_from_cp = cp & (rng.random(n) < LAC_AFTER_CP)
    lac_direct = ~early & ~cp & (rng.random(n) < LAC_AFTER_CIN)
    cp_start = start + rng.integers(14, 61, n)
    cp_end = cp_start + _lengths(rng, "child_protection", n)
    lac_start = np.where(lac_from_cp, cp_start + rng.integers(30, 241, n), start + rng.integers(0, 15, n))
    cp_end = np.where(lac_from_cp, np.minimum(cp_end, lac_start), cp_end)
    cin_end = np.maximum(start + _lengths(rng, "child_in_need", n), np.where(cp, cp_end + rng.integers(0, 91, n), 0))
    parts = [
        (early, "early_help", start, start + _lengths(rng, "early_help", n)),
        (~early, "child_in_need", start, cin_end),
        (cp, "child_protection", cp_start, cp_end),
        (lac_from_cp | lac_direct, "looked_after", lac_start, lac_start + _lengths(rng, "looked_after", n)),
    ]
    frame = pd.concat([pd.DataFrame({"household": household[m], "kind": kind, "start": s[m], "end": e[m],
                                     "need": need[m]}) for m, kind, s, e in parts], ignore_index=True)
    # Early help records often carry no category of need.
    frame.loc[(frame.kind == "early_help").to_numpy() & (rng.random(len(frame)) < 0.6), "need"] = None
    return frame


def episodes(rng: np.random.Generator, pop: Population) -> pd.DataFrame:
    """Child-level episodes (child position, kind, start, end or -1, need), starting by the data cutoff;
    adds social care flags to ``pop.children``."""
    ch = pop.children
    family = _interventions(rng, pop)
    family = family[family.start <= pop.cutoff]
    # Every child of the family born by the start of the intervention is part of it.
    row, child = pop.children_of(family.household.to_numpy())
    born = ch.date_of_birth.to_numpy()[child] <= family.start.to_numpy()[row]
    child, row = child[born], row[born]
    per_child = pd.DataFrame({"child": child, "kind": family.kind.to_numpy()[row],
                              "start": family.start.to_numpy()[row], "end": family.end.to_numpy()[row],
                              "need": family.need.to_numpy()[row]})
    ehc = np.flatnonzero((ch.sen_provision.to_numpy() == "ehc_plan") & (rng.random(len(ch)) < EHC_DISABILITY_EPISODE))
    start = ch.date_of_birth.to_numpy()[ehc] + rng.integers(700, 1500, ehc.size)
    disability = pd.DataFrame({"child": ehc, "kind": "child_in_need", "start": start,
                               "end": start + _lengths(rng, "disability", ehc.size), "need": "N2"})
    out = pd.concat([per_child, disability[disability.start <= pop.cutoff]], ignore_index=True)
    out.loc[out.end > pop.cutoff, "end"] = -1
    out = out.sort_values(["child", "start", "kind"], ignore_index=True)
    assessed = ch.assessment_day.to_numpy()[out.child.to_numpy()]
    before = out.start.to_numpy() <= assessed
    for kind in ("early_help", "child_in_need", "child_protection", "looked_after"):
        ch[f"ever_{kind}"] = np.isin(np.arange(len(ch)), out.child.to_numpy()[out.kind.to_numpy() == kind])
    ch["early_help_before_assessment"] = np.isin(
        np.arange(len(ch)), out.child.to_numpy()[before & (out.kind.to_numpy() == "early_help")])
    ch["child_in_need_before_assessment"] = np.isin(
        np.arange(len(ch)), out.child.to_numpy()[before & (out.kind.to_numpy() != "early_help")])
    return out


def social_care_records(rng: np.random.Generator, pop: Population, episode: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Episodes as each council's case-management system holds them: one version while open, another once
    closed; the council is the one the family lived in when the episode started."""
    ch = pop.children
    child = episode.child.to_numpy()
    household = ch.household.to_numpy()[child]
    start, end = episode.start.to_numpy(), episode.end.to_numpy()
    where = pop.periods.iloc[pop.address_at(household, start)]
    council = where.lad19cd.to_numpy()
    person = ch.child_id.to_numpy()[child]
    person_id = council_ids(rng, "social_care", "person_id", person, council)
    episode_key = np.char.add(np.char.add(person.astype(str), ":"), np.char.mod("%d", np.arange(len(episode))))
    episode_id = council_ids(rng, "social_care", "episode_id", episode_key, council)
    # Case workers record start and end times in working hours.
    def stamped(days: np.ndarray) -> np.ndarray:
        seconds = rng.integers(8 * 3600, 18 * 3600, len(days))
        return np.where(days < 0, np.datetime64("NaT", "s"),
                        timeline.to_datetime64(days).astype("datetime64[s]") + seconds.astype("timedelta64[s]"))

    base = pd.DataFrame({
        "person_id": person_id, "episode_id": episode_id, "nhs_number": ch.nhs_number.to_numpy()[child],
        "given_name": ch.given_name.to_numpy()[child], "family_name": ch.family_name.to_numpy()[child],
        "date_of_birth": timeline.to_datetime64(ch.date_of_birth.to_numpy()[child]),
        "sex": ch.sex.to_numpy()[child], "postcode": where.postcode.to_numpy(),
        "episode_type": episode.kind.to_numpy(), "start_date": stamped(start), "end_date": stamped(end),
        "primary_need": episode.need.to_numpy(), KEY: episode_id, PERSON: person,
    })
    lag = rng.integers(0, RECORDING_LAG_DAYS + 1, (2, len(base)))
    closed = end >= 0
    opened_at = timeline.to_datetime64(start + lag[0])
    closed_at = timeline.to_datetime64(np.where(closed, np.maximum(end + lag[1], start + lag[0] + 1), -1))
    open_version = base.assign(end_date=np.datetime64("NaT", "s"), **{FROM: opened_at, TO: closed_at})
    closed_version = base[closed].assign(**{FROM: closed_at[closed], TO: np.datetime64("NaT", "D")})
    versions = pd.concat([open_version, closed_version], ignore_index=True)
    keep = (versions[FROM] <= np.datetime64(pop.cutoff, "D")).to_numpy()
    versions, council = versions[keep], np.r_[council, council[closed]][keep]
    return {f"{partner_of(code)}.social_care": versions[council == code].reset_index(drop=True)
            for code in np.unique(council)}
