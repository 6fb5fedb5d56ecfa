"""The linkage configuration (``linkage.yaml`` beside this module): exact identifiers, the model's comparisons,
blocking rules, training and the match threshold, validated when the code location loads.

A mistake names the file and the entry: an unknown column, a kind of feed without the identifier, a condition
over columns the records do not have, a threshold outside (0, 1). ``splink_settings`` turns it into Splink's
settings (its comparisons as Splink's own comparison-level dicts, so the stored model reads like this file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from gmoda_assets.conform.linkage_features import COLUMNS as FEATURES
from gmoda_assets.lib.contracts import kinds

CONFIG_FILE = Path(__file__).with_name("linkage.yaml")
FEATURES_SOURCE = "features"  # an exact identifier that staging.linkage_features already holds
_SIDE = re.compile(r"\b([a-z_]+)_[lr]\b")


class LinkageConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Level:
    label: str
    when: str  # SQL over the pair's columns, <column>_l and <column>_r
    frequency: str | None = None  # a column whose values' frequencies adjust the level's weight


@dataclass(frozen=True)
class Comparison:
    name: str
    null_when: tuple[str, ...]
    levels: tuple[Level, ...]

    def splink(self) -> dict:
        """Splink's dict for this comparison: a null level, the levels in order, then everything else."""
        missing = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in self.null_when)
        return {"output_column_name": self.name, "comparison_description": self.name, "comparison_levels": [
            {"sql_condition": missing, "label_for_charts": "missing", "is_null_level": True},
            *({"sql_condition": level.when, "label_for_charts": level.label,
               **({"tf_adjustment_column": level.frequency, "tf_adjustment_weight": 1.0} if level.frequency else {})}
              for level in self.levels),
            {"sql_condition": "ELSE", "label_for_charts": "different"}]}


@dataclass(frozen=True)
class Together:
    name: str
    together: tuple[str, ...]  # columns the records of one household share
    kinds: tuple[str, ...]  # kinds of feed whose staging table holds the columns not among the features


PARTNER_CLASSES = ("council", "housing", "nhs", "police")  # kinds of partner the quality is measured between
TRUTH_MEASURES = ("pairwise_precision", "pairwise_recall", "pairwise_f1", "cluster_precision", "cluster_recall")
MODEL_MEASURES = ("share_with_two_nhs_numbers", "share_unlinked")


@dataclass(frozen=True)
class Bounds:
    """What the linkage quality asset's check holds figures to: (scope, measure) -> floor or ceiling."""
    floors: dict[tuple[str, str], float]  # against the truth: at least this
    ceilings: dict[tuple[str, str], float]  # the model's own view: at most this


@dataclass(frozen=True)
class LinkageConfig:
    exact: dict[str, tuple[str, ...] | None]  # identifier -> kinds of feed whose staging holds it; None: features
    comparisons: tuple[Comparison, ...]
    blocking: tuple[tuple[str, ...], ...]
    deterministic: tuple[str, ...]
    recall: float
    u_max_pairs: int
    seed: int
    m_from_exact_links: bool
    em_blocking: tuple[tuple[str, ...], ...]
    m_floor: float
    match_probability: float
    vetoes: tuple[str, ...]
    households: tuple[Together, ...]
    quality: Bounds

    @property
    def identifiers(self) -> list[str]:
        return list(self.exact)

    def staged(self, kind: str) -> list[str]:
        """Columns the records of ``kind`` bring from their staging table: exact identifiers and household
        columns that are not features."""
        household = [c for t in self.households if kind in t.kinds for c in t.together if c not in FEATURES]
        return list(dict.fromkeys([*(i for i, kinds in self.exact.items() if kinds and kind in kinds), *household]))

    @property
    def staged_columns(self) -> list[str]:
        return list(dict.fromkeys(c for kind in kinds() for c in self.staged(kind)))

    @property
    def columns(self) -> list[str]:
        """The record columns the model reads."""
        return list(FEATURES)[2:]


def _fail(where: str, message: str):
    raise LinkageConfigError(f"{CONFIG_FILE.name}: {where}: {message}")


def _columns(where: str, value, known: set[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        _fail(where, "expected a non-empty list of column names")
    if unknown := sorted(set(value) - known):
        _fail(where, f"unknown column(s) {', '.join(unknown)}; the records have {', '.join(sorted(known))}")
    return tuple(value)


def _exact(raw) -> dict[str, tuple[str, ...] | None]:
    if not isinstance(raw, dict) or not raw:
        _fail("exact", "expected a mapping of identifier to the kinds of feed that hold it")
    exact = {}
    for identifier, held in raw.items():
        where = f"exact.{identifier}"
        if held == FEATURES_SOURCE:
            if identifier not in FEATURES:
                _fail(where, "not a column of staging.linkage_features")
            exact[identifier] = None
            continue
        if not identifier.endswith("_pseudonym") or not isinstance(held, list) or not held:
            _fail(where, "expected a <field>_pseudonym and a list of kinds of feed, or 'features'")
        field = identifier.removesuffix("_pseudonym")
        for kind in held:
            if field not in kinds().get(kind, {}).get("fields", {}):
                _fail(where, f"kind {kind!r} has no field {field!r} (see contracts/kinds.yaml)")
        exact[identifier] = tuple(held)
    return exact


def _comparison(i: int, raw, known: set[str]) -> Comparison:
    where = f"comparisons[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw.get("levels"):
        _fail(where, "expected name, null_when and levels")
    where = f"comparisons.{raw['name']}"
    levels = []
    for j, level in enumerate(raw["levels"]):
        if not isinstance(level, dict) or not isinstance(level.get("label"), str) or not isinstance(
                level.get("when"), str):
            _fail(f"{where}.levels[{j}]", "expected label and when")
        used = set(_SIDE.findall(level["when"]))
        if not used or (unknown := used - known):
            _fail(f"{where}.levels[{j}]", f"the condition must compare columns of the records (<column>_l, "
                                          f"<column>_r); unknown: {', '.join(sorted(unknown)) if used else 'none used'}")
        if level.get("frequency") is not None and level["frequency"] not in known:
            _fail(f"{where}.levels[{j}].frequency", f"unknown column {level['frequency']}")
        levels.append(Level(level["label"], level["when"], level.get("frequency")))
    return Comparison(raw["name"], _columns(f"{where}.null_when", raw.get("null_when"), known), tuple(levels))


def _households(raw, known: set[str]) -> tuple[Together, ...]:
    if not isinstance(raw, list) or not raw:
        _fail("households", "expected a list of {name, together, kinds}")
    out = []
    for i, rule in enumerate(raw):
        where = f"households[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str) or not isinstance(rule.get("kinds"), list):
            _fail(where, "expected name, together and kinds")
        together = rule.get("together")
        if not isinstance(together, list) or not together:
            _fail(f"{where}.together", "expected a non-empty list of columns")
        for column in together:
            field = column.removesuffix("_pseudonym")
            if column not in known and not all(field in kinds().get(k, {}).get("fields", {}) for k in rule["kinds"]):
                _fail(f"{where}.together", f"{column} is neither a feature nor a field of kinds "
                                           f"{', '.join(rule['kinds'])} (see contracts/kinds.yaml)")
        out.append(Together(rule["name"], tuple(together), tuple(rule["kinds"])))
    return tuple(out)


def _vetoes(raw, known: set[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        _fail("vetoes", "expected a list of conditions over l.<column> and r.<column>")
    for i, veto in enumerate(raw):
        used = set(re.findall(r"\b[lr]\.([a-z_]+)\b", veto)) if isinstance(veto, str) else set()
        if not used or used - known:
            _fail(f"vetoes[{i}]", f"the condition must compare columns of the records as l.<column> and r.<column>; "
                                  f"unknown: {', '.join(sorted(used - known)) if used else 'none used'}")
    return tuple(raw)


def _scope(where: str, scope) -> str:
    """``all``, or a pair of partner classes as the evaluation names it (alphabetical: council-nhs)."""
    if scope == "all":
        return scope
    pair = str(scope).split("-")
    if len(pair) != 2 or not set(pair) <= set(PARTNER_CLASSES):
        _fail(where, f"expected all or <class>-<class>, classes being {', '.join(PARTNER_CLASSES)}; found {scope!r}")
    return "-".join(sorted(pair))


def _bounds(where: str, raw, measures: tuple[str, ...]) -> dict[tuple[str, str], float]:
    if not isinstance(raw, dict):
        _fail(where, "expected a mapping of scope (all, council-nhs, ...) to measures and their bounds")
    bounds = {}
    for scope, held in raw.items():
        if not isinstance(held, dict) or not held:
            _fail(f"{where}.{scope}", f"expected a mapping of measure ({', '.join(measures)}) to a bound")
        for measure, bound in held.items():
            if measure not in measures:
                _fail(f"{where}.{scope}.{measure}", f"unknown measure; expected one of {', '.join(measures)}")
            bounds[_scope(f"{where}.{scope}", scope), measure] = _probability(f"{where}.{scope}.{measure}", bound)
    return bounds


def _quality(raw) -> Bounds:
    if not isinstance(raw, dict):
        _fail("quality", "expected floors (against the truth) and ceilings (the model's own view)")
    return Bounds(_bounds("quality.floors", raw.get("floors", {}), TRUTH_MEASURES),
                  _bounds("quality.ceilings", raw.get("ceilings", {}), MODEL_MEASURES))


def _probability(where: str, value) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1 and not (where.endswith("recall") and value == 1):
        _fail(where, f"expected a probability between 0 and 1, found {value!r}")
    return float(value)


def parse(raw) -> LinkageConfig:
    """The configuration in ``raw`` (the YAML's content), or LinkageConfigError naming the entry at fault."""
    if not isinstance(raw, dict):
        _fail("top level", "expected a mapping")
    exact = _exact(raw.get("exact"))
    known = set(list(FEATURES)[2:]) | set(exact)
    comparisons = raw.get("comparisons")
    if not isinstance(comparisons, list) or not comparisons:
        _fail("comparisons", "expected a list of comparisons")
    names = [c.get("name") if isinstance(c, dict) else None for c in comparisons]
    if len(set(names)) != len(names):
        _fail("comparisons", "names must be unique")
    training = raw.get("training")
    if not isinstance(training, dict):
        _fail("training", "expected deterministic, recall, u_max_pairs, seed and em_blocking")
    def rules(where, value, empty=False):
        if not isinstance(value, list) or not (value or empty):
            _fail(where, "expected a list of rules, each a list of columns")
        return tuple(_columns(f"{where}[{i}]", r, known) for i, r in enumerate(value))

    for where in ("u_max_pairs", "seed"):
        if not isinstance(training.get(where), int) or training[where] < 0:
            _fail(f"training.{where}", "expected a whole number")
    return LinkageConfig(
        exact=exact,
        comparisons=tuple(_comparison(i, c, known) for i, c in enumerate(comparisons)),
        blocking=rules("blocking", raw.get("blocking")),
        deterministic=_columns("training.deterministic", training.get("deterministic"), known),
        recall=_probability("training.recall", training.get("recall")),
        u_max_pairs=training["u_max_pairs"],
        seed=training["seed"],
        m_from_exact_links=training.get("m_from_exact_links") is True,
        em_blocking=rules("training.em_blocking", training.get("em_blocking"), empty=True),
        m_floor=_probability("training.m_floor", training.get("m_floor")),
        match_probability=_probability("match_probability", raw.get("match_probability")),
        vetoes=_vetoes(raw.get("vetoes", []), known),
        households=_households(raw.get("households"), set(FEATURES)),
        quality=_quality(raw.get("quality")),
    )


@cache
def linkage_config() -> LinkageConfig:
    return parse(yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8")))


def splink_settings(config: LinkageConfig) -> dict:
    """Splink's settings for the model over records with a ``unique_id`` column."""
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[c.splink() for c in config.comparisons],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in config.blocking],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
