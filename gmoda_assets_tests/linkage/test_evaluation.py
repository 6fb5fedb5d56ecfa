"""The evaluation arithmetic on a small hand-made case: pairwise precision and recall, overall and per pair
of partners."""

import duckdb
import pytest

from gmoda_assets.linkage.evaluation import by_partner_pair, pairwise

# Truth: A = {1, 2, 3}, B = {4, 5}. The linkage: X = {1, 2}, Y = {3, 4, 5}.
RECORDS = [(1, "A", 10, "nhs"), (2, "A", 10, "council"), (3, "A", 20, "council"), (4, "B", 20, "nhs"),
           (5, "B", 20, "police")]
LABELLED = "SELECT true_person, person, class FROM labelled"


@pytest.fixture
def duck():
    duck = duckdb.connect()
    duck.execute("CREATE TABLE labelled (record INTEGER, true_person VARCHAR, person BIGINT, class VARCHAR)")
    duck.executemany("INSERT INTO labelled VALUES (?, ?, ?, ?)", RECORDS)
    return duck


def test_pairwise_precision_and_recall(duck):
    # Linked pairs: (1,2) (3,4) (3,5) (4,5); true pairs: (1,2) (1,3) (2,3) (4,5); both share (1,2) and (4,5).
    assert pairwise(duck, LABELLED) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "pairs": 4, "true_pairs": 4,
                                        "true_positive_pairs": 2}


def test_per_partner_pair(duck):
    found = by_partner_pair(duck, LABELLED)
    assert found["council-nhs"] == {"precision": 0.5, "recall": 0.5, "pairs": 2, "true_pairs": 2}  # (1,2) (3,4) | (1,2) (1,3)
    assert found["nhs-police"] == {"precision": 1.0, "recall": 1.0, "pairs": 1, "true_pairs": 1}  # (4,5)
    assert found["council-police"] == {"precision": 0.0, "recall": None, "pairs": 1, "true_pairs": 0}  # (3,5)
    assert found["council-council"] == {"precision": None, "recall": 0.0, "pairs": 0, "true_pairs": 1}  # (2,3)
