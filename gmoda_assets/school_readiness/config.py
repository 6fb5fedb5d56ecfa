"""The school-readiness model's settings (``school_readiness.yaml``), read once and validated: a mistake names
the file and the field."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field

from gmoda_assets.lib.documents import Strict, read

CONFIG_FILE = Path(__file__).resolve().parent / "school_readiness.yaml"


class ConfigError(ValueError):
    """The school-readiness settings are malformed; the message names the file and the field."""


class PredictionPoint(Strict):
    age_months: Annotated[int, Field(strict=True, ge=0, le=60)]  # the birthday (in months) features stop at
    before_school_entry: bool  # also no later than 31 August before the child starts Reception


Probability = Annotated[float, Field(ge=0, le=1)]


class RiskBands(Strict):
    high_below: Probability  # probability of GLD below which the risk is high
    medium_below: Probability


class Settings(Strict):
    prediction_point: PredictionPoint
    asq_cutoffs: dict[str, float]  # ASQ-3 domain -> 24-month cut-off (at or below: refer)
    risk_bands: RiskBands


@cache
def settings() -> Settings:
    return read(CONFIG_FILE, Settings, ConfigError)
