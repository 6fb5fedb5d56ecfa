"""Greater Manchester Police incidents involving households with children: one row per person linked to the
incident (children present, victim, suspect, witness, reporting person), as the police record them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import names, timeline
from gmoda_assets.simulate.identifiers import unique_ints
from gmoda_assets.simulate.places import address_lines
from gmoda_assets.simulate.population import Population, postcode_rows
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO, recorded_by

INCIDENTS_PER_YEAR = 0.02  # per family at average adversity
ADVERSITY_EFFECT = 1.2
CATEGORIES = ("domestic_abuse", "child_concern", "antisocial_behaviour", "other")
CATEGORY_P = (0.55, 0.2, 0.15, 0.1)
# Police often cannot record a full date of birth, least of all for people outside the family.
DOB_UNKNOWN = {"family": 0.04, "outsider": 0.35}


def _outsiders(rng: np.random.Generator, pop: Population, near: np.ndarray) -> pd.DataFrame:
    """People from outside the family (neighbours, ex-partners), one per element of ``near``, each with an
    address in that LSOA."""
    n = near.size
    tradition = np.where(rng.random(n) < 0.8, names.draw_tradition(rng, np.full(n, "white_british", dtype=object)),
                         pop.households.tradition.to_numpy()[rng.integers(0, len(pop.households), n)])
    female = rng.random(n) < 0.45
    surname = names.draw(rng, tradition, 4)
    given = np.where(female, names.draw(rng, tradition, 2), names.draw(rng, tradition, 3))
    pick = postcode_rows(rng, pop.postcodes, near)
    return pd.DataFrame({
        "person_id": np.char.mod("OT%07d", np.arange(n)).astype(object), "given_name": given,
        "family_name": np.where(female, names.feminine(surname), surname),
        "sex": np.where(female, "female", "male"),
        "date_of_birth": timeline.day(timeline.BIRTHS_FROM) - rng.integers(18 * 365, 60 * 365, n),
        "address_line": address_lines(rng, pop.postcodes.street.to_numpy()[pick]),
        "postcode": pop.postcodes.postcode.to_numpy()[pick],
    })


def incident_records(rng: np.random.Generator, pop: Population) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The police feed and the outsiders it names (people outside the simulated families)."""
    hh = pop.households
    ch = pop.children
    first = ch.groupby("household").date_of_birth.min().to_numpy()
    rate = INCIDENTS_PER_YEAR * np.exp(ADVERSITY_EFFECT * hh.adversity.to_numpy())
    count = rng.poisson(rate * (pop.cutoff - first) / 365.25)
    household = np.repeat(hh.household.to_numpy(), count)
    n = household.size
    day = rng.integers(first[household], pop.cutoff + 1)
    # Incidents cluster in the evening and at night.
    minute = (rng.normal(20.5, 3.5, n) % 24 * 60).astype(np.int64)
    category = np.array(CATEGORIES)[rng.choice(len(CATEGORIES), n, p=CATEGORY_P)]
    period = pop.periods.iloc[pop.address_at(household, day)]
    has_partner = hh.has_partner.to_numpy()[household]

    # Ex-partners (one per family that has no partner at home) and neighbours are outsiders.
    ex_needed = (category == "domestic_abuse") & ~has_partner
    neighbour = rng.random(n) < np.where(category == "antisocial_behaviour", 0.7, 0.2)
    ex_family, ex_first = np.unique(household[ex_needed], return_index=True)
    outsiders = _outsiders(rng, pop, np.r_[period.lsoa.to_numpy()[ex_needed][ex_first],
                                           period.lsoa.to_numpy()[neighbour]])
    ex_person = np.full(n, -1)
    ex_person[ex_needed] = np.searchsorted(ex_family, household[ex_needed])
    neighbour_person = np.full(n, -1)
    neighbour_person[neighbour] = ex_family.size + np.arange(neighbour.sum())

    position = {"mother": household, "partner": pop.partner_row[household], "ex_partner": ex_person,
                "neighbour": neighbour_person}
    da = category == "domestic_abuse"
    asb = category == "antisocial_behaviour"
    at_home = da & has_partner  # abuse between the parents; otherwise by an ex-partner
    mother_hurt = at_home & (rng.random(n) < 0.9)
    reported_by_mother = (~da & ~asb & ~neighbour) | (da & (rng.random(n) < 0.3))
    roles = [  # (incidents, role, who)
        ((da & ~at_home) | mother_hurt, "victim", "mother"),
        (at_home & ~mother_hurt, "victim", "partner"),
        (mother_hurt, "suspect", "partner"),
        (at_home & ~mother_hurt, "suspect", "mother"),
        (da & ~at_home, "suspect", "ex_partner"),
        (asb, "victim", "mother"),
        (asb & neighbour, "suspect", "neighbour"),
        (~asb & neighbour, "reporting_person", "neighbour"),
        (reported_by_mother, "reporting_person", "mother"),
        (~da & ~asb & has_partner & (rng.random(n) < 0.3), "witness", "partner"),
    ]
    incident = np.arange(n)
    rows = [(incident[mask], role, "outsider" if who in ("ex_partner", "neighbour") else who, position[who][mask])
            for mask, role, who in roles]
    # Every child of the family born by then was present (ASB outside the home: only sometimes).
    inc, child = pop.children_of(household)
    born = (ch.date_of_birth.to_numpy()[child] <= day[inc]) & ~(asb & (rng.random(n) < 0.5))[inc]
    rows.append((inc[born], "child_present", "child", child[born]))

    tables = {"mother": pop.mothers, "partner": pop.partners, "child": ch, "outsider": outsiders}
    ids = {"mother": pop.mothers.person_id, "partner": pop.partners.person_id, "child": ch.child_id,
           "outsider": outsiders.person_id}
    parts = []
    for inc_idx, role, kind, pos in rows:
        person = tables[kind].iloc[pos]
        family = kind != "outsider"
        unknown = rng.random(pos.size) < DOB_UNKNOWN["family" if family else "outsider"]
        parts.append(pd.DataFrame({
            "incident": inc_idx, "person_role": role, "given_name": person.given_name.to_numpy(),
            "family_name": person.family_name.to_numpy(),
            "dob": np.where(unknown, -1, person.date_of_birth.to_numpy()),
            "address_line": period.address_line.to_numpy()[inc_idx] if family else person.address_line.to_numpy(),
            "postcode": period.postcode.to_numpy()[inc_idx] if family else person.postcode.to_numpy(),
            PERSON: ids[kind].to_numpy()[pos],
        }))
    people = pd.concat(parts, ignore_index=True).sort_values(["incident", PERSON], ignore_index=True)
    inc = people.incident.to_numpy()
    ref_no = unique_ints(rng, n, 10 ** 7, 10 ** 8)
    yy = timeline.ymd(day)[0] % 100
    ref = np.char.add(np.char.mod("%08d/", ref_no), np.char.mod("%02d", yy)).astype(object)
    stamp = timeline.to_datetime64(day).astype("datetime64[s]") + (minute * 60).astype("timedelta64[s]")
    frame = pd.DataFrame({
        "incident_ref": ref[inc], "incident_datetime": stamp[inc], "incident_category": category[inc],
        "person_role": people.person_role.to_numpy(), "given_name": people.given_name.to_numpy(),
        "family_name": people.family_name.to_numpy(), "date_of_birth": timeline.to_datetime64(people.dob.to_numpy()),
        "address_line": people.address_line.to_numpy(), "postcode": people.postcode.to_numpy(),
        KEY: (pd.Series(ref[inc]) + ":" + people[PERSON] + ":" + people.person_role).to_numpy(dtype=object),
        PERSON: people[PERSON].to_numpy(),
        FROM: timeline.to_datetime64(day[inc] + rng.integers(1, 6, len(people))), TO: np.datetime64("NaT", "D"),
    })
    return {"gmp.incidents": recorded_by(frame, pop.cutoff)}, outsiders
