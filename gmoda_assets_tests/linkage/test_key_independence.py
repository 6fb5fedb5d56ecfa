"""The same drops give the same people under any pseudonymisation key.

Every new platform home generates a new key, so a linkage that depended on the key would find other people in the
same drops. The simulated month is linked twice: under the warehouse's own key, and as another key would have
pseudonymised it. All the linkage can see of a pseudonym is which others it equals and how it sorts, so the second
key is every pseudonym, record keys included, keyed again under a second secret: equal where they were equal,
sorting in an unrelated order, as under a new key, without staging the month again.
"""

from __future__ import annotations

import duckdb
from psycopg import sql

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.linkage import engine, records
from gmoda_assets.linkage.config import linkage_config
from gmoda_assets.resources import Warehouse


def _keyed(column: str, key: str | None) -> sql.Composable:
    """``column``'s pseudonyms under ``key`` (none: the warehouse's own)."""
    if key is None:
        return sql.Identifier(column)
    return sql.SQL("md5({} || {})").format(sql.Literal(key), sql.Identifier(column))


def _link(conn, config, key: str | None):
    """The month's linkage under ``key``, its people and its scored pairs, records named by where they were
    delivered (drop and row), which no key changes."""
    columns = records.record_columns(config)
    keyed = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(_keyed(c, key) if c == "record_key" or c.endswith("_pseudonym")
                                   else sql.Identifier(c), sql.Identifier(c)) for c in columns)
    duck = duckdb.connect()
    records.load_records(conn, duck, config, sql.SQL("SELECT {} FROM ({}) AS r").format(
        keyed, records.records_query(config)))
    linkage = engine.link(duck, config)
    delivered = {}
    for contract in feed_contracts():
        for record_key, drop, row in conn.execute(sql.SQL("SELECT {}, _drop_id, _row_number FROM {}").format(
                _keyed("record_key", key), sql.Identifier("staging", staging_table(contract)))):
            delivered[contract.feed_id, record_key] = (drop, row)
    people = {}
    placed = duck.execute(f"SELECT feed_id, record_key, cluster_id FROM {engine.RESULT}").fetchall()
    for feed, record_key, person in placed:
        people.setdefault(person, set()).add(delivered[feed, record_key])
    # Each scored pair of profiles, by the first record of each (as the review queue names them), with its score.
    scored = duck.execute(f"""
        WITH first AS (SELECT profile_id, arg_min(feed_id, record_id) AS feed_id,
                              arg_min(record_key, record_id) AS record_key FROM {engine.RECORDS} GROUP BY profile_id)
        SELECT l.feed_id, l.record_key, r.feed_id, r.record_key, p.match_probability FROM predictions p
        JOIN first l ON l.profile_id = p.unique_id_l JOIN first r ON r.profile_id = p.unique_id_r""").fetchall()
    pairs = {(frozenset((delivered[fl, kl], delivered[fr, kr])), score) for fl, kl, fr, kr, score in scored}
    return linkage, {frozenset(p) for p in people.values()}, pairs


def test_the_same_drops_give_the_same_people_under_any_key(staged_month):
    config = linkage_config()
    with Warehouse().connect() as conn:
        own, own_people, own_pairs = _link(conn, config, None)
        other, other_people, other_pairs = _link(conn, config, "another key, another platform home")
    # Not a trivial linkage: people of several records, some joined by the model.
    assert own.figures["people"] < own.figures["records"] and own.figures["records_by_method"]["probabilistic"] > 0
    assert other_people == own_people
    assert other_pairs == own_pairs
    assert other.figures == own.figures
    # Every m and u, and the probability that two random records match; not the random name Splink gives its linker.
    trained = lambda model: {k: v for k, v in model.items() if k != "linker_uid"}  # noqa: E731
    assert trained(other.model) == trained(own.model)
