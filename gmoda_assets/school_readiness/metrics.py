"""How good a set of probabilities is, on children whose outcome is known: accuracy (at 0.5) beside the majority
class's, balanced accuracy, ROC AUC, Brier score and expected calibration error (ECE), overall, per group and as
a calibration table."""

from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10  # calibration bins of predicted probability, 0-0.1, ..., 0.9-1


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC: the chance that a child who reached GLD has a higher probability than one who did not (ties
    half); None when only one outcome occurs."""
    positive, negative = p[y], p[~y]
    if not len(positive) or not len(negative):
        return None
    ranks = pd.Series(p).rank().to_numpy()  # average ranks: ties count half
    return float((ranks[y].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def _bin(p: np.ndarray) -> np.ndarray:
    return np.minimum((p * BINS).astype(int), BINS - 1)


def calibration_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Per bin of predicted probability: children, mean predicted probability and the share that reached GLD."""
    frame = pd.DataFrame({"bin": _bin(p), "p": p, "y": y.astype(float)})
    table = frame.groupby("bin").agg(children=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    table.index = [f"{b / BINS:.1f}-{(b + 1) / BINS:.1f}" for b in table.index]
    return table


def ece(y: np.ndarray, p: np.ndarray) -> float:
    """Expected calibration error: the gap between mean predicted and observed rate in each bin, weighted by the
    bin's share of children."""
    table = calibration_table(y, p)
    return float((table["children"] * (table["predicted"] - table["observed"]).abs()).sum() / len(y))


def summary(y: np.ndarray, p: np.ndarray) -> dict:
    """Every figure for one set of children (``y`` their outcomes, ``p`` their probabilities of GLD)."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    predicted = p >= 0.5
    rate = float(y.mean())
    recalls = [float(predicted[y].mean()) if y.any() else None, float((~predicted[~y]).mean()) if (~y).any() else None]
    return {
        "children": int(len(y)),
        "observed_rate": rate,
        "mean_predicted": float(p.mean()),
        "accuracy": float((predicted == y).mean()),
        "majority_accuracy": max(rate, 1 - rate),
        "balanced_accuracy": None if None in recalls else (recalls[0] + recalls[1]) / 2,
        "auc": auc(y, p),
        "brier": float(((p - y) ** 2).mean()),
        "ece": ece(y, p),
    }


def by_group(groups: pd.Series, y: np.ndarray, p: np.ndarray) -> dict[str, dict]:
    """``summary`` per value of ``groups`` (children whose group is not recorded are in no group)."""
    masks = {g: (groups == g).fillna(False).to_numpy(dtype=bool) for g in sorted(groups.dropna().unique())}
    return {str(g): summary(y[m], p[m]) for g, m in masks.items()}
