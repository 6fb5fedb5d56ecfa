"""NHS child health records: birth notifications and the four mandated health-visiting reviews."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.development import ASQ_DOMAINS
from gmoda_assets.simulate.identifiers import prefixed, unique_ints
from gmoda_assets.simulate.population import Population
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO, recorded_by

# Review: (earliest and latest age in days, usual coverage). Coverage falls a little in deprived areas.
REVIEWS = {
    "new_birth": (10, 14, 0.96),
    "six_eight_week": (42, 56, 0.92),
    "one_year": (300, 455, 0.88),
    "two_year": (700, 940, 0.86),
}
ASQ_COMPLETED = 0.93  # two-year reviews at which the ASQ-3 questionnaire was completed
GP_ELSEWHERE = 0.3


def births_records(rng: np.random.Generator, pop: Population) -> dict[str, pd.DataFrame]:
    """One birth notification per child, registered in the days after the birth."""
    ch = pop.children
    mothers = pop.mothers.iloc[ch.household.to_numpy()]
    dob = ch.date_of_birth.to_numpy()
    where = pop.periods.iloc[pop.address_at(ch.household.to_numpy(), dob)]
    practice = pop.facilities.pick(pop.facilities.practices, where.ward17cd.to_numpy(), where.lad19cd.to_numpy(),
                                   rng.random(len(ch)), rng.random(len(ch)), GP_ELSEWHERE)
    record_id = prefixed("", unique_ints(rng, len(ch), 10 ** 9, 10 ** 10), 10)
    frame = pd.DataFrame({
        "birth_record_id": record_id, "nhs_number": ch.nhs_number.to_numpy(),
        "given_name": ch.given_name.to_numpy(), "family_name": ch.family_name.to_numpy(),
        "date_of_birth": timeline.to_datetime64(dob), "sex": ch.sex.to_numpy(),
        "birth_weight_grams": ch.birth_weight_grams.to_numpy(), "gestation_weeks": ch.gestation_weeks.to_numpy(),
        "ethnicity": ch.ethnicity.to_numpy(), "mother_nhs_number": mothers.nhs_number.to_numpy(),
        "mother_age": ch.mother_age.to_numpy(), "postcode": where.postcode.to_numpy(),
        "gp_practice_code": pop.facilities.practices.gp_practice_code.to_numpy()[practice],
        KEY: record_id, PERSON: ch.child_id.to_numpy(),
        FROM: timeline.to_datetime64(dob + rng.integers(2, 15, len(ch))), TO: np.datetime64("NaT", "D"),
    })
    return {"nhs.births": recorded_by(frame, pop.cutoff)}


def hv_review_records(rng: np.random.Generator, pop: Population) -> dict[str, pd.DataFrame]:
    """Health-visiting reviews that took place; records ASQ-3 completion on ``pop.children`` (``asq_done``)."""
    ch = pop.children
    n = len(ch)
    dob = ch.date_of_birth.to_numpy()
    dep = pop.households.disadvantage.to_numpy()[ch.household.to_numpy()]
    frames = []
    asq_done = np.zeros(n, bool)
    for review, (earliest, latest, coverage) in REVIEWS.items():
        seen = rng.random(n) < coverage - 0.03 * np.clip(dep, 0, None)
        when = dob + rng.integers(earliest, latest + 1, n)
        recorded = when + rng.integers(0, 21, n)
        idx = np.flatnonzero(seen & (recorded <= pop.cutoff))
        feeding = {
            "new_birth": ch.feeding_new_birth.to_numpy(),
            "six_eight_week": ch.feeding_six_eight_week.to_numpy(),
            # By a year few records say how the baby is fed.
            "one_year": np.where(rng.random(n) < 0.6, "not_recorded",
                                 np.where((ch.feeding_six_eight_week.to_numpy() != "none") & (rng.random(n) < 0.4),
                                          "partial", "none")),
            "two_year": np.full(n, "not_recorded"),
        }[review]
        frame = pd.DataFrame({
            "nhs_number": ch.nhs_number.to_numpy()[idx],
            "date_of_birth": timeline.to_datetime64(dob[idx]), "review_type": review,
            "review_date": timeline.to_datetime64(when[idx]), "breastfeeding": feeding[idx],
        })
        with_asq = np.zeros(idx.size, bool)
        if review == "two_year":
            with_asq = rng.random(idx.size) < ASQ_COMPLETED
            asq_done[idx[with_asq]] = True
        for domain in ASQ_DOMAINS:
            frame[domain] = pd.array(np.where(with_asq, ch[domain].to_numpy()[idx], 0), dtype="Int64")
            frame.loc[~with_asq, domain] = pd.NA
        where = pop.periods.iloc[pop.address_at(ch.household.to_numpy()[idx], when[idx])]
        frame["postcode"] = where.postcode.to_numpy()
        frame[PERSON] = ch.child_id.to_numpy()[idx]
        frame[FROM] = timeline.to_datetime64(recorded[idx])
        frames.append(frame)
    ch["asq_done"] = asq_done
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "review_id", prefixed("HV", unique_ints(rng, len(out), 10 ** 8, 10 ** 9), 9))
    out[KEY] = out.review_id
    out[TO] = np.datetime64("NaT", "D")
    return {"nhs.hv_reviews": out}
