"""The synthesis configuration, ``synthetic.yaml``, read once and validated: a mistake names the file and the
field, when the code location loads."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gmoda_assets.lib.documents import Strict, read
from gmoda_assets.synthetic.variables import Rate, Variable

CONFIG_FILE = Path(__file__).resolve().parent / "synthetic.yaml"
Share = Annotated[float, Field(ge=0, le=1)]


class SyntheticConfigError(ValueError):
    """``synthetic.yaml`` is malformed; the message names the file and the field."""


class VariableSpec(Strict):
    name: str
    kind: Literal["category", "number"]
    precision: Annotated[float, Field(gt=0)] | None = None
    smooth: bool = False

    @model_validator(mode="after")
    def _numbers_have_a_precision(self):
        if (self.kind == "number") != (self.precision is not None):
            raise ValueError("a number has a precision (the source's rounding) and a category none")
        return self


class RateSpec(Strict):
    name: str
    column: str
    equals: list[bool | str | int] = []
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_test(self):
        if bool(self.equals) == (self.at_most is not None):
            raise ValueError("a rate has either equals or at_most")
        return self


class Utility(Strict):
    pmse_ratio_max: Annotated[float, Field(gt=0)]
    discriminator_auc_max: Annotated[float, Field(ge=0.5, le=1)]
    tv_ratio_max: Annotated[float, Field(gt=0)]
    rate_z: Annotated[float, Field(gt=0)]
    rate_floor: Share
    tstr_auc_ratio_min: Annotated[float, Field(gt=0)]
    sample: Annotated[int, Field(ge=100)]


class Risk(Strict):
    dcr_excess_max: Share
    remove_replicated_uniques: bool
    replicated_unique_share_max: Share
    tcap_excess_max: Share
    sample: Annotated[int, Field(ge=100)]


class SyntheticConfig(Strict):
    seed: int
    min_leaf: Annotated[int, Field(ge=1)]
    holdout: Annotated[float, Field(gt=0, lt=1)]
    by: str
    variables: list[VariableSpec] = Field(min_length=1)
    quasi_identifiers: list[str] = Field(min_length=1)
    sensitive: list[str] = Field(min_length=1)
    rates: list[RateSpec]
    outcome: str
    utility: Utility
    risk: Risk

    @model_validator(mode="after")
    def _names_known(self):
        known = {self.by, *(v.name for v in self.variables)}
        named = [*self.quasi_identifiers, *self.sensitive, *(r.column for r in self.rates)]
        if unknown := sorted(set(named) - known):
            raise ValueError(f"not synthesised: {', '.join(unknown)} (variables: {', '.join(sorted(known))})")
        if self.outcome not in {r.name for r in self.rates}:
            raise ValueError(f"outcome {self.outcome} is not one of the rates")
        return self

    @property
    def synthesised(self) -> list[Variable]:
        return [Variable(v.name, v.kind, v.precision, v.smooth) for v in self.variables]

    @property
    def key_rates(self) -> list[Rate]:
        return [Rate(r.name, r.column, tuple(r.equals), r.at_most) for r in self.rates]

    @property
    def columns(self) -> list[str]:
        return [self.by, *(v.name for v in self.variables)]


@cache
def synthetic_config(path: Path = CONFIG_FILE) -> SyntheticConfig:
    return read(path, SyntheticConfig, SyntheticConfigError)
