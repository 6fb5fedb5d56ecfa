"""Expectation suites as data: one YAML file of checks per asset, in ``gmoda_assets/expectations``.

``expectations/<schema>.<table>.yaml`` holds the checks of the asset keyed ``[<schema>, <table>]``: a list of
checks, each a mapping of

    name: one_row_per_lsoa          # the Dagster asset check's name
    description: ...                # what the check guarantees, shown in the UI
    blocking: true                  # true when a failure must stop downstream assets
    expectations:                   # Great Expectations 1.x expectations, in GE's own form
      - type: expect_column_values_to_be_unique
        kwargs: {column: lsoa11cd}
        about: ...                  # optional: what a failure is about, shown beside failing rows

``unexpected_rows_expectation`` queries name the checked rows ``{batch}``, which GE fills in with
``str.format`` (so a literal brace, as in a regex ``[0-9]{{6}}``, is doubled). In a query with a JOIN, alias
``{batch}`` yourself (``FROM {batch} AS s JOIN ...``); in one without, GE aliases it ``subselect``.

A description or a text argument may name a configured value as ``{<group>.<name>}``, filled in when the
suite is read: ``{disclosure.min_count}`` is ``min_count`` in ``governance/disclosure.yaml``. A name that is
not configured fails loading with the file and check named.

Files are validated when read (``Suite``, a pydantic model), so a typo fails loading the definitions with the
file and field named (``conformed.dim_date.yaml: 2.blocking: Input should be a valid boolean``; checks count
from 0), not a run hours later.
"""

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, RootModel, StrictBool, StringConstraints, model_validator

from gmoda_assets.lib.disclosure import rules
from gmoda_assets.lib.documents import Strict, read_yaml, validated
from gmoda_assets.lib.quality import CheckDef

SUITES_DIR = Path(__file__).resolve().parent.parent / "expectations"
_PARAMETER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")  # {disclosure.min_count}; {batch} is left to GE


class SuiteError(ValueError):
    """A suite file is malformed; the message names the file, the check and the problem."""


class Expectation(Strict):
    type: Annotated[str, Field(pattern=r"^(expect_[a-z0-9_]+|unexpected_rows_expectation)$")]  # GE's
    kwargs: dict[str, Any]
    about: str | None = None  # what a failure is about, shown beside failing rows

    @model_validator(mode="after")
    def _rows_query_reads_the_batch(self):
        if self.type == "unexpected_rows_expectation" and "{batch}" not in str(self.kwargs.get("unexpected_rows_query", "")):
            raise ValueError("unexpected_rows_expectation needs an unexpected_rows_query that reads {batch}")
        return self


class Check(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]  # Dagster check names are Python-identifier-like
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    blocking: StrictBool
    expectations: list[Expectation] = Field(min_length=1)


class Suite(RootModel[list[Check]]):
    root: list[Check] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self):
        names = [c.name for c in self.root]
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"check names must be unique; repeated: {', '.join(repeated)}")
        return self


def suite_path(asset_key: list[str]) -> Path:
    return SUITES_DIR / f"{'.'.join(asset_key)}.yaml"


def load_suite(asset_key: list[str]) -> list[CheckDef]:
    """The checks of the asset ``asset_key``, read from its suite file and validated."""
    path = suite_path(asset_key)
    if not path.is_file():
        raise SuiteError(f"{path}: no expectation suite for asset {'/'.join(asset_key)}")
    suite = validated(_filled(path, read_yaml(path, SuiteError), parameters()), Suite, str(path), SuiteError)
    return [CheckDef(c.name, c.description, [e.model_dump(exclude_unset=True) for e in c.expectations],
                     blocking=c.blocking) for c in suite.root]


def parameters() -> dict[str, object]:
    """The configured values a suite may name, as ``{<group>.<name>}``."""
    return {f"disclosure.{name}": value for name, value in rules().model_dump().items()}


def _filled(path: Path, item, known: dict[str, object]):
    """``item`` (a suite, or any part of one) with each ``{<group>.<name>}`` in its texts replaced by its value."""
    if isinstance(item, dict):
        return {k: _filled(path, v, known) for k, v in item.items()}
    if isinstance(item, list):
        return [_filled(path, v, known) for v in item]
    if not isinstance(item, str):
        return item

    def value(match: re.Match) -> str:
        if match.group(1) not in known:
            raise SuiteError(f"{path}: {{{match.group(1)}}} is not one of {', '.join(sorted(known))}")
        return str(known[match.group(1)])

    return _PARAMETER.sub(value, item)
