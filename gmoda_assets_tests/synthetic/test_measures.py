"""The synthesiser and the utility and risk measures, as pure functions on a small made-up population: three
council areas with rates of their own and a sensitive attribute tied to the quasi-identifiers."""

import numpy as np
import pandas as pd
import pytest

from gmoda_assets.synthetic import risk, utility
from gmoda_assets.synthetic.synthesiser import synthesise, without_copies
from gmoda_assets.synthetic.variables import Rate, Variable

VARIABLES = [Variable("ward", "category"), Variable("birth_month", "number", 1), Variable("sex", "category"),
             Variable("birth_weight", "number", 10, smooth=True), Variable("fsm", "category"),
             Variable("gld", "category")]
MEASURED = [Variable("council", "category"), *VARIABLES]  # the measures see the area too
KEYS = ["council", "ward", "birth_month", "sex"]
RATES = [Rate("gld", "gld", (True,)), Rate("low_birth_weight", "birth_weight", at_most=2499),
         Rate("fsm", "fsm", (True,))]


def _population(seed: int = 1, per_council: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for council, (gld_base, fsm_rate) in {"A": (0.75, 0.10), "B": (0.60, 0.30), "C": (0.45, 0.45)}.items():
        fsm = rng.random(per_council) < fsm_rate
        weight = np.round(rng.normal(3300, 550, per_council) - 250 * fsm, -1)
        gld = rng.random(per_council) < gld_base - 0.15 * fsm + 0.0001 * (weight - 3300)
        rows.append(pd.DataFrame({
            "council": council, "ward": [f"{council}{w}" for w in rng.integers(0, 6, per_council)],
            "birth_month": rng.integers(1, 13, per_council), "sex": rng.choice(["female", "male"], per_council),
            "birth_weight": np.where(rng.random(per_council) < 0.05, np.nan, weight), "fsm": fsm, "gld": gld}))
    frame = pd.concat(rows, ignore_index=True)
    frame["birth_weight"] = frame["birth_weight"].astype(object).where(frame["birth_weight"].notna(), None)
    return frame


@pytest.fixture(scope="module")
def real():
    return _population()


@pytest.fixture(scope="module")
def split(real):
    order = np.random.default_rng(0).permutation(len(real))
    training, holdout = real.iloc[order[:1440]].reset_index(drop=True), real.iloc[order[1440:]].reset_index(drop=True)
    synthetic, _ = without_copies(synthesise(training, "council", VARIABLES, seed=3), real, list(real.columns))
    return training, holdout, synthetic


def test_same_seed_same_rows_and_another_seed_other_rows(real):
    first = synthesise(real, "council", VARIABLES, seed=5)
    assert first.equals(synthesise(real, "council", VARIABLES, seed=5))
    assert not first.equals(synthesise(real, "council", VARIABLES, seed=6))
    # An area's rows come from the seed and the area alone: dropping another area changes none of them.
    alone = synthesise(real[real.council == "B"], "council", VARIABLES, seed=5)
    assert alone.equals(first[first.council == "B"].reset_index(drop=True))


def test_values_come_from_the_real_ones_at_their_precision(real):
    made = synthesise(real, "council", VARIABLES, seed=5)
    assert made.council.value_counts().to_dict() == real.council.value_counts().to_dict()
    for council, rows in made.groupby("council"):
        assert set(rows.ward) <= set(real.ward[real.council == council])  # a council's own wards only
    assert set(made.sex) <= set(real.sex) and set(made.gld) <= {True, False}
    weights = made.birth_weight.dropna().astype(float)
    assert (weights % 10 == 0).all() and weights.between(real.birth_weight.min(), real.birth_weight.max()).all()
    assert 0.02 < made.birth_weight.isna().mean() < 0.09  # missing where the real ones are, about as often
    assert not set(weights) <= set(real.birth_weight.dropna())  # smoothed: not only real weights


def test_numbers_are_read_as_pandas_coerces_them():
    """``as_numbers`` gives what ``pd.to_numeric(errors="coerce")`` gives: Python ints, floats, None and NaN on the
    fast path, and text (a number written out, or not a number) by pandas."""
    from gmoda_assets.synthetic.synthesiser import as_numbers

    for values in ([3300, None, 2490, np.nan, 4.5, 0], [None, None], ["12", None, 3, "twelve"], []):
        column = pd.Series(values, dtype=object)
        np.testing.assert_array_equal(as_numbers(column), pd.to_numeric(column, errors="coerce").to_numpy(dtype=float))


def test_rows_have_one_code_in_every_frame_when_they_are_equal():
    """``row_codes`` gives two rows, of one frame or of two, the same code exactly when their values are equal in
    every column as Python compares them (missing values all alike), as tuples of the values would; with enough
    columns of many values that the codes are numbered again on the way, so that they cannot overflow."""
    from gmoda_assets.synthetic.synthesiser import row_codes

    rng = np.random.default_rng(4)
    size = 3000
    columns = {f"c{i}": rng.integers(0, 40, size).astype(object) for i in range(14)}  # 41^14 codes: past 2^63
    columns["c0"][rng.random(size) < 0.1] = None
    columns["c1"][rng.random(size) < 0.1] = np.nan
    first = pd.DataFrame(columns)
    second = first.sample(frac=1, random_state=5).reset_index(drop=True)
    second.loc[:999, "c2"] = second.loc[:999, "c2"].map(lambda v: v + 1000)  # a third of its rows not in first
    second["c3"] = second["c3"].map(float)  # 3.0 equals 3
    for names in (list(first.columns), ["c0", "c1"], []):
        codes = np.concatenate(row_codes([first, second], names))
        keys = [tuple(None if pd.isna(v) else v for v in row) for frame in (first, second)
                for row in frame[names].itertuples(index=False)]
        assert (pd.factorize(codes)[0] == pd.factorize(pd.Series(keys, dtype=object))[0]).all()  # the same groups

def test_smoothing_bandwidths_are_silvermans_leaf_by_leaf():
    """Every leaf's bandwidth at once is exactly what ``np.std`` and ``np.percentile`` give over each leaf's known
    real values (leaves of one value, or none, 0; synthetic rows in a leaf no real row reached, 0), on numbers that
    round (weights, fractions) and on ties."""
    from gmoda_assets.synthetic.synthesiser import _bandwidths

    rng = np.random.default_rng(5)
    weights, fractions = np.round(rng.normal(3300, 550, 4000), -1), rng.normal(0, 1, 4000) / 7
    ties = rng.integers(0, 4, 4000)
    for values in (weights, fractions, ties * 1.0):
        real = np.where(rng.random(4000) < 0.1, np.nan, values)
        leaves_real = rng.integers(0, 600, 4000)
        leaves_synthetic = rng.integers(0, 620, 3000)
        expected = np.zeros(len(leaves_synthetic))
        for leaf in np.unique(leaves_synthetic):
            held = real[(leaves_real == leaf) & ~np.isnan(real)]
            if len(held) > 1:
                spread = min(held.std(ddof=1), np.subtract(*np.percentile(held, [75, 25])) / 1.34) or held.std(ddof=1)
                expected[leaves_synthetic == leaf] = 0.9 * spread * len(held) ** -0.2
        assert (expected == 0).any() and (expected > 0).any()
        np.testing.assert_array_equal(_bandwidths(real, leaves_real, leaves_synthetic), expected)


def test_each_council_keeps_its_rates(real, split):
    training, _, synthetic = split
    rates = utility.key_rates(training, synthetic, "council", RATES, z=3, floor=0.02)
    assert rates.within.all(), rates
    gld = rates[rates.rate == "gld"].set_index("council").synthetic
    assert gld["A"] > gld["B"] > gld["C"]  # the areas stay apart
    # A synthesiser that ignores the areas (one model for all) loses them.
    pooled = synthesise(training.assign(council="all"), "council", VARIABLES, seed=3).assign(council=training.council.sample(
        frac=1, random_state=1).to_numpy())
    assert not utility.key_rates(training, pooled, "council", RATES, z=3, floor=0.02).within.all()


def test_exact_copies_are_removed(real):
    doubled = pd.concat([real.head(50), synthesise(real, "council", VARIABLES, seed=5)], ignore_index=True)
    assert risk.exact_copies(doubled, real, list(real.columns)) >= 50
    kept, removed = without_copies(doubled, real, list(real.columns))
    assert removed >= 50 and len(kept) == len(doubled) - removed
    assert risk.exact_copies(kept, real, list(real.columns)) == 0


def test_utility_measures_tell_a_good_synthesis_from_a_bad_one(split):
    training, holdout, synthetic = split
    shuffled = synthetic.apply(lambda c: c.sample(frac=1, random_state=2).to_numpy())  # relationships broken
    shuffled["council"] = synthetic.council
    good, bad = utility.pmse(training, synthetic, MEASURED), utility.pmse(training, shuffled, MEASURED)
    assert good["pmse_ratio"] < 1.5 < bad["pmse_ratio"]
    assert utility.discriminator_auc(training, synthetic, MEASURED) < 0.65 < utility.discriminator_auc(
        training, shuffled, MEASURED)
    distances = utility.marginal_distances(training, synthetic, "council", VARIABLES)
    assert distances.tv_ratio.max() < 3
    skewed = synthetic.assign(sex="female")
    assert utility.marginal_distances(training, skewed, "council", VARIABLES).tv_ratio.max() > 4
    predictors = [v for v in VARIABLES if v.name != "gld"]
    tstr = utility.train_synthetic_test_real(training, holdout, synthetic, RATES[0], predictors)
    assert tstr["auc_ratio"] > 0.85 and tstr["auc_real_trained"] > 0.55
    noise = synthetic.assign(gld=np.random.default_rng(0).random(len(synthetic)) < 0.6)
    assert utility.train_synthetic_test_real(training, holdout, noise, RATES[0], predictors)["auc_ratio"] < 0.75


def test_nearest_records_are_the_nearest_over_the_whole_design_matrix(split):
    """The search sets the ward apart from the design matrix: each query's distance is still that of its nearest
    row over every column (to rounding: the ward's term is added last), whether its ward is missing, unknown to
    the training rows or its own, and a copy is exactly 0 away."""
    from scipy.spatial.distance import cdist

    training, holdout, synthetic = split
    queries = pd.concat([synthetic.iloc[:150], training.iloc[:50],  # copies: 0 away
                         synthetic.iloc[150:200].assign(ward="unseen"), synthetic.iloc[200:250].assign(ward=None)],
                        ignore_index=True)
    for points, skip_self in ((training, False), (holdout, False), (queries, True)):
        brute = cdist(utility.design_matrix(queries, MEASURED, training),
                      utility.design_matrix(points, MEASURED, training), "sqeuclidean")
        if skip_self:
            np.fill_diagonal(brute, np.inf)
        found = risk._nearest(risk._Rows(points, MEASURED, training), risk._Rows(queries, MEASURED, training),
                              skip_self=skip_self, chunk=64)
        np.testing.assert_allclose(found, np.sqrt(brute.min(axis=1)), rtol=1e-12, atol=0)
    assert (risk._nearest(risk._Rows(training, MEASURED, training), risk._Rows(queries, MEASURED, training))[150:200]
            == 0).all()


def test_every_risk_measure_fails_on_a_copy_of_the_real_rows(split):
    training, holdout, synthetic = split
    copy = training.copy()
    assert risk.exact_copies(copy, training, list(training.columns)) == len(training)
    made, copied = (risk.distance_to_closest_record(s, training, holdout, MEASURED, sample=500)
                    for s in (synthetic, copy))
    assert copied["dcr_excess"] > 0.9 and made["dcr_excess"] < 0.5
    assert copied["dcr_median_synthetic"] == 0
    uniques = risk.replicated_uniques(copy, training, KEYS)
    assert uniques["replicated_unique_share"] == pytest.approx(uniques["real_unique_share"])
    assert uniques["replicated_unique_share"] > 0.02
    assert risk.replicated_uniques(synthetic, training, KEYS)["replicated_unique_share"] < 0.5 * uniques[
        "replicated_unique_share"]
    released = synthetic[~risk.replicated_unique_rows(synthetic, training, KEYS)]  # as the release is
    disclosed, safe = (risk.attribute_disclosure(s, training, KEYS, "fsm", by="council") for s in (copy, released))
    assert disclosed["tcap"] == 1 and disclosed["excess"] > 0.1
    assert safe["excess"] < 0.05 and safe["real_rows_matched"] > 0
    # Removing the replicated uniques leaves none.
    kept = copy[~risk.replicated_unique_rows(copy, training, KEYS)]
    assert len(kept) < len(copy) and risk.replicated_uniques(kept, training, KEYS)["replicated_uniques"] == 0
