"""Child development: a latent development factor, special educational needs, ASQ-3 scores at two, and the
probability of a Good Level of Development (GLD) at the end of Reception, calibrated to published rates.

The GLD model is a logistic regression on the child's true circumstances. Its effects follow published adjusted
odds ratios (Born in Bradford, BMJ Paediatrics Open 2025; see reference/README.md); an intercept per council,
assessment year and sex is then found by bisection so that each council's mean probability matches the DfE
figures for girls and for boys (2021/22 uses 2022/23's, years not yet published use 2024/25's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.population import Population, council_targets

# Log odds ratios of reaching GLD. The latent factor and the area effect are what no feed observes.
EFFECTS = {
    "latent": 0.8,  # per standard deviation of latent development
    "age_month": np.log(1.18),  # per month older than an August-born child
    "very_preterm": np.log(0.34),  # born before 32 weeks
    "preterm": np.log(0.64),  # born at 32-36 weeks
    "fsm": np.log(0.71),
    "never_breastfed": np.log(0.87),
    "mother_no_qualifications": np.log(0.5),
    "sen_support": -1.2,
    "ehc_plan": -2.5,
    "eal": -0.15,
    "deprivation": -0.12,  # per unit of the LSOA deprivation score (about +1.6 in the most deprived tenth)
    "early_help": -0.15,
    "child_in_need": -0.6,  # child in need, child protection or looked after before the assessment
}
AREA_EFFECT_SD = 0.4  # unexplained neighbourhood differences (schools, services)
SEN_SUPPORT_RATE, EHC_PLAN_RATE = 0.12, 0.02
# ASQ-3 domains: (mean, sd) of the score on the 0-60 scale and the 24-month cut-off below which a child is
# referred for a closer look.
ASQ_DOMAINS = {
    "asq_communication": (51.0, 12.0, 25.17),
    "asq_gross_motor": (54.0, 9.0, 38.07),
    "asq_fine_motor": (50.0, 10.0, 35.16),
    "asq_problem_solving": (49.0, 11.0, 29.78),
    "asq_personal_social": (50.0, 10.0, 31.54),
}


def develop(rng: np.random.Generator, pop: Population) -> None:
    """Latent development, SEN provision and ASQ-3 scores of every child (added to ``pop.children``)."""
    ch = pop.children
    n = len(ch)
    hh = pop.households.iloc[ch.household.to_numpy()]
    weeks = ch.gestation_weeks.to_numpy()
    very, pre = weeks < 32, (weeks >= 32) & (weeks < 37)
    male = ch.sex.to_numpy() == "male"
    # Siblings share part of their development (genes, home learning environment).
    latent = (0.55 * hh.family_development.to_numpy() + 0.835 * rng.standard_normal(n)
              - 0.2 * hh.disadvantage.to_numpy() - 0.5 * very - 0.15 * pre)
    ch["latent_development"] = latent
    need = -1.2 * latent + 0.5 * male + 0.9 * very + 0.3 * pre + 0.8 * rng.standard_normal(n)
    ehc = need > np.quantile(need, 1 - EHC_PLAN_RATE)
    support = ~ehc & (need > np.quantile(need, 1 - EHC_PLAN_RATE - SEN_SUPPORT_RATE))
    ch["sen_provision"] = np.where(ehc, "ehc_plan", np.where(support, "sen_support", "none"))
    general = 0.75 * latent + 0.66 * rng.standard_normal(n) - 0.15 * male
    eal = ch.first_language.to_numpy() == "other"
    good = np.ones(n, bool)
    for domain, (mean, sd, cutoff) in ASQ_DOMAINS.items():
        z = 0.75 * general + 0.66 * rng.standard_normal(n) - (0.4 * eal if domain == "asq_communication" else 0)
        score = np.clip(5 * np.round((mean + sd * z) / 5), 0, 60).astype(np.int64)
        ch[domain] = score
        good &= score > cutoff
    ch["asq_good"] = good


def _target_year(assessment_year: np.ndarray) -> np.ndarray:
    """The published year whose rates calibrate each assessment year (starting years, e.g. 2024 = 2024/25)."""
    published = sorted({int(y[:4]) for y in council_targets().academic_year})
    return np.clip(assessment_year, published[0], published[-1])


def linear_predictor(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """Log odds of GLD of every child, before the calibrated intercept."""
    ch = pop.children
    hh = pop.households.iloc[ch.household.to_numpy()]
    months_older = (timeline.days_of(ch.cohort.to_numpy() + 1, 9) - 1 - ch.date_of_birth.to_numpy()) / 30.44
    weeks = ch.gestation_weeks.to_numpy()
    area = rng.normal(0.0, AREA_EFFECT_SD, len(pop.lsoas))
    lsoa = pop.periods.lsoa.to_numpy()[pop.address_at(ch.household.to_numpy(), ch.assessment_day.to_numpy())]
    sen = ch.sen_provision.to_numpy()
    e = EFFECTS
    return (e["latent"] * ch.latent_development.to_numpy()
            + e["age_month"] * months_older
            + e["very_preterm"] * (weeks < 32) + e["preterm"] * ((weeks >= 32) & (weeks < 37))
            + e["fsm"] * ch.fsm_eligible.to_numpy()
            + e["never_breastfed"] * ch.never_breastfed.to_numpy()
            + e["mother_no_qualifications"] * hh.mother_no_qualifications.to_numpy()
            + e["sen_support"] * (sen == "sen_support") + e["ehc_plan"] * (sen == "ehc_plan")
            + e["eal"] * (ch.first_language.to_numpy() == "other")
            + e["deprivation"] * pop.lsoas.dep_z.to_numpy()[lsoa] + area[lsoa]
            + e["early_help"] * ch.early_help_before_assessment.to_numpy()
            + e["child_in_need"] * ch.child_in_need_before_assessment.to_numpy())


def calibrate(eta: np.ndarray, group: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Intercept per group (integer codes) so that the mean of sigmoid(intercept + eta) equals its target."""
    lo, hi = np.full(target.size, -15.0), np.full(target.size, 15.0)
    count = np.bincount(group, minlength=target.size)
    for _ in range(60):
        mid = (lo + hi) / 2
        mean = np.bincount(group, weights=1 / (1 + np.exp(-(mid[group] + eta))), minlength=target.size)
        high = mean > target * np.maximum(count, 1)
        hi, lo = np.where(high, mid, hi), np.where(high, lo, mid)
    return (lo + hi) / 2


def school_readiness(rng: np.random.Generator, pop: Population) -> None:
    """True probability of GLD of every child, and the outcome where the assessment has happened."""
    ch = pop.children
    eta = linear_predictor(rng, pop)
    targets = council_targets()
    published = pd.MultiIndex.from_arrays([targets.academic_year, targets.area_code])
    label = timeline.academic_year_label(_target_year(ch.assessment_year.to_numpy()))
    rows = published.get_indexer(pd.MultiIndex.from_arrays([label, ch.eyfsp_council.to_numpy()]))
    male = ch.sex.to_numpy() == "male"
    target = np.where(male, targets.gld_pct_boys.to_numpy()[rows], targets.gld_pct_girls.to_numpy()[rows]) / 100
    # One intercept per council, actual assessment year and sex.
    _, group = np.unique(np.char.add(np.char.mod("%d", ch.assessment_year.to_numpy() * 2 + male),
                                     ch.eyfsp_council.to_numpy().astype(str)), return_inverse=True)
    goal = np.zeros(group.max() + 1)
    goal[group] = target
    intercept = calibrate(eta, group, goal)
    p = 1 / (1 + np.exp(-(intercept[group] + eta)))
    ch["p_gld"] = p
    assessed = ch.assessment_day.to_numpy() <= pop.cutoff
    outcome = rng.random(len(ch)) < p
    ch["gld"] = pd.array(np.where(assessed, outcome, False), dtype="boolean")
    ch.loc[~assessed, "gld"] = pd.NA
