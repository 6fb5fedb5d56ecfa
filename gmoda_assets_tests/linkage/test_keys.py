"""Stable person keys, on hand-made runs: who keeps a key, who gets a new one, and what is recorded as merged,
split or retired."""

import duckdb

from gmoda_assets.linkage import engine, keys


def _assign(previous: dict[str, int], clusters: dict[str, int], highest: int) -> tuple[dict[str, int], dict]:
    duck = duckdb.connect()
    duck.execute(f"CREATE TABLE {keys.PREVIOUS} (feed_id VARCHAR, record_key VARCHAR, person_key INTEGER)")
    duck.executemany(f"INSERT INTO {keys.PREVIOUS} VALUES ('f', ?, ?)", list(previous.items()))
    duck.execute(f"CREATE TABLE {engine.RESULT} (feed_id VARCHAR, record_key VARCHAR, cluster_id BIGINT, "
                 "match_probability DOUBLE, match_method VARCHAR)")
    duck.executemany(f"INSERT INTO {engine.RESULT} VALUES ('f', ?, ?, NULL, 'singleton')", list(clusters.items()))
    figures = keys.assign(duck, highest)
    given = dict(duck.execute(f"SELECT record_key, person_key FROM {keys.KEYED}").fetchall())
    before = dict(duck.execute(f"SELECT record_key, previous_person_key FROM {keys.KEYED}").fetchall())
    assert before == {r: previous.get(r) for r in clusters}
    return given, figures


def test_an_unchanged_linkage_keeps_every_key_whatever_the_clusters_are_numbered():
    previous = {"a": 7, "b": 7, "c": 3, "d": 9}
    given, figures = _assign(previous, {"a": 500, "b": 500, "c": 20, "d": 1}, highest=9)
    assert given == previous
    assert figures == {"people_kept": 3, "people_new": 0, "keys_merged": 0, "keys_split": 0, "keys_retired": 0}


def test_merge_split_new_and_retired():
    previous = {"a": 1, "b": 1, "c": 2, "d": 3, "e": 4, "f": 4, "g": 4, "h": 5}
    # a, b (key 1) and c (key 2) are now one person: the larger part's key, 1, wins and 2 is retired into it.
    # e, f (key 4) stay together while g leaves them: the larger part keeps 4, g gets the next new key.
    # i is new; h (key 5) is no longer in the data.
    given, figures = _assign(previous, {"a": 10, "b": 10, "c": 10, "d": 20, "e": 30, "f": 30, "g": 40, "i": 50},
                             highest=12)
    assert given == {"a": 1, "b": 1, "c": 1, "d": 3, "e": 4, "f": 4, "g": 13, "i": 14}
    assert figures == {"people_kept": 3, "people_new": 2, "keys_merged": 1, "keys_split": 1, "keys_retired": 1}


def test_a_tie_keeps_the_older_key_and_new_keys_never_reuse_a_retired_one():
    # Two people of one record each merge: the lower (older) key stays. Key 8 was retired by an earlier run
    # (the highest key ever given is 8), so the new person gets 9, not 3.
    given, _ = _assign({"a": 2, "b": 1}, {"a": 5, "b": 5, "c": 6}, highest=8)
    assert given == {"a": 1, "b": 1, "c": 9}
