"""Sequential CART synthesis (the method of R's synthpop), written with scikit-learn decision trees.

Each group of rows (a council area) gets a model of its own, so that every area keeps its own rates and the
relationships between its variables. Within a group, variables are synthesised one after another in the
configured order (the visit sequence): the first is drawn from the group's real values, and each later one by
a decision tree fitted on the real rows, predicting it from the variables before it. A synthetic row falls in
one leaf of that tree (by its synthetic values so far) and takes the value of a real row drawn at random from
the same leaf, as synthpop's ``cart`` method does. So a category is always one of the real categories (and a
missing value stays possible where real ones are missing), and a number is a real value, optionally smoothed
(a normal draw with the leaf's kernel bandwidth) and then rounded to the source precision and kept within the
real range. A given seed gives the same rows; each group's stream of random numbers comes from the seed and the
group's name, so one area's rows do not change when another's do.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from gmoda_assets.synthetic.variables import Variable


def synthesise(real: pd.DataFrame, by: str, variables: Sequence[Variable], seed: int, min_leaf: int = 5,
               sizes: dict | None = None) -> pd.DataFrame:
    """Synthetic rows for each group of ``real`` (the value of column ``by``), as many as the group has (or
    ``sizes[group]``), with the columns ``by`` and ``variables`` in the order given."""
    def group_rows(item) -> pd.DataFrame:
        group, rows = item
        rng = np.random.default_rng([seed, zlib.crc32(str(group).encode())])
        size = len(rows) if sizes is None else sizes.get(group, 0)
        part = _synthesise_group(rows.reset_index(drop=True), variables, rng, min_leaf, size)
        part.insert(0, by, group)
        return part

    # Each group draws from its own stream, so the groups can be made side by side with the same rows.
    parts = in_parallel(group_rows, list(real.groupby(by, sort=True, dropna=False)))
    columns = [by, *(v.name for v in variables)]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def in_parallel(function: Callable, items: Sequence) -> list:
    """``function`` of each of ``items``, in their order, on as many threads as the process has cores: the time
    goes in scikit-learn's trees, which are fitted and applied without holding Python's lock, so independent
    fits (each council's trees, pMSE's permutations) share the cores and give the same results."""
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(os.sched_getaffinity(0)), len(items))
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def _synthesise_group(real: pd.DataFrame, variables: Sequence[Variable], rng: np.random.Generator, min_leaf: int,
                      size: int) -> pd.DataFrame:
    synthetic = pd.DataFrame(index=range(size))
    # Tree inputs, each column encoded once: the real rows' all at once, the synthetic rows' as they are drawn.
    x_real = encode(real, variables, real)
    x_synthetic = np.zeros((size, len(variables)))
    for position, variable in enumerate(variables):
        values = real[variable.name].to_numpy(dtype=object)
        if position == 0 or len(real) < 2 * min_leaf:
            donors = rng.integers(0, len(real), size) if len(real) else np.zeros(0, dtype=int)
            leaves_real = np.zeros(len(real), dtype=int)
            leaves_synthetic = np.zeros(size, dtype=int)
        else:
            leaves_real, leaves_synthetic = _leaves(x_real[:, :position], x_synthetic[:, :position],
                                                    real[variable.name], variable, rng, min_leaf)
            donors = _donors(leaves_real, leaves_synthetic, rng)
        drawn = values[donors] if size else values[:0]
        if variable.kind == "number":
            drawn = _numbers(drawn, values, variable, leaves_real, leaves_synthetic, rng)
        synthetic[variable.name] = drawn
        x_synthetic[:, position] = encode(synthetic, [variable], real)[:, 0]
    return synthetic


def _leaves(x_real: np.ndarray, x_synthetic: np.ndarray, target_values: pd.Series, target: Variable,
            rng: np.random.Generator, min_leaf: int) -> tuple[np.ndarray, np.ndarray]:
    """The leaf of a tree fitted on the real rows (``x_real``: the variables before ``target``, encoded),
    predicting ``target`` (``target_values``), that each real and each synthetic row falls in."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if target.kind == "number":
        y = as_numbers(target_values)
        observed = y[~np.isnan(y)]
        # Missing values sit below every real one, so the tree can set them apart; donors keep them missing.
        floor = (observed.min() - (np.ptp(observed) or 1.0)) if len(observed) else 0.0
        y = np.where(np.isnan(y), floor, y)
        tree = DecisionTreeRegressor(min_samples_leaf=min_leaf, random_state=int(rng.integers(2**31)))
    else:
        y = category_codes(target_values, target_values)
        tree = DecisionTreeClassifier(min_samples_leaf=min_leaf, random_state=int(rng.integers(2**31)))
    if len(np.unique(y)) < 2:
        return np.zeros(len(x_real), dtype=int), np.zeros(len(x_synthetic), dtype=int)
    tree.fit(x_real, y)
    return tree.apply(x_real), tree.apply(x_synthetic)


def _donors(leaves_real: np.ndarray, leaves_synthetic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each synthetic row, a real row drawn at random from its leaf."""
    order = np.argsort(leaves_real, kind="stable")
    leaves, starts, counts = np.unique(leaves_real[order], return_index=True, return_counts=True)
    where = np.searchsorted(leaves, leaves_synthetic)
    return order[starts[where] + (rng.random(len(leaves_synthetic)) * counts[where]).astype(int)]


def _numbers(drawn: np.ndarray, values: np.ndarray, variable: Variable, leaves_real: np.ndarray,
             leaves_synthetic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drawn numbers, smoothed if asked (Silverman's bandwidth among the leaf's real values), rounded to the
    source precision and kept within the real range; missing ones stay missing."""
    numbers, real = as_numbers(drawn), as_numbers(values)
    if not np.isfinite(real).any():
        return drawn
    if variable.smooth:
        numbers = numbers + rng.normal(0.0, 1.0, len(numbers)) * _bandwidths(real, leaves_real, leaves_synthetic)
    if variable.precision:
        numbers = np.round(numbers / variable.precision) * variable.precision
    numbers = np.clip(numbers, np.nanmin(real), np.nanmax(real))
    whole = variable.precision is not None and float(variable.precision).is_integer()
    known = ~np.isnan(numbers)
    kept = np.full(len(numbers), None, dtype=object)
    kept[known] = (numbers[known].astype(np.int64) if whole else numbers[known]).tolist()  # Python ints or floats
    return kept


def _bandwidths(real: np.ndarray, leaves_real: np.ndarray, leaves_synthetic: np.ndarray) -> np.ndarray:
    """Each synthetic row's bandwidth: Silverman's, 0.9 min(sd, IQR / 1.34) n^-1/5 (the sd where that minimum is 0),
    among the known real values of its leaf; 0 in a leaf of fewer than two. The leaves' values are gathered by one
    sort rather than a pass over every row per leaf (a Greater Manchester council's tree has over a thousand),
    and the quartiles are ``np.percentile``'s (linear: its index, gamma and interpolation) for every leaf at once;
    the sd is ``np.std`` of each leaf's values in their order, as its sum's rounding depends on it."""
    known = ~np.isnan(real)
    values, leaves = real[known], leaves_real[known]
    ids, starts, counts = np.unique(leaves[np.argsort(leaves, kind="stable")], return_index=True, return_counts=True)
    width = np.zeros(len(ids))
    several = np.flatnonzero(counts > 1)
    if len(several):
        in_order = values[np.argsort(leaves, kind="stable")]
        ascending = values[np.lexsort((values, leaves))]
        starts, counts = starts[several], counts[several]
        n = counts.astype(float)

        def quantile(q: float) -> np.ndarray:
            virtual = (n - 1) * q
            below = np.floor(virtual)
            gamma = virtual - below
            low = ascending[starts + below.astype(int)]
            high = ascending[np.minimum(starts + below.astype(int) + 1, starts + counts - 1)]
            return np.where(gamma >= 0.5, high - (high - low) * (1 - gamma), low + (high - low) * gamma)

        sd = np.array([in_order[start:start + count].std(ddof=1) for start, count in zip(starts, counts)])
        spread = np.minimum(sd, (quantile(0.75) - quantile(0.25)) / 1.34)
        spread = np.where(spread == 0, sd, spread)
        width[several] = 0.9 * spread * np.array([count ** -0.2 for count in counts.tolist()])  # Python's power
    where = np.searchsorted(ids, leaves_synthetic).clip(0, max(len(ids) - 1, 0))
    found = ids[where] == leaves_synthetic if len(ids) else np.zeros(len(leaves_synthetic), dtype=bool)
    return np.where(found, width[where] if len(ids) else 0.0, 0.0)


def as_numbers(values) -> np.ndarray:
    """``values`` (Python numbers and None, as the children are held) as floats, missing as NaN; anything that is
    not a number also NaN, as ``pd.to_numeric(errors="coerce")`` gives. NumPy converts such an array several times
    faster than pandas, which tests each value's type first."""
    array = np.asarray(values, dtype=object)
    try:
        return array.astype(float)
    except (TypeError, ValueError):  # text that is not a number, for one
        return pd.to_numeric(pd.Series(array), errors="coerce").to_numpy(dtype=float)


def categories(reference: pd.Series) -> np.ndarray:
    """The categories of ``reference``: its distinct values, missing left out, as text in sorted order."""
    known = np.asarray(reference, dtype=object)
    # Each distinct value is written as text once, not each row's (a column's values are of one type, so the
    # distinct values are the distinct texts).
    distinct = pd.unique(known)
    return np.unique(distinct[~pd.isna(distinct)].astype(str))


def category_codes(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """Integer codes of ``values`` among the categories of ``reference`` (sorted as text; missing is -1, and a
    value ``reference`` lacks is -2)."""
    known = categories(reference)
    # Factorized, missing values (None, NaN) get -1, as pd.isna finds them, without testing each row again.
    inverse, distinct = pd.factorize(np.asarray(values, dtype=object))
    text = np.asarray(distinct, dtype=object).astype(str)
    where = np.searchsorted(known, text).clip(0, max(len(known) - 1, 0))
    found = (known[where] == text) if len(known) else np.zeros(len(text), dtype=bool)
    codes = np.where(found, where, -2).astype(float)[inverse] if len(distinct) else np.zeros(len(inverse))
    codes[inverse < 0] = -1
    return codes


def encode(frame: pd.DataFrame, variables: Sequence[Variable], reference: pd.DataFrame) -> np.ndarray:
    """The ``variables`` of ``frame`` as tree inputs: categories as codes of ``reference``'s categories, numbers as
    they are (missing left missing, which scikit-learn's trees handle)."""
    columns = [category_codes(frame[v.name], reference[v.name]) if v.kind == "category"
               else as_numbers(frame[v.name]) for v in variables]
    return np.column_stack(columns) if columns else np.zeros((len(frame), 0))


def encode_pair(real: pd.DataFrame, other: pd.DataFrame, variables: Sequence[Variable]) -> tuple[np.ndarray, np.ndarray]:
    """``encode`` of two frames by the categories of the first."""
    return encode(real, variables, real), encode(other, variables, real)


def row_codes(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> list[np.ndarray]:
    """Each of ``frames``' rows in ``columns`` as one integer, the same for rows equal in every column (as Python
    compares their values; missing values all alike), in every frame. Each column is factorized once over all
    the frames and the codes combined as digits, rather than a tuple hashed per row (several times faster)."""
    sizes = [len(frame) for frame in frames]
    codes = np.zeros(sum(sizes), dtype=np.int64)
    span = 1  # codes lie in range(span)
    for name in columns:
        column, distinct = pd.factorize(np.concatenate([np.asarray(f[name], dtype=object) for f in frames]))
        digits = len(distinct) + 1  # missing (-1) is a digit too
        if span > (2**63 - 1) // digits:  # numbered again by the distinct rows so far, so that it cannot overflow
            codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)
            span = int(codes.max()) + 1 if len(codes) else 1
        codes = codes * digits + (column + 1)
        span *= digits
    return np.split(codes, np.cumsum(sizes)[:-1])


def without_copies(synthetic: pd.DataFrame, real: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """``synthetic`` without the rows that equal a real row in every one of ``columns``, and how many went."""
    made, held = row_codes([synthetic, real], columns)
    copies = np.isin(made, held)
    return synthetic.loc[~copies].reset_index(drop=True), int(copies.sum())
