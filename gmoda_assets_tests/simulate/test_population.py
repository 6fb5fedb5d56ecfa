"""The simulated population at Greater Manchester size: calibrated outcomes, plausible effects, valid
identifiers. The world is built once (about ten seconds) without rendering any files."""

import numpy as np
import pandas as pd
import pytest

from gmoda_assets.simulate.identifiers import UPN_LETTERS, is_valid_nhs_number
from gmoda_assets.simulate.population import council_targets
from gmoda_assets.simulate.world import build_world

pytestmark = pytest.mark.slow  # the world, built once for the module


@pytest.fixture(scope="module")
def world():
    return build_world("gm", seed=42)


@pytest.fixture(scope="module")
def assessed(world) -> pd.DataFrame:
    ch = world.population.children
    out = ch[ch.gld.notna()].copy()
    out["reached"] = out.gld.astype(bool)
    out["birth_month"] = pd.to_datetime(out.date_of_birth, unit="D").dt.month
    return out


def test_gm_size_and_cohorts(world):
    ch = world.population.children
    assert 190_000 < len(ch) < 220_000
    per_cohort = ch.cohort.value_counts()
    assert sorted(per_cohort.index) == list(range(2016, 2022))
    assert per_cohort.min() > 0.95 * per_cohort.max(), "cohorts are about the same size"
    siblings = ch.household.map(ch.household.value_counts()) > 1
    assert 0.3 <= siblings.mean() <= 0.42, "about a third of children have a brother or sister in the cohorts"


def test_outcomes_only_for_assessment_years_that_have_ended(world):
    ch = world.population.children
    assessed_years = sorted(ch.assessment_year[ch.gld.notna()].unique())
    assert assessed_years == [2021, 2022, 2023, 2024]
    assert ch.p_gld.between(0, 1).all() and ch.p_gld.notna().all()


def test_council_rates_match_the_published_2024_25_figures(assessed):
    targets = council_targets()
    published = targets[targets.academic_year == "2024/25"].set_index("area_code")
    simulated = assessed[assessed.assessment_year == 2024].groupby("eyfsp_council")
    rate = simulated.reached.mean() * 100
    assert set(rate.index) == set(published.index)
    assert (rate - published.gld_pct).abs().max() < 3.0
    # The calibrated probabilities match to a fraction of a point (the outcomes add sampling noise).
    assert (simulated.p_gld.mean() * 100 - published.gld_pct).abs().max() < 0.6


def test_effects_have_the_published_direction_and_size(assessed):
    latest = assessed[assessed.assessment_year == 2024]
    by_sex = latest.groupby("sex").reached.mean() * 100
    targets = council_targets()
    published = targets[targets.academic_year == "2024/25"]
    weights = published.children_assessed / published.children_assessed.sum()
    gap = ((published.gld_pct_girls - published.gld_pct_boys) * weights).sum()
    assert abs((by_sex.female - by_sex.male) - gap) < 3, "girls ahead of boys by about the published gap"

    month = assessed.groupby("birth_month").reached.mean()
    assert month[9] - month[8] > 0.2, "September-born children well ahead of August-born"
    fsm = assessed.groupby("fsm_eligible").reached.mean()
    assert 0.1 < fsm[False] - fsm[True] < 0.3
    sen = assessed.groupby("sen_provision").reached.mean()
    assert sen["ehc_plan"] < 0.1 < sen["sen_support"] < 0.35 < sen["none"]
    preterm = assessed.groupby(pd.cut(assessed.gestation_weeks, [0, 31, 36, 45])).reached.mean().to_numpy()
    assert preterm[0] < preterm[1] < preterm[2]
    asq = assessed[assessed.asq_done].groupby("asq_good").reached.mean()
    odds = asq[True] / (1 - asq[True]) / (asq[False] / (1 - asq[False]))
    assert 2.0 < odds < 4.5, "a good ASQ-3 at two makes GLD about three times as likely (odds)"


def test_rates_of_circumstances(world):
    ch = world.population.children
    assert abs(ch.fsm_eligible.mean() - 0.25) < 0.01
    assert abs((ch.sen_provision == "sen_support").mean() - 0.12) < 0.005
    assert abs((ch.sen_provision == "ehc_plan").mean() - 0.02) < 0.003
    assert 0.01 < (ch.gestation_weeks < 32).mean() < 0.02
    assert 0.05 < ch.gestation_weeks.between(32, 36).mean() < 0.08
    male = ch.sex == "male"
    assert (ch.sen_provision[male] != "none").mean() > 1.3 * (ch.sen_provision[~male] != "none").mean()
    assert 0.49 < male.mean() < 0.53


def test_social_care_is_far_more_common_in_deprived_areas(world):
    pop = world.population
    ch = pop.children
    now = pop.periods.iloc[pop.address_at(ch.household.to_numpy(), np.full(len(ch), pop.cutoff))]
    involved = ch.ever_child_in_need.groupby(now.imd_decile.to_numpy()).mean()
    assert involved[1] > 2.5 * involved[10]


def test_identifiers_are_valid_and_unique(world):
    pop = world.population
    nhs = pd.concat([pop.children.nhs_number, pop.mothers.nhs_number, pop.partners.nhs_number])
    assert nhs.is_unique
    assert all(is_valid_nhs_number(n) for n in nhs.sample(5_000, random_state=1))
    upn = pop.children.upn.dropna()
    assert upn.is_unique and upn.str.fullmatch(r"[A-Z]\d{12}").all()
    digits = np.array([list(map(int, u[1:])) for u in upn.sample(2_000, random_state=1)])
    check = UPN_LETTERS[(digits * np.arange(2, 14)).sum(axis=1) % 23]
    assert (check == upn.sample(2_000, random_state=1).str[0].to_numpy()).all()
