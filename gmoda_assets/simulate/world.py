"""The simulated world: the population, what happened to it, and every partner system's records of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from gmoda_assets.simulate import development, education, health, housing, police, social_care
from gmoda_assets.simulate.population import Population, build_population


@dataclass
class World:
    population: Population
    records: dict[str, pd.DataFrame]  # feed id -> canonical record versions (see ``records``)
    outsiders: pd.DataFrame  # people outside the families named in police records
    episodes: pd.DataFrame  # children's social care episodes (child position, kind, start, end, need)


def build_world(scale: str = "small", seed: int = 42, as_of: date = date(2025, 11, 1)) -> World:
    """Draw the population, then its development, services and records, each stage from its own stream of
    the seed so that changing one stage does not reshuffle the others."""
    pop = build_population(scale, seed, as_of)

    def stream(stage: int) -> np.random.Generator:
        return np.random.default_rng([seed, stage])

    development.develop(stream(1), pop)
    education.assign_schools(stream(2), pop)
    episodes = social_care.episodes(stream(3), pop)
    development.school_readiness(stream(4), pop)
    records = {}
    records.update(health.births_records(stream(5), pop))
    records.update(health.hv_review_records(stream(6), pop))
    records.update(education.eyfsp_records(stream(7), pop))
    records.update(education.funded_early_education_records(stream(8), pop))
    records.update(social_care.social_care_records(stream(9), pop, episodes))
    incidents, outsiders = police.incident_records(stream(10), pop)
    records.update(incidents)
    records.update(housing.tenancy_records(stream(11), pop))
    return World(population=pop, records=records, outsiders=outsiders, episodes=episodes)
