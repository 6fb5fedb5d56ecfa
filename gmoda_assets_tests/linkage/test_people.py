"""People from scored pairs, on a hand-made case: the strongest links first, never two NHS numbers in one person,
and reviewers' decisions overruling the model."""

import duckdb
import pytest

from gmoda_assets.linkage import engine

# Profiles (one record each): NHS children A and B share a name and a date of birth; C, a council record with no
# NHS number, scores with both (A higher); D, another council record, with C.
PROFILES = [(1, 1, 111), (2, 2, 222), (3, 3, None), (4, 4, None)]
PAIRS = [(1, 3, 0.95), (2, 3, 0.9), (3, 4, 0.85), (1, 2, 0.2)]


@pytest.fixture
def duck():
    duck = duckdb.connect()
    duck.execute("CREATE TABLE profiles (unique_id BIGINT, exact_group BIGINT, nhs_number_pseudonym UBIGINT)")
    duck.executemany("INSERT INTO profiles VALUES (?, ?, ?)", PROFILES)
    duck.execute(f"CREATE TABLE {engine.RECORDS} AS SELECT 'f' AS feed_id, unique_id AS profile_id, exact_group, "
                 f"['a', 'b', 'c', 'd'][unique_id] AS record_key FROM profiles")
    duck.execute("CREATE TABLE predictions (unique_id_l BIGINT, unique_id_r BIGINT, match_probability DOUBLE)")
    duck.executemany("INSERT INTO predictions VALUES (?, ?, ?)", PAIRS)
    return duck


def _people(duck) -> list[set[str]]:
    found = duck.execute(f"SELECT list(record_key ORDER BY record_key) FROM {engine.RESULT} GROUP BY cluster_id").fetchall()
    return sorted((set(r[0]) for r in found), key=min)


def test_a_person_never_holds_two_nhs_numbers(duck):
    # C joins A (its stronger link); joining B too would give one person two NHS numbers.
    figures = engine.people(duck, 0.8)
    assert _people(duck) == [{"a", "c", "d"}, {"b"}]
    assert figures["links_refused_two_nhs_numbers"] == 1
    probabilities = dict(duck.execute(f"SELECT record_key, match_probability FROM {engine.RESULT}").fetchall())
    assert probabilities == {"a": 0.95, "b": None, "c": 0.95, "d": 0.85}


def test_decisions_overrule_the_model(duck):
    # A reviewer says C is not A: C then joins B. Another accepts B with D, which the model scored not at all.
    duck.execute("CREATE TABLE decisions AS SELECT * FROM (VALUES ('a', 'c', 'reject'), ('b', 'd', 'accept')) "
                 "AS d (record_key_l, record_key_r, decision)")
    figures = engine.people(duck, 0.8, decisions="decisions")
    assert _people(duck) == [{"a"}, {"b", "c", "d"}]
    assert figures["decisions_accepted"] == figures["decisions_rejected"] == 1


def test_a_rejected_pair_other_links_join_is_set_apart(duck):
    # A reviewer says A (two records) is not D; they have no link of their own, but C joins them. The side with
    # fewer records, D, loses its links and stands alone.
    duck.execute(f"INSERT INTO {engine.RECORDS} VALUES ('f', 1, 1, 'a2')")
    duck.execute("CREATE TABLE decisions AS SELECT 'a' AS record_key_l, 'd' AS record_key_r, 'reject' AS decision")
    figures = engine.people(duck, 0.8, decisions="decisions")
    assert _people(duck) == [{"a", "a2", "c"}, {"b"}, {"d"}]
    assert figures["rejections_isolating"] == 1
