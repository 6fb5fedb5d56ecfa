"""The package's YAML files (contracts, suites, agreements, disclosure rules) read into pydantic models.

A model says once what a file may hold: unknown keys are refused (``extra="forbid"``), and types, allowed
values and ranges are checked as the file is read. Every refusal names the file and the field, as
``contracts/systems/eyfsp_ctf.yaml: columns.3.type: Input should be 'text', 'integer', ... (got 'txt')``
(list positions count from 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """A mapping in a YAML file: unknown keys are refused, and what was read cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path, error: type[Exception]):
    """The YAML document in ``path``; ``error`` naming the file if it is not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


def validated(document, model: type[Model], where: str, error: type[Exception]) -> Model:
    """``document`` as ``model``, or ``error`` naming ``where`` (the file, and what in it) and each faulty field."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise error("\n".join(_problem(where, e) for e in exc.errors(include_url=False))) from None


def read(path: Path, model: type[Model], error: type[Exception]) -> Model:
    """The YAML file ``path`` as ``model``, or ``error`` naming the file and each faulty field."""
    return validated(read_yaml(path, error), model, str(path), error)


def _problem(where: str, error: dict) -> str:
    field = ".".join(map(str, error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(got, (dict, list)) or error["type"].startswith("value_error") \
        else f" (got {got!r})"
    return f"{where}: {field + ': ' if field else ''}{message}{shown}"
