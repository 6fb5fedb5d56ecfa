"""How much synthetic rows could disclose about real children: pure functions of data frames, each returning
figures that the release's blocking checks compare with the configured limits.

* ``exact_copies``: synthetic rows equal to a real row in every column (the release removes them and holds 0).
* ``distance_to_closest_record``: is a synthetic row closer to the rows it was made from (training) than a real
  row the synthesiser never saw (holdout) is? For each synthetic row, whether its nearest training row is
  nearer than its nearest holdout row; the same share for each holdout row (against the training rows and the
  other holdout rows) is what an unseen real row gives, and copies of training rows give 1. The figure is how
  far the synthetic rows go from the first towards the second: 0 when they are no nearer the training rows
  than unseen real rows are, 1 when they are as near as copies. Distances are Euclidean over the design matrix
  (a category differing adds 1/2 to the squared distance, a number its squared difference over the real
  range), on a sample of rows. The nearest rows are found by matrix products with the ward (the category of
  most levels) set apart, so the products span a few dozen columns rather than three hundred.
* ``replicated_uniques``: synthetic rows unique in the synthetic set on the quasi-identifiers (what a person
  could know of a child: council, ward, month of birth, sex) whose combination is also unique among the real
  rows, as a share of the synthetic rows: each looks like one identifiable real child. As synthpop's ``sdc``
  does, the release removes them (``replicated_unique_rows``) and measures again.
* ``attribute_disclosure``: TCAP (targeted correct attribution probability; Taub, Elliot and Sakshaug 2018).
  An intruder who knows a real child's quasi-identifiers finds the synthetic rows with the same ones; where
  they all agree on a sensitive value (special educational needs, free-school-meal eligibility, ethnicity),
  the intruder takes it as the child's. TCAP is the share of such guesses that are right; the baseline is the
  chance of guessing right from the real distribution of the child's council area (the sum of squared shares;
  council rates are published, and keeping them is the synthesis's purpose). TCAP rests on the
  children matched, often few, so the figure judged is the real children attributed correctly beyond what
  guessing would get right for the same children, as a share of all real children (as synthpop's DiSCO counts
  disclosures among all records): a copy of the real rows scores about 1 minus the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gmoda_assets.lib.threads import one_thread
from gmoda_assets.synthetic.synthesiser import categories, category_codes, row_codes
from gmoda_assets.synthetic.utility import design_matrix
from gmoda_assets.synthetic.variables import Variable


def exact_copies(synthetic: pd.DataFrame, real: pd.DataFrame, columns: Sequence[str]) -> int:
    """Synthetic rows equal to some real row in every one of ``columns``."""
    made, held = row_codes([synthetic, real], columns)
    return int(np.isin(made, held).sum())


class _Rows:
    """Rows as the distances see them: the design matrix without the category of most levels (Greater
    Manchester's two hundred wards would be most of its columns), that category's codes beside it, and each
    row's squared length in both parts."""

    def __init__(self, frame: pd.DataFrame, variables: Sequence[Variable], reference: pd.DataFrame):
        levels = {v.name: len(categories(reference[v.name])) for v in variables if v.kind == "category"}
        apart = max(levels, key=levels.get) if levels else None
        self.matrix = design_matrix(frame, [v for v in variables if v.name != apart], reference)
        # A value the reference lacks (-2) has no column of the category's block; every other code has one.
        self.codes = category_codes(frame[apart], reference[apart]) if apart else np.full(len(frame), -2.0)
        self.squared = np.einsum("ij,ij->i", self.matrix, self.matrix) + np.where(self.codes >= -1, 0.25, 0.0)

    def distances(self, queries: _Rows, rows: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Squared distances from the ``rows`` of the queries to ``points`` (indices of these rows, one per
        query row), computed term by term: a copy is exactly 0 away and equal distances compare equal."""
        mine, theirs = queries.codes[rows], self.codes[points]
        apart = np.where((mine == theirs) & (theirs >= -1), 0.0, 0.25 * (mine >= -1) + 0.25 * (theirs >= -1))
        return ((queries.matrix[rows] - self.matrix[points]) ** 2).sum(axis=1) + apart


def _nearest(points: _Rows, queries: _Rows, skip_self: bool = False, chunk: int = 64) -> np.ndarray:
    """Distance from each query to its nearest point (to the nearest other one when the queries are the points).
    The nearest is found by matrix products (|p|^2 - 2 q.p, a query's own |q|^2 being the same for every point),
    less 1/2 where the category apart is the query's own (its points sorted by it, so they lie together); its
    distance is then computed again term by term, exact where the products round."""
    size, count = len(points.codes), len(queries.codes)
    if size <= int(skip_self):
        return np.full(count, np.inf)
    order = np.argsort(points.codes, kind="stable")
    weights = np.column_stack([-2 * points.matrix[order], points.squared[order]])
    sorted_codes = points.codes[order]
    low, high = (np.searchsorted(sorted_codes, queries.codes, side) for side in ("left", "right"))
    place = np.empty(size, dtype=int)
    place[order] = np.arange(size)  # where each point went: a query that is a point skips its own place
    found = np.empty(count)
    with one_thread():  # small products: a second BLAS thread would spin on a shared machine
        for start in range(0, count, chunk):
            rows = np.arange(start, min(start + chunk, count))
            key = np.column_stack([queries.matrix[rows], np.ones(len(rows))]) @ weights.T
            for i, row in enumerate(rows):
                if queries.codes[row] >= -1:
                    key[i, low[row]:high[row]] -= 0.5
                if skip_self:
                    key[i, place[row]] = np.inf
            found[rows] = points.distances(queries, rows, order[key.argmin(axis=1)])
    return np.sqrt(found)


def _closer_share(to_training: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of rows nearer the training rows than the holdout rows, ties counting half."""
    return float(np.mean(to_training < to_holdout) + 0.5 * np.mean(to_training == to_holdout)) if len(to_training) else 0.0


def distance_to_closest_record(synthetic: pd.DataFrame, training: pd.DataFrame, holdout: pd.DataFrame,
                               variables: Sequence[Variable], sample: int, seed: int = 0) -> dict:
    """Shares of synthetic and of holdout rows nearer the training rows than the holdout rows, their excess,
    and the median distances to the nearest training row."""
    rng = np.random.default_rng(seed)

    def sampled(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[rng.permutation(len(frame))[:sample]]

    synthetic, holdout = sampled(synthetic), sampled(holdout)
    train_x, hold_x, made_x = (_Rows(frame, variables, training) for frame in (training, holdout, synthetic))
    made_train, made_hold = _nearest(train_x, made_x), _nearest(hold_x, made_x)
    hold_train, hold_hold = _nearest(train_x, hold_x), _nearest(hold_x, hold_x, skip_self=True)
    synthetic_share, holdout_share = _closer_share(made_train, made_hold), _closer_share(hold_train, hold_hold)
    room = 1 - holdout_share  # how much nearer copies of the training rows would be
    return {"dcr_synthetic_closer_share": synthetic_share, "dcr_holdout_closer_share": holdout_share,
            "dcr_excess": max(0.0, synthetic_share - holdout_share) / room if room > 0 else 0.0,
            "dcr_median_synthetic": float(np.median(made_train)) if len(made_train) else 0.0,
            "dcr_median_holdout": float(np.median(hold_train)) if len(hold_train) else 0.0,
            "dcr_rows_compared": len(synthetic)}


def replicated_unique_rows(synthetic: pd.DataFrame, real: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Whether each synthetic row is unique on ``keys`` among the synthetic rows, and its keys unique among the
    real rows too."""
    made, held = (pd.Series(codes) for codes in row_codes([synthetic, real], keys))
    made_counts, held_counts = made.value_counts(), held.value_counts()
    return ((made.map(made_counts) == 1) & made.map(held_counts).eq(1)).to_numpy()


def replicated_uniques(synthetic: pd.DataFrame, real: pd.DataFrame, keys: Sequence[str]) -> dict:
    """Synthetic rows unique on ``keys`` in the synthetic rows whose keys are unique among the real rows too."""
    held = pd.Series(row_codes([real], keys)[0])
    replicated = int(replicated_unique_rows(synthetic, real, keys).sum())
    return {"replicated_uniques": replicated,
            "replicated_unique_share": replicated / len(synthetic) if len(synthetic) else 0.0,
            "real_unique_share": float((held.map(held.value_counts()) == 1).mean()) if len(real) else 0.0}


def attribute_disclosure(synthetic: pd.DataFrame, real: pd.DataFrame, keys: Sequence[str], target: str,
                         by: str | None = None) -> dict:
    """TCAP of ``target`` given ``keys``, and the baseline of guessing from the real distribution (within each
    group ``by``, whose rates are public); the real rows matched, and the real children attributed correctly
    beyond what guessing would get right for them, as a share of all (``excess``). Rows with the target missing
    are left out on both sides."""
    made = synthetic[synthetic[target].notna()]
    held = real[real[target].notna()].reset_index(drop=True)
    truth = held[target].astype(str)
    groups = held[by] if by else pd.Series(0, index=held.index)
    shares = truth.groupby(groups.to_numpy()).value_counts(normalize=True)
    chance = (shares ** 2).groupby(level=0).sum()  # of guessing right within each group
    guessing = groups.map(chance).to_numpy(dtype=float) if len(held) else np.zeros(0)
    made_keys, held_keys = row_codes([made, held], keys)
    values = pd.DataFrame({"key": made_keys, "value": made[target].astype(str).to_numpy()})
    grouped = values.groupby("key")["value"]
    agreed = grouped.first()[grouped.nunique() == 1]
    guesses = pd.Series(held_keys).map(agreed)
    matched = guesses.notna().to_numpy()
    correct = int((guesses[matched] == truth[matched]).sum())
    count = int(matched.sum())
    return {"tcap": correct / count if count else 0.0,
            "baseline": float(guessing[matched].mean()) if count else float(guessing.mean()) if len(held) else 0.0,
            "real_rows_matched": count,
            "excess": max(0.0, correct - float(guessing[matched].sum())) / len(held) if len(held) else 0.0}
