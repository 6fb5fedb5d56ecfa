"""Schools and early education: Reception places and unique pupil numbers, EYFSP results, and funded early
education claims (two-year-old places, universal 15 hours, extended 30 hours), as canonical records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.identifiers import DFE_LA_NUMBERS, upns
from gmoda_assets.simulate.population import Population
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO, council_ids, partner_of

ASSESSMENT_MONTH_DAY = (6, 30)  # the profile is completed by the end of June
RESULTS_FROM = (7, 1)  # results reach the council's extract in July
TWO_YEAR_TAKE_UP, UNIVERSAL_TAKE_UP, EXTENDED_TAKE_UP = 0.70, 0.92, 0.40
CLAIM_LAG_DAYS = 14  # headcount claims are made about two weeks into term
SETTING_ELSEWHERE = 0.2  # share of children at a setting outside their own ward
SCHOOL_ELSEWHERE = 0.15


def assign_schools(rng: np.random.Generator, pop: Population) -> None:
    """Assessment year, council and school of every child, and the UPN given on entry to Reception."""
    ch = pop.children
    n = len(ch)
    cohort = ch.cohort.to_numpy()
    household = ch.household.to_numpy()
    ch["assessment_year"] = cohort + 5
    ch["assessment_day"] = timeline.days_of(cohort + 6, *ASSESSMENT_MONTH_DAY)
    entry = timeline.days_of(cohort + 5, 9)
    u, u_else = rng.random(n), rng.random(n)
    schools = pop.facilities.schools
    at_entry = pop.periods.iloc[pop.address_at(household, np.minimum(entry, pop.cutoff))]
    at_assessment = pop.periods.iloc[pop.address_at(household, np.minimum(ch.assessment_day.to_numpy(),
                                                                          pop.cutoff))]
    first = pop.facilities.pick(schools, at_entry.ward17cd.to_numpy(), at_entry.lad19cd.to_numpy(), u, u_else,
                                SCHOOL_ELSEWHERE)
    # A child whose family moves to another council changes school; most moves keep the child's school.
    moved = at_assessment.lad19cd.to_numpy() != at_entry.lad19cd.to_numpy()
    later = pop.facilities.pick(schools, at_assessment.ward17cd.to_numpy(), at_assessment.lad19cd.to_numpy(), u,
                                u_else, SCHOOL_ELSEWHERE)
    in_school = entry <= pop.cutoff
    ch["eyfsp_council"] = at_assessment.lad19cd.to_numpy()
    ch["school_urn"] = np.where(in_school, schools.urn.to_numpy()[np.where(moved, later, first)], None)
    # UPN serials number the school's intake of the year.
    order = np.lexsort((ch.date_of_birth.to_numpy(), first, entry))
    serial = np.empty(n, dtype=np.int64)
    serial[order] = pd.Series(first[order] * 10_000 + cohort[order]).groupby(
        first[order] * 10_000 + cohort[order]).cumcount().to_numpy() + 1
    la = np.array([DFE_LA_NUMBERS[c] for c in schools.lad19cd.to_numpy()[first]])
    ch["upn"] = np.where(in_school, upns(la, schools.establishment.to_numpy()[first], cohort + 5, serial), None)


def eyfsp_records(rng: np.random.Generator, pop: Population) -> dict[str, pd.DataFrame]:
    """EYFSP results of assessed children, by the council whose school assessed them."""
    ch = pop.children
    done = ch[ch.gld.notna()].copy()
    where = pop.periods.iloc[pop.address_at(done.household.to_numpy(), done.assessment_day.to_numpy())]
    language = np.where(rng.random(len(done)) < 0.01, "unknown", done.first_language.to_numpy())
    frame = pd.DataFrame({
        "upn": done.upn.to_numpy(), "nhs_number": done.nhs_number.to_numpy(),
        "given_name": done.given_name.to_numpy(), "family_name": done.family_name.to_numpy(),
        "date_of_birth": timeline.to_datetime64(done.date_of_birth.to_numpy()), "sex": done.sex.to_numpy(),
        "postcode": where.postcode.to_numpy(), "school_urn": done.school_urn.to_numpy(),
        "academic_year": timeline.academic_year_label(done.assessment_year.to_numpy()).astype(object),
        "gld": np.where(done.gld.to_numpy(dtype=bool), "yes", "no"),
        "fsm_eligible": np.where(done.fsm_eligible.to_numpy(), "yes", "no"),
        "sen_provision": done.sen_provision.to_numpy(), "first_language": language,
        "ethnicity": done.ethnicity.to_numpy(),
        KEY: done.upn.to_numpy(), PERSON: done.child_id.to_numpy(),
        FROM: timeline.to_datetime64(timeline.days_of(done.assessment_year.to_numpy() + 1, *RESULTS_FROM)),
        TO: np.datetime64("NaT", "D"),
    })
    council = done.eyfsp_council.to_numpy()
    return {f"{partner_of(code)}.eyfsp": frame[council == code].reset_index(drop=True)
            for code in np.unique(council)}


def _term_after(days: np.ndarray) -> np.ndarray:
    """Index of the first term starting after each day (terms counted as year * 3 + 0 spring, 1 summer,
    2 autumn): the funding rule's "term after the birthday"."""
    year, month, _ = timeline.ymd(days)
    return year * 3 + np.select([month <= 3, month <= 8], [1, 2], 3)


def _term_start(index: np.ndarray) -> np.ndarray:
    year, part = index // 3, index % 3
    return timeline.term_start(year, np.array([1, 2, 0])[part])


def _hours(rng: np.random.Generator, n: int, full: float, shorter: list[float]) -> np.ndarray:
    return np.where(rng.random(n) < 0.8, full, np.array(shorter)[rng.integers(0, len(shorter), n)])


def funded_early_education_records(rng: np.random.Generator, pop: Population) -> dict[str, pd.DataFrame]:
    """Termly funded early education claims, by the council where the child lived at the start of term."""
    ch = pop.children
    hh = pop.households.iloc[ch.household.to_numpy()]
    n = len(ch)
    dob = ch.date_of_birth.to_numpy()
    year, month, dom = timeline.ymd(dob)
    second = _term_after(timeline.days_of(year + 2, month, np.minimum(dom, 28)))
    third = _term_after(timeline.days_of(year + 3, month, np.minimum(dom, 28)))
    last = (ch.cohort.to_numpy() + 5) * 3 + 1  # the summer term before Reception
    # A two-year-old place until the term after the third birthday, then universal (or extended) hours.
    two = hh.two_year_eligible.to_numpy() & (rng.random(n) < TWO_YEAR_TAKE_UP)
    two_from = second + (rng.random(n) < 0.2)
    universal = rng.random(n) < UNIVERSAL_TAKE_UP
    three_from = third + (rng.random(n) < 0.12) * rng.integers(1, 3, n)
    extended = hh.working.to_numpy() & (rng.random(n) < EXTENDED_TAKE_UP)
    hours = np.stack([_hours(rng, n, 15, [12, 10]), _hours(rng, n, 15, [12, 10, 7.5]),
                      _hours(rng, n, 30, [25, 22.5, 20])])
    first = np.where(two, two_from, np.where(universal, three_from, last + 1))
    count = np.clip(np.where(universal, last, third - 1) - first + 1, 0, None)
    child = np.repeat(np.arange(n), count)
    term = first[child] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    stream = np.where(term < third[child], "two_year_disadvantaged",
                      np.where(extended[child], "extended_30", "universal_15"))
    start = _term_start(term)
    keep = start <= pop.cutoff
    child, term, stream, start = child[keep], term[keep], stream[keep], start[keep]
    household = ch.household.to_numpy()[child]
    where = pop.periods.iloc[pop.address_at(household, start)]
    u = rng.random(n)
    setting_row = pop.facilities.pick(pop.facilities.settings, where.ward17cd.to_numpy(), where.lad19cd.to_numpy(),
                                      u[child], rng.random(n)[child], SETTING_ELSEWHERE)
    setting = pop.facilities.settings.urn.to_numpy()[setting_row]
    # The start date at a setting is kept on every later claim for the child there.
    new_run = np.r_[True, (child[1:] != child[:-1]) | (setting[1:] != setting[:-1])]
    late_start = np.where(rng.random(len(child)) < 0.7, 0, rng.integers(0, 40, len(child)))
    run_start = (start + late_start)[new_run][np.cumsum(new_run) - 1]
    recorded = np.maximum(start + CLAIM_LAG_DAYS, run_start + 3)
    stream_index = np.select([stream == "two_year_disadvantaged", stream == "universal_15"], [0, 1], 2)
    council = where.lad19cd.to_numpy()
    ids = council_ids(rng, "funded_early_education", "child_ref", ch.child_id.to_numpy()[child], council)
    frame = pd.DataFrame({
        "child_ref": ids, "given_name": ch.given_name.to_numpy()[child],
        "family_name": ch.family_name.to_numpy()[child],
        "date_of_birth": timeline.to_datetime64(dob[child]), "postcode": where.postcode.to_numpy(),
        "setting_urn": setting, "term": np.array(["spring", "summer", "autumn"])[term % 3],
        "term_year": term // 3, "funding_stream": stream, "hours_per_week": hours[stream_index, child],
        "start_date": timeline.to_datetime64(run_start),
        KEY: np.char.add(np.char.add(ids.astype(str), "/"), np.char.mod("%d", term)).astype(object),
        PERSON: ch.child_id.to_numpy()[child], FROM: timeline.to_datetime64(recorded),
        TO: np.datetime64("NaT", "D"),
    })
    frame = frame[recorded <= pop.cutoff]
    council = council[recorded <= pop.cutoff]
    return {f"{partner_of(code)}.funded_early_education": frame[council == code].reset_index(drop=True)
            for code in np.unique(council)}
