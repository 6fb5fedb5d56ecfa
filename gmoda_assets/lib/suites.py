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

Files are validated when read, so a typo fails loading the definitions with the file and check named, not a
run hours later.
"""

import re
from pathlib import Path

import yaml

from gmoda_assets.lib.disclosure import rules
from gmoda_assets.lib.quality import CheckDef

SUITES_DIR = Path(__file__).resolve().parent.parent / "expectations"
CHECK_KEYS = {"name", "description", "blocking", "expectations"}
EXPECTATION_KEYS = {"type", "kwargs"}
OPTIONAL_EXPECTATION_KEYS = {"about"}
_CHECK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # Dagster check names are Python-identifier-like
_EXPECTATION_TYPE = re.compile(r"^(expect_[a-z0-9_]+|unexpected_rows_expectation)$")
_PARAMETER = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")  # {disclosure.min_count}; {batch} is left to GE


class SuiteError(ValueError):
    """A suite file is malformed; the message names the file, the check and the problem."""


def suite_path(asset_key: list[str]) -> Path:
    return SUITES_DIR / f"{'.'.join(asset_key)}.yaml"


def load_suite(asset_key: list[str]) -> list[CheckDef]:
    """The checks of the asset ``asset_key``, read from its suite file and validated."""
    path = suite_path(asset_key)
    if not path.is_file():
        raise SuiteError(f"{path}: no expectation suite for asset {'/'.join(asset_key)}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, list) or not document:
        raise SuiteError(f"{path}: a suite is a non-empty list of checks")
    known = parameters()
    checks = [_check(path, i, _filled(path, i, item, known)) for i, item in enumerate(document, start=1)]
    names = [c.name for c in checks]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise SuiteError(f"{path}: check names must be unique; repeated: {', '.join(duplicates)}")
    return checks


def parameters() -> dict[str, object]:
    """The configured values a suite may name, as ``{<group>.<name>}``."""
    return {f"disclosure.{name}": value for name, value in vars(rules()).items()}


def _filled(path: Path, number: int, item, known: dict[str, object]):
    """``item`` (a check, or any part of one) with each ``{<group>.<name>}`` in its texts replaced by its value."""
    if isinstance(item, dict):
        return {k: _filled(path, number, v, known) for k, v in item.items()}
    if isinstance(item, list):
        return [_filled(path, number, v, known) for v in item]
    if not isinstance(item, str):
        return item

    def value(match: re.Match) -> str:
        if match.group(1) not in known:
            raise SuiteError(f"{path}: check {number} names {{{match.group(1)}}}, which is not one of "
                             f"{', '.join(sorted(known))}")
        return str(known[match.group(1)])

    return _PARAMETER.sub(value, item)


def _check(path: Path, number: int, item) -> CheckDef:
    where = f"{path}: check {number}"
    if not isinstance(item, dict):
        raise SuiteError(f"{where}: a check is a mapping of {', '.join(sorted(CHECK_KEYS))}")
    if isinstance(item.get("name"), str):
        where += f" ('{item['name']}')"
    _keys(where, item, CHECK_KEYS, set())
    if not isinstance(item["name"], str) or not _CHECK_NAME.match(item["name"]):
        raise SuiteError(f"{where}: name must be lower_snake_case, got {item['name']!r}")
    if not isinstance(item["description"], str) or not item["description"].strip():
        raise SuiteError(f"{where}: description must be a non-empty text")
    if not isinstance(item["blocking"], bool):
        raise SuiteError(f"{where}: blocking must be true or false, got {item['blocking']!r}")
    if not isinstance(item["expectations"], list) or not item["expectations"]:
        raise SuiteError(f"{where}: expectations must be a non-empty list")
    expectations = [_expectation(f"{where}, expectation {i}", e) for i, e in enumerate(item["expectations"], start=1)]
    return CheckDef(item["name"], item["description"].strip(), expectations, blocking=item["blocking"])


def _expectation(where: str, item) -> dict:
    if not isinstance(item, dict):
        raise SuiteError(f"{where}: an expectation is a mapping of type, kwargs and optionally about")
    _keys(where, item, EXPECTATION_KEYS, OPTIONAL_EXPECTATION_KEYS)
    type_, kwargs = item["type"], item["kwargs"]
    if not isinstance(type_, str) or not _EXPECTATION_TYPE.match(type_):
        raise SuiteError(f"{where}: type must be a Great Expectations expectation type, got {type_!r}")
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where}: kwargs must be a mapping")
    if type_ == "unexpected_rows_expectation" and "{batch}" not in str(kwargs.get("unexpected_rows_query", "")):
        raise SuiteError(f"{where}: unexpected_rows_expectation needs an unexpected_rows_query that reads {{batch}}")
    return dict(item)


def _keys(where: str, item: dict, required: set[str], optional: set[str]) -> None:
    if missing := sorted(required - item.keys()):
        raise SuiteError(f"{where}: missing {', '.join(missing)}")
    if unknown := sorted(item.keys() - required - optional):
        raise SuiteError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                         f"allowed: {', '.join(sorted(required | optional))}")
