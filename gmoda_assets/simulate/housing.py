"""Stockport Homes tenancies: the household members of social-housing tenancies held by families while they
lived in Stockport, one version while the tenancy runs and one after it ends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.identifiers import prefixed, unique_ints
from gmoda_assets.simulate.population import Population
from gmoda_assets.simulate.records import FROM, KEY, PERSON, TO, recorded_by

STOCKPORT = "E08000007"
SOCIAL_RENTING = 0.2  # share of Stockport families with young children renting from Stockport Homes
BEDROOMS, BEDROOMS_P = (1, 2, 3, 4), (0.08, 0.47, 0.4, 0.05)
JOINT_TENANCY = 0.35


def tenancy_records(rng: np.random.Generator, pop: Population) -> dict[str, pd.DataFrame]:
    """Tenancy members as the housing system holds them."""
    hh = pop.households
    periods = pop.periods
    # Social renting runs in families (income, need) and in neighbourhoods (where the stock is).
    propensity = (0.8 * hh.disadvantage.to_numpy()[periods.household.to_numpy()]
                  + 0.9 * pop.lsoas.dep_z.to_numpy()[periods.lsoa.to_numpy()]
                  + 0.5 * rng.standard_normal(len(hh))[periods.household.to_numpy()])
    in_stockport = periods.lad19cd.to_numpy() == STOCKPORT
    threshold = np.quantile(propensity[in_stockport], 1 - SOCIAL_RENTING)
    ten = periods[in_stockport & (propensity > threshold)].reset_index(drop=True)
    n = len(ten)
    household = ten.household.to_numpy()
    # A family's first tenancy may predate the simulated address history, but not the mother's 18th birthday.
    adult = np.minimum(pop.mothers.date_of_birth.to_numpy()[household] + 18 * 365, ten.start.to_numpy())
    start = np.where(ten.seq.to_numpy() == 0, np.maximum(ten.start.to_numpy() - rng.integers(0, 6 * 365, n), adult),
                     ten.start.to_numpy())
    end = ten.end.to_numpy()
    tenancy_ref = prefixed("TEN", unique_ints(rng, n, 10 ** 5, 10 ** 6), 6)
    kids = pop.children.groupby("household").size().reindex(np.arange(len(hh)), fill_value=0).to_numpy()
    bedrooms = np.array(BEDROOMS)[rng.choice(len(BEDROOMS), n, p=BEDROOMS_P)]
    overcrowded = (1 + np.ceil(kids[household] / 2) > bedrooms) | (rng.random(n) < 0.04)
    arrears = np.where(rng.random(n) < 0.65, 0.0, np.round(rng.gamma(1.5, 2.0, n), 2))
    joint = hh.has_partner.to_numpy()[household] & (rng.random(n) < JOINT_TENANCY)

    partner_row = pop.partner_row
    tenancy = np.arange(n)
    with_partner = tenancy[partner_row[household] >= 0]
    ch = pop.children
    child_tenancy, child = pop.children_of(household)
    # A child joins the tenancy at birth (or at its start), unless born after it ended.
    joined = np.maximum(start[child_tenancy], ch.date_of_birth.to_numpy()[child])
    lived = (end[child_tenancy] < 0) | (joined <= end[child_tenancy])
    child_tenancy, child, joined = child_tenancy[lived], child[lived], joined[lived]
    members = [
        (tenancy, np.where(joint, "joint_tenant", "lead_tenant"), pop.mothers.iloc[household], start),
        (with_partner, np.where(joint[with_partner], "joint_tenant", "partner"),
         pop.partners.iloc[partner_row[household[with_partner]]], start[with_partner]),
        (child_tenancy, np.full(child.size, "child"), ch.iloc[child].rename(columns={"child_id": "person_id"}),
         joined),
    ]
    parts = [pd.DataFrame({"tenancy": t, "relationship": rel, "given_name": people.given_name.to_numpy(),
                           "family_name": people.family_name.to_numpy(),
                           "date_of_birth": people.date_of_birth.to_numpy(), "joined": since,
                           PERSON: people.person_id.to_numpy()})
             for t, rel, people, since in members]
    m = pd.concat(parts, ignore_index=True).sort_values(["tenancy", "joined", PERSON], ignore_index=True)
    t = m.tenancy.to_numpy()
    distinct, inverse = np.unique(m[PERSON].to_numpy().astype(str), return_inverse=True)
    person_ref = prefixed("SHP", unique_ints(rng, distinct.size, 10 ** 6, 10 ** 7), 7)[inverse]
    base = pd.DataFrame({
        "tenancy_ref": tenancy_ref[t], "person_ref": person_ref, "uprn": ten.uprn.to_numpy()[t],
        "address_line": ten.address_line.to_numpy()[t], "postcode": ten.postcode.to_numpy()[t],
        "tenancy_start_date": timeline.to_datetime64(start[t]), "tenancy_end_date": np.datetime64("NaT", "D"),
        "relationship": m.relationship.to_numpy(), "given_name": m.given_name.to_numpy(),
        "family_name": m.family_name.to_numpy(), "date_of_birth": timeline.to_datetime64(m.date_of_birth.to_numpy()),
        "bedrooms": bedrooms[t], "overcrowded": np.where(overcrowded[t], "yes", "no"),
        "rent_arrears_weeks": arrears[t],
        KEY: (pd.Series(tenancy_ref[t]) + ":" + pd.Series(person_ref)).to_numpy(dtype=object),
        PERSON: m[PERSON].to_numpy(),
    })
    lag = rng.integers(0, 8, len(base))
    closed = end[t] >= 0
    joined_at = timeline.to_datetime64(m.joined.to_numpy() + lag)
    ended_at = timeline.to_datetime64(np.where(closed, np.maximum(end[t] + lag, m.joined.to_numpy() + lag + 1), -1))
    current = base.assign(**{FROM: joined_at, TO: ended_at})
    ended = base[closed].assign(tenancy_end_date=timeline.to_datetime64(end[t][closed]),
                                **{FROM: ended_at[closed], TO: np.datetime64("NaT", "D")})
    versions = pd.concat([current, ended], ignore_index=True)
    return {"stockport_homes.tenancies": recorded_by(versions, pop.cutoff)}
