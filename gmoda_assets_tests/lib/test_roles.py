"""Roles and grants (sql/040_roles.sql), proved by connecting as login roles in each group: analysts read
synthetic and mart only; the loader writes raw and ops and reads nothing later; the transformer reads raw and
builds staging onward. The probe tables are created after sql/ ran, as the platform's own user, so they are
covered only by default privileges, as every table the platform creates later is."""

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from gmoda_assets.lib import database

SCHEMAS = ("raw", "staging", "conformed", "linked", "synthetic", "model", "signposting", "mart", "ops")
PROBE = "test_roles_probe"
# What each group may SELECT from; every other schema must refuse it.
READS = {
    "gmoda_analyst": {"synthetic", "mart"},
    "gmoda_loader": {"raw", "ops"},
    "gmoda_transformer": set(SCHEMAS),
}
LOGINS = {group: f"test_roles_{group.removeprefix('gmoda_')}" for group in READS}


@pytest.fixture(scope="module")
def probes(warehouse_url) -> Iterator[str]:
    """A probe table (with a sequence) in every schema and a login role in every group; all removed after."""
    database.apply_sql(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for login, group in ((v, k) for k, v in LOGINS.items()):
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {group}")
        for schema in SCHEMAS:
            conn.execute(f"CREATE TABLE {schema}.{PROBE} (id bigserial PRIMARY KEY, v text)")
            conn.execute(f"INSERT INTO {schema}.{PROBE} (v) VALUES ('seed')")
        # Stands in for the linkage features, which only the linkage step (a transformer) reads.
        conn.execute("CREATE TABLE staging.test_roles_linkage_features (person_key text, soundex text)")
        try:
            yield warehouse_url
        finally:
            for schema in SCHEMAS:
                conn.execute(f"DROP TABLE IF EXISTS {schema}.{PROBE}")
            conn.execute("DROP TABLE IF EXISTS staging.test_roles_linkage_features")
            for login in LOGINS.values():
                conn.execute(f"DROP OWNED BY {login}")  # anything a failed test left behind
                conn.execute(f"DROP ROLE {login}")


def connect_as(url: str, group: str) -> psycopg.Connection:
    """A real login, over the embedded server's Unix socket (trusted locally), as the group's test login."""
    return psycopg.connect(url, user=LOGINS[group], autocommit=True)


@pytest.mark.parametrize("group", sorted(READS))
def test_each_group_reads_only_its_layers(probes, group):
    with connect_as(probes, group) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == LOGINS[group]
        for schema in SCHEMAS:
            if schema in READS[group]:
                assert conn.execute(f"SELECT v FROM {schema}.{PROBE}").fetchall() == [("seed",)], schema
            else:
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(f"SELECT v FROM {schema}.{PROBE}")


def test_analyst_cannot_read_raw_staging_or_the_ledger(probes):
    with connect_as(probes, "gmoda_analyst") as conn:
        for table in ("raw.nhs__births", "raw.gmp__incidents", "staging.test_roles_linkage_features", "ops.drops"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE mart.test_roles_by_analyst (x int)")


def test_loader_writes_raw_and_ops_only(probes):
    drop = "nhs.births/test_roles.csv@000000000000"
    upsert = ("INSERT INTO ops.drops (drop_id, partner, feed_id, file_name, content_hash, size_bytes, status, "
              "rows_delivered, rows_loaded, rows_quarantined) VALUES (%s, 'nhs', 'nhs.births', 'test_roles.csv', "
              "'0', 0, 'loaded', 0, 0, 0) ON CONFLICT (drop_id) DO UPDATE SET dagster_run_id = 'again'")
    try:
        with connect_as(probes, "gmoda_loader") as conn:
            for schema in ("raw", "ops"):  # the id comes from a sequence the platform created: usable too
                conn.execute(f"INSERT INTO {schema}.{PROBE} (v) VALUES ('loaded')")
            conn.execute(upsert, (drop,))
            conn.execute(upsert, (drop,))  # the ledger's upsert needs UPDATE as well
            assert conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone()[0] >= 0
            conn.execute("CREATE TABLE raw.test_roles_by_loader (x int)")
            conn.execute("DROP TABLE raw.test_roles_by_loader")
            for schema in ("staging", "mart"):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(f"INSERT INTO {schema}.{PROBE} (v) VALUES ('loaded')")
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM staging.test_roles_linkage_features")
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE staging.test_roles_by_loader (x int)")
    finally:
        with psycopg.connect(probes, autocommit=True) as conn:
            conn.execute("DELETE FROM ops.drops WHERE drop_id = %s", (drop,))
            for schema in ("raw", "ops"):
                conn.execute(f"DELETE FROM {schema}.{PROBE} WHERE v = 'loaded'")


def test_transformer_reads_raw_and_builds_staging_onward(probes):
    with connect_as(probes, "gmoda_transformer") as conn:
        assert conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone()[0] >= 0
        assert conn.execute("SELECT count(*) FROM staging.test_roles_linkage_features").fetchone()[0] == 0
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f"INSERT INTO raw.{PROBE} (v) VALUES ('changed')")  # raw is as delivered
        # Into tables the platform created ...
        conn.execute(f"INSERT INTO staging.{PROBE} (v) VALUES ('typed')")
        conn.execute(f"TRUNCATE mart.{PROBE}")
        conn.execute(f"INSERT INTO mart.{PROBE} (v) VALUES ('seed')")
        # ... and tables of its own, owned by the group so every transformer (and the analysts, in mart) can use them.
        conn.execute("SET ROLE gmoda_transformer")
        conn.execute("CREATE TABLE staging.test_roles_by_transformer AS SELECT v FROM raw.test_roles_probe")
        conn.execute("CREATE TABLE mart.test_roles_by_transformer AS SELECT count(*) AS n FROM staging.test_roles_by_transformer")
    try:
        with connect_as(probes, "gmoda_analyst") as conn:
            assert conn.execute("SELECT n FROM mart.test_roles_by_transformer").fetchone()[0] == 1
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT v FROM staging.test_roles_by_transformer")
    finally:
        with psycopg.connect(probes, autocommit=True) as conn:
            conn.execute("DROP TABLE staging.test_roles_by_transformer, mart.test_roles_by_transformer")
            conn.execute(f"DELETE FROM staging.{PROBE} WHERE v = 'typed'")
