"""One synthesis: the real children in, the synthetic children and their utility and risk figures out.

Each council's real children are split (seeded) into training rows, which the synthesiser sees, and a holdout
it never sees. As many synthetic children as the council has real ones are made from the training rows; those
equal to a real child in every column are removed, and so are the replicated uniques (configurable), before
anything is measured. Every figure goes into ``quality``, one row per check, measure and council (``all`` for
Greater Manchester as a whole), with its limit and whether it keeps it: the checks of ``synthetic.children``
read those rows, and the risk checks block the release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gmoda_assets.lib.disclosure import rules
from gmoda_assets.synthetic import risk, utility
from gmoda_assets.synthetic.config import SyntheticConfig
from gmoda_assets.synthetic.synthesiser import synthesise, without_copies
from gmoda_assets.synthetic.variables import Variable

ALL = "all"  # a figure for Greater Manchester as a whole
QUALITY_COLUMNS = ["check_name", "measure", "council_code", "real", "synthetic", "value", "limit_value", "passed"]
# A real rate resting on fewer children than disclosure.yaml's threshold is not shown beside the synthetic one:
# it would say too much about them.
MIN_SHOWN = rules().min_count
# Fewer real or synthetic children than this (a new install, a warehouse with no assessment yet) leave the utility
# unmeasured: its classifiers need children of both kinds in each of their folds. The risk is measured whatever
# the numbers (an empty release discloses nothing), so the release is never held back for want of children.
MIN_FOR_UTILITY = 10


@dataclass
class Synthesis:
    children: pd.DataFrame  # the release: synthetic_id and the configured columns
    quality: pd.DataFrame  # QUALITY_COLUMNS
    figures: dict[str, dict]  # per check: its figures, for the check's metadata
    summary: dict  # for the materialisation's metadata


def split(real: pd.DataFrame, config: SyntheticConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each council's real children in training and holdout rows (``config.holdout`` of them), by the seed."""
    rng = np.random.default_rng(config.seed)
    held = np.zeros(len(real), dtype=bool)
    for _, rows in sorted(real.groupby(config.by).indices.items()):
        held[rng.choice(rows, int(round(len(rows) * config.holdout)), replace=False)] = True
    return real[~held].reset_index(drop=True), real[held].reset_index(drop=True)


def synthesise_children(real: pd.DataFrame, config: SyntheticConfig) -> Synthesis:
    """The synthetic children of ``real`` and every figure about them."""
    training, holdout = split(real, config)
    sizes = real[config.by].value_counts().to_dict()
    made = synthesise(training, config.by, config.synthesised, config.seed, config.min_leaf, sizes)
    made, copies_removed = without_copies(made, real, config.columns)
    uniques_removed = 0
    if config.risk.remove_replicated_uniques:
        replicated = risk.replicated_unique_rows(made, real, config.quasi_identifiers)
        made, uniques_removed = made[~replicated].reset_index(drop=True), int(replicated.sum())
    quality = _Quality()
    measured = [Variable(config.by, "category"), *config.synthesised]
    _risk(quality, made, real, training, holdout, measured, config, copies_removed, uniques_removed)
    if min(len(training), len(holdout), len(made)) >= MIN_FOR_UTILITY:
        _utility(quality, made, real, training, holdout, measured, config)
    children = made.assign(synthetic_id=np.arange(1, len(made) + 1))[["synthetic_id", *config.columns]]
    summary = {"real_children": len(real), "training_children": len(training), "holdout_children": len(holdout),
               "copies_removed": copies_removed, "replicated_uniques_removed": uniques_removed,
               "councils": int(real[config.by].nunique()), "seed": config.seed}
    return Synthesis(children, quality.frame(), quality.figures, summary)


class _Quality:
    def __init__(self):
        self.rows: list[dict] = []
        self.figures: dict[str, dict] = {}

    def add(self, check: str, measure: str, value: float, limit: float | None, passed: bool, council: str = ALL,
            real: float | None = None, synthetic: float | None = None) -> None:
        self.rows.append({"check_name": check, "measure": measure, "council_code": council, "real": real,
                          "synthetic": synthetic, "value": _plain(value), "limit_value": limit, "passed": bool(passed)})

    def figure(self, check: str, **figures) -> None:
        self.figures.setdefault(check, {}).update({k: _plain(v) for k, v in figures.items()})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=QUALITY_COLUMNS)


def _plain(value):
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else round(float(value), 4)
    return value.item() if hasattr(value, "item") else value


def _risk(quality: _Quality, made, real, training, holdout, measured, config: SyntheticConfig, copies_removed: int,
          uniques_removed: int) -> None:
    limits = config.risk
    copies = risk.exact_copies(made, real, config.columns)
    quality.add("no_exact_copies", "exact_copies", copies, 0, copies == 0)
    quality.figure("no_exact_copies", exact_copies=copies, copies_removed=copies_removed)

    distance = risk.distance_to_closest_record(made, training, holdout, measured, limits.sample, config.seed)
    quality.add("distance_to_closest_record", "dcr_excess", distance["dcr_excess"], limits.dcr_excess_max,
                distance["dcr_excess"] <= limits.dcr_excess_max)
    quality.figure("distance_to_closest_record", **distance, limit=limits.dcr_excess_max)

    uniques = risk.replicated_uniques(made, real, config.quasi_identifiers)
    share = uniques["replicated_unique_share"]
    quality.add("replicated_uniques", "replicated_unique_share", share, limits.replicated_unique_share_max,
                share <= limits.replicated_unique_share_max)
    quality.figure("replicated_uniques", **uniques, removed=uniques_removed, limit=limits.replicated_unique_share_max,
                   quasi_identifiers=", ".join(config.quasi_identifiers))

    for target in config.sensitive:
        found = risk.attribute_disclosure(made, real, config.quasi_identifiers, target, by=config.by)
        quality.add("attribute_disclosure", target, found["excess"], limits.tcap_excess_max,
                    found["excess"] <= limits.tcap_excess_max, real=found["baseline"], synthetic=found["tcap"])
        quality.figure("attribute_disclosure", **{f"{target}_{k}": v for k, v in found.items()})
    quality.figure("attribute_disclosure", limit=limits.tcap_excess_max)


def _utility(quality: _Quality, made, real, training, holdout, measured, config: SyntheticConfig) -> None:
    limits = config.utility
    propensity = utility.pmse(training, made, measured, limits.sample, config.seed)
    quality.add("propensity_mse", "pmse_ratio", propensity["pmse_ratio"], limits.pmse_ratio_max,
                propensity["pmse_ratio"] <= limits.pmse_ratio_max)
    quality.figure("propensity_mse", **propensity, limit=limits.pmse_ratio_max)

    auc = utility.discriminator_auc(training, made, measured, limits.sample, config.seed)
    quality.add("discriminator_auc", "auc", auc, limits.discriminator_auc_max, auc <= limits.discriminator_auc_max)
    quality.figure("discriminator_auc", auc=auc, limit=limits.discriminator_auc_max)

    distances = utility.marginal_distances(real, made, config.by, config.synthesised)
    for row in distances.itertuples(index=False):
        quality.add("council_marginals", row.variable, row.tv_ratio, limits.tv_ratio_max,
                    row.tv_ratio <= limits.tv_ratio_max, council=getattr(row, config.by), synthetic=row.tv)
    worst = distances.loc[distances.tv_ratio.idxmax()] if len(distances) else None
    quality.figure("council_marginals", limit=limits.tv_ratio_max, comparisons=len(distances),
                   failing=int((distances.tv_ratio > limits.tv_ratio_max).sum()),
                   **({} if worst is None else {"worst_council": worst[config.by], "worst_variable": worst.variable,
                                                "worst_tv": worst.tv, "worst_tv_ratio": worst.tv_ratio}))

    rates = utility.key_rates(real, made, config.by, config.key_rates, limits.rate_z, limits.rate_floor)
    for row in rates.itertuples(index=False):
        shown = row.real_rows >= MIN_SHOWN
        quality.add("council_key_rates", row.rate, row.difference, row.allowed, row.within,
                    council=getattr(row, config.by), real=_plain(row.real) if shown else None,
                    synthetic=_plain(row.synthetic) if shown else None)
    quality.figure("council_key_rates", compared=len(rates), outside_tolerance=int((~rates.within).sum()),
                   table=utility.rates_table(rates[rates.real_rows >= MIN_SHOWN], config.by))

    outcome = next(r for r in config.key_rates if r.name == config.outcome)
    predictors = [v for v in measured if v.name != outcome.column]
    tstr = utility.train_synthetic_test_real(training, holdout, made, outcome, predictors, limits.sample,
                                             config.seed)
    ratio = tstr["auc_ratio"]
    quality.add("train_synthetic_test_real", "auc_ratio", ratio, limits.tstr_auc_ratio_min,
                not np.isnan(ratio) and ratio >= limits.tstr_auc_ratio_min,
                real=_plain(tstr["auc_real_trained"]), synthetic=_plain(tstr["auc_synthetic_trained"]))
    quality.figure("train_synthetic_test_real", **tstr, outcome=config.outcome, limit=limits.tstr_auc_ratio_min)
