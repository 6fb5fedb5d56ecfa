"""How faithful synthetic rows are to the real ones: pure functions of two data frames, each returning figures.

* ``pmse``: the propensity-score mean squared error (Woo et al. 2009; Snoke et al. 2018). A classification tree
  (CART, as synthpop's ``utility.gen`` uses by default) tells real rows from synthetic ones; pMSE is the mean
  squared distance of its propensities from the synthetic share, and the standardised ratio divides it by its
  mean when the real/synthetic labels are permuted (what the same model finds when both come from one
  distribution). About 1 is ideal.
* ``discriminator_auc``: a gradient-boosted classifier (which finds interactions the logistic model cannot)
  trained to tell them apart, its AUC on rows it did not train on; 0.5 means it cannot.
* ``marginal_distances``: per group (council) and variable, the total variation distance between the real and
  synthetic distributions (numbers in the real deciles), beside what sampling alone would give for groups of
  those sizes, so that a small council's noise is not taken for a fault nor a large one's fault for noise.
* ``key_rates``: per group, key rates of the real and synthetic rows side by side, with the difference allowed:
  ``z`` standard errors of a difference of two independent samples of those sizes, or ``floor`` if larger.
* ``train_synthetic_test_real``: a model of an outcome trained on the synthetic rows and on real training rows,
  each tested on the same real holdout rows (AUC): the synthetic rows are useful for modelling if the first comes
  close to the second.

The classifiers read a category as one column of codes, which a tree splits as finely as it needs, not one
column per category: the same trees, many times faster on Greater Manchester's two hundred wards. The
distances (``design_matrix``) need one column per category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gmoda_assets.lib.threads import one_thread
from gmoda_assets.synthetic.synthesiser import as_numbers, categories, category_codes, encode, encode_pair, in_parallel
from gmoda_assets.synthetic.variables import Rate, Variable


def design_matrix(frame: pd.DataFrame, variables: Sequence[Variable], reference: pd.DataFrame) -> np.ndarray:
    """``frame`` as numbers: each category one-hot over ``reference``'s categories and missing, halved (two rows
    differing in it are 1 apart in Manhattan distance, as in Gower's); each number scaled by ``reference``'s
    range, with a missing flag."""
    blocks = []
    for v in variables:
        if v.kind == "category":
            codes = category_codes(frame[v.name], reference[v.name])
            # A column for missing (code -1) and one per category; a value the reference lacks (-2) is in none.
            block = np.zeros((len(frame), len(categories(reference[v.name])) + 1))
            rows = np.flatnonzero(codes >= -1)
            block[rows, codes[rows].astype(int) + 1] = 0.5
            blocks.append(block)
        else:
            values, known = as_numbers(frame[v.name]), as_numbers(reference[v.name])
            low, span = (np.nanmin(known), np.ptp(known[~np.isnan(known)]) or 1.0) if np.isfinite(known).any() else (0, 1)
            blocks.append(np.column_stack([np.nan_to_num((values - low) / span, nan=0.0), np.isnan(values)]))
    return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def _stacked(real: pd.DataFrame, synthetic: pd.DataFrame, variables: Sequence[Variable], sample: int | None,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if sample:
        real = real.iloc[rng.permutation(len(real))[:sample]]
        synthetic = synthetic.iloc[rng.permutation(len(synthetic))[:sample]]
    x = np.vstack(encode_pair(real, synthetic, variables))
    y = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    return x, y


def pmse(real: pd.DataFrame, synthetic: pd.DataFrame, variables: Sequence[Variable], sample: int | None = None,
         seed: int = 0, permutations: int = 5) -> dict:
    """pMSE of a CART propensity model and its standardised ratio (over its mean with the labels permuted).

    Five permutations: their pMSEs vary by about 4% (Greater Manchester, 20,000 rows a side), so the mean of five
    has a standard error of about 2% (0.09 on a ratio of 5, against a limit of 10), under half the spread that
    sampling the rows already gives the ratio (4.9-5.2 over three seeds), for a quarter of twenty's trees."""
    from sklearn.tree import DecisionTreeClassifier

    x, y = _stacked(real, synthetic, variables, sample, seed)
    share = y.mean()
    leaf = max(5, len(y) // 200)  # leaves of at least 0.5% of the rows: a propensity, not a lookup of each row

    def error(labels: np.ndarray) -> float:
        model = DecisionTreeClassifier(min_samples_leaf=leaf, random_state=seed).fit(x, labels)
        return float(np.mean((model.predict_proba(x)[:, 1] - share) ** 2))

    rng = np.random.default_rng(seed)
    expected = float(np.mean(in_parallel(error, [rng.permutation(y) for _ in range(permutations)])))
    observed = error(y)
    return {"pmse": observed, "pmse_expected": expected, "pmse_ratio": observed / expected if expected else 0.0}


def discriminator_auc(real: pd.DataFrame, synthetic: pd.DataFrame, variables: Sequence[Variable],
                      sample: int | None = None, seed: int = 0) -> float:
    """Cross-validated (3 folds) AUC of a gradient-boosted classifier telling synthetic rows from real ones."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = _stacked(real, synthetic, variables, sample, seed)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    with one_thread():
        scores = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, scores))


def _distribution(values: pd.Series, variable: Variable, edges: np.ndarray | None) -> pd.Series:
    """Shares of each category (or real decile) and of missing values."""
    if variable.kind == "number":
        numbers = as_numbers(values)
        bins = np.where(np.isnan(numbers), -1, np.searchsorted(edges, numbers, side="right"))
        labels = pd.Series(bins)
    else:
        labels = values.astype(object).where(values.notna(), "(missing)").astype(str)
    return labels.value_counts(normalize=True)


def _edges(values: pd.Series) -> np.ndarray:
    numbers = as_numbers(values)
    numbers = numbers[~np.isnan(numbers)]
    return np.unique(np.percentile(numbers, np.arange(10, 100, 10))) if len(numbers) else np.zeros(0)


def total_variation(real: pd.Series, synthetic: pd.Series, variable: Variable) -> tuple[float, float]:
    """Total variation distance between the two distributions, and what sampling alone would give on average
    for samples of these sizes from the real one (sum over categories of sqrt(2/pi) * sd of a share difference,
    halved)."""
    edges = _edges(real) if variable.kind == "number" else None
    p, q = _distribution(real, variable, edges), _distribution(synthetic, variable, edges)
    p, q = p.align(q, fill_value=0.0)
    distance = 0.5 * float(np.abs(p - q).sum())
    if len(real) == 0 or len(synthetic) == 0:
        return distance, 0.0
    noise = 0.5 * float(np.sum(np.sqrt(2 / np.pi * p * (1 - p) * (1 / len(real) + 1 / len(synthetic)))))
    return distance, noise


def marginal_distances(real: pd.DataFrame, synthetic: pd.DataFrame, by: str,
                       variables: Sequence[Variable]) -> pd.DataFrame:
    """Per group and variable: total variation distance, its sampling-noise level, and their ratio."""
    rows = []
    for group, held in real.groupby(by, sort=True):
        made = synthetic[synthetic[by] == group]
        for v in variables:
            distance, noise = total_variation(held[v.name], made[v.name], v)
            rows.append({by: group, "variable": v.name, "tv": distance, "tv_noise": noise,
                         "tv_ratio": distance / noise if noise else (0.0 if distance == 0 else np.inf)})
    return pd.DataFrame(rows)


def key_rates(real: pd.DataFrame, synthetic: pd.DataFrame, by: str, rates: Sequence[Rate], z: float,
              floor: float) -> pd.DataFrame:
    """Per group and rate: real and synthetic rates side by side, the rows they rest on, the difference and
    the difference allowed (``max(floor, z * standard error)``), and whether it is within it."""
    rows = []
    for group, held in real.groupby(by, sort=True):
        made = synthetic[synthetic[by] == group]
        for rate in rates:
            r, s = rate.flags(held).dropna().astype(float), rate.flags(made).dropna().astype(float)
            real_rate = float(r.mean()) if len(r) else np.nan
            synthetic_rate = float(s.mean()) if len(s) else np.nan
            spread = np.sqrt(real_rate * (1 - real_rate) * (1 / max(len(r), 1) + 1 / max(len(s), 1))) if len(r) else 0.0
            allowed = max(floor, z * spread)
            difference = abs(synthetic_rate - real_rate) if len(r) and len(s) else (0.0 if len(r) == len(s) else 1.0)
            rows.append({by: group, "rate": rate.name, "real": real_rate, "synthetic": synthetic_rate,
                         "real_rows": len(r), "synthetic_rows": len(s), "difference": difference,
                         "allowed": allowed, "within": bool(difference <= allowed)})
    return pd.DataFrame(rows)


def train_synthetic_test_real(real_train: pd.DataFrame, real_holdout: pd.DataFrame, synthetic: pd.DataFrame,
                              outcome: Rate, predictors: Sequence[Variable], sample: int | None = None,
                              seed: int = 0) -> dict:
    """AUC on the real holdout of a gradient-boosted model of ``outcome`` trained on (``sample`` of) the synthetic
    rows, and of the same model trained on (as many of) the real training rows; their ratio."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)

    def fitted_auc(train: pd.DataFrame) -> float:
        train = train.iloc[rng.permutation(len(train))[:sample]] if sample else train
        y_train, y_test = outcome.flags(train), outcome.flags(real_holdout)
        train, test = train[y_train.notna().to_numpy()], real_holdout[y_test.notna().to_numpy()]
        y_train, y_test = y_train.dropna().astype(int), y_test.dropna().astype(int)
        if y_train.nunique() < 2 or y_test.nunique() < 2:
            return float("nan")
        model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
        with one_thread():
            model.fit(encode(train, predictors, real_train), y_train)
            scores = model.predict_proba(encode(test, predictors, real_train))[:, 1]
        return float(roc_auc_score(y_test, scores))

    synthetic_auc, real_auc = fitted_auc(synthetic), fitted_auc(real_train)
    return {"auc_synthetic_trained": synthetic_auc, "auc_real_trained": real_auc,
            "auc_ratio": synthetic_auc / real_auc if real_auc else float("nan")}


def rates_table(rates: pd.DataFrame, by: str) -> str:
    """Key rates side by side, as a markdown table (percentages to one decimal place)."""
    lines = [f"| {by} | rate | real % | synthetic % | difference (points) | allowed (points) |", "|---|---|---|---|---|---|"]
    for row in rates.itertuples(index=False):
        values = row._asdict()
        lines.append(f"| {values[by]} | {row.rate} | {_percent(row.real)} | {_percent(row.synthetic)} | "
                     f"{_percent(row.difference)} | {_percent(row.allowed)} |")
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{100 * value:.1f}"
