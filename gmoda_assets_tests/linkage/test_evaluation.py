"""The evaluation arithmetic on a small hand-made case: pairwise precision and recall, overall and per pair
of partners."""

import duckdb
import pytest

from gmoda_assets.linkage.evaluation import by_partner_pair, clusters, measures, pairwise

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
    assert found["council-nhs"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "pairs": 2,
                                     "true_pairs": 2}  # (1,2) (3,4) | (1,2) (1,3)
    assert found["nhs-police"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "pairs": 1,
                                    "true_pairs": 1}  # (4,5)
    assert found["council-police"] == {"precision": 0.0, "recall": None, "f1": None, "pairs": 1,
                                        "true_pairs": 0}  # (3,5)
    assert found["council-council"] == {"precision": None, "recall": 0.0, "f1": None, "pairs": 0,
                                         "true_pairs": 1}  # (2,3)


def test_clusters_found_exactly(duck):
    # Neither X = {1, 2} nor Y = {3, 4, 5} is a true person; add C = {6} found as Z = {6}, and D = {7, 8} as W.
    duck.executemany("INSERT INTO labelled VALUES (?, ?, ?, ?)",
                     [(6, "C", 30, "nhs"), (7, "D", 40, "nhs"), (8, "D", 40, "council")])
    assert clusters(duck, LABELLED) == {"precision": 0.5, "recall": 0.5, "people": 4, "true_people": 4}
    # Among NHS and council records only, B is {4} and Y is {3, 4}: still no match; C and D are found.
    scoped = measures(duck, LABELLED)["council-nhs"]["clusters"]
    assert scoped == {"precision": 0.5, "recall": 0.5, "people": 4, "true_people": 4}
    assert measures(duck, LABELLED)["all"]["f1"] == pytest.approx(2 * 0.6 * 0.6 / 1.2)
