"""Roles and grants (sql/040_roles.sql), proved by connecting as login roles in each group and as the platform's
own steps do (the administrator's login acting as the group from connection start): analysts read synthetic and
mart only; the loader appends to raw and the ledger and reads nothing later; the transformer reads raw and builds
staging onward; nobody but the administrator updates or deletes a raw row; only the groups reach the database.
The probe tables are created after sql/ ran, as the administrator, so they are covered only by default
privileges, as every table the platform creates later is."""

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

from gmoda_assets.lib import database
from gmoda_assets.lib.quality import CheckDef, expectation, validate_in_postgres
from gmoda_assets.resources import Warehouse

SCHEMAS = ("raw", "staging", "conformed", "linked", "synthetic", "model", "signposting", "mart", "ops")
PROBE = "test_roles_probe"
# What each group may SELECT from; every other schema must refuse it.
READS = {
    "gmoda_analyst": {"synthetic", "mart"},
    "gmoda_loader": {"raw", "ops"},
    "gmoda_transformer": set(SCHEMAS),
}
LOGINS = {group: f"test_roles_{group.removeprefix('gmoda_')}" for group in READS}
NOBODY = "test_roles_nobody"  # a login in no gmoda group


@pytest.fixture(scope="module")
def probes(warehouse_url) -> Iterator[str]:
    """A probe table (with a sequence) in every schema and a login role in every group; all removed after."""
    database.apply_sql(warehouse_url)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for login, group in ((v, k) for k, v in LOGINS.items()):
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {group}")
        conn.execute(f"DROP ROLE IF EXISTS {NOBODY}")
        conn.execute(f"CREATE ROLE {NOBODY} LOGIN")
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
            conn.execute(f"DROP ROLE {NOBODY}")


def connect_as(url: str, group: str, via: str = "login") -> psycopg.Connection:
    """A real connection over the embedded server's Unix socket (trusted locally): as the group's test login, or
    (``via="platform"``) as the platform's steps connect, the administrator's login acting as the group."""
    if via == "platform":
        return psycopg.connect(database.as_role(url, group), autocommit=True)
    return psycopg.connect(url, user=LOGINS[group], autocommit=True)


VIAS = ["login", "platform"]


def _admin_count(url: str, table: str) -> tuple[int]:
    """The rows of a table the platform created at set-up, as the administrator sees them: a group that may read
    the table sees every one of them."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))).fetchone()


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
            assert conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone() == _admin_count(probes, "raw.nhs__births")
            with pytest.raises(errors.InsufficientPrivilege):  # raw tables are the administrator's, made at set-up
                conn.execute("CREATE TABLE raw.test_roles_by_loader (x int)")
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
        assert conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone() == _admin_count(probes, "raw.nhs__births")
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


# Every way to change or remove what a raw table holds, besides appending.
RAW_WRITES = [
    "UPDATE raw.{t} SET {c} = {c}",
    "DELETE FROM raw.{t}",
    "TRUNCATE raw.{t}",
    "DROP TABLE raw.{t}",
    "ALTER TABLE raw.{t} ADD COLUMN changed text",
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("group", ["gmoda_loader", "gmoda_transformer"])
def test_nobody_but_the_administrator_updates_or_deletes_raw(probes, group, via):
    drop = "nhs.births/test_roles.csv@0123456789ab"
    with connect_as(probes, "gmoda_loader", via) as conn, conn.transaction():  # a drop's own table, as a load makes it
        drop_table, number = conn.execute("SELECT * FROM ops.new_drop_table('nhs__births', %s)", (drop,)).fetchone()
        conn.execute(sql.SQL("INSERT INTO {} DEFAULT VALUES").format(sql.Identifier("raw", drop_table)))
    try:
        with connect_as(probes, group, via) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == (group if via == "platform" else LOGINS[group])
            # a feed's table, the table of one of its drops, and a table holding a row
            for table, column in (("nhs__births", "_drop"), (drop_table, "_drop"), (PROBE, "v")):
                for statement in RAW_WRITES + ([] if group == "gmoda_loader" else ["INSERT INTO raw.{t} ({c}) SELECT {c} FROM raw.{t}"]):
                    with pytest.raises(errors.InsufficientPrivilege):
                        conn.execute(statement.format(t=table, c=column))
            if group != "gmoda_loader":  # only loads make a drop's table
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute("SELECT ops.new_drop_table('nhs__births', 'nhs.births/other.csv@0123456789ac')")
        with psycopg.connect(probes) as conn:
            assert conn.execute(f"SELECT v FROM raw.{PROBE} WHERE v = 'seed'").fetchall() == [("seed",)]
            assert conn.execute("SELECT count(*) FROM raw.nhs__births WHERE _drop = %s", (number,)).fetchone() == (1,)
            owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'raw'").fetchall()
            assert owners == [(conn.info.user,)]  # the administrator's: no group owns (so may rewrite) a raw table
    finally:
        with psycopg.connect(probes, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("raw", drop_table)))


@pytest.mark.parametrize("via", VIAS)
def test_loader_reads_nothing_past_raw(probes, via):
    with connect_as(probes, "gmoda_loader", via) as conn:
        for table in ("staging.test_roles_linkage_features", f"staging.{PROBE}", "conformed.dim_date",
                      "conformed.fact_births", f"linked.{PROBE}"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")


@pytest.mark.parametrize("via", VIAS)
def test_analyst_reads_no_raw_staging_conformed_or_linked(probes, via):
    with connect_as(probes, "gmoda_analyst", via) as conn:
        for table in ("raw.nhs__births", f"staging.{PROBE}", "staging.test_roles_linkage_features",
                      "conformed.dim_geography", "conformed.fact_early_years_outcomes", f"linked.{PROBE}"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
        assert conn.execute(f"SELECT v FROM mart.{PROBE}").fetchall() == [("seed",)]


def test_only_the_groups_reach_the_database_and_only_the_transformer_makes_temp_tables(probes):
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(probes, user=NOBODY).close()  # PUBLIC may not connect
    for group in ("gmoda_loader", "gmoda_analyst"):  # they connect through their group; PUBLIC's TEMP is gone
        with connect_as(probes, group) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TEMP TABLE test_roles_temp (x int)")
    with connect_as(probes, "gmoda_transformer") as conn, conn.transaction():  # staging's ON COMMIT DROP tables
        conn.execute("CREATE TEMP TABLE test_roles_temp (x int) ON COMMIT DROP")


def test_platform_steps_act_as_their_role(warehouse_url):
    """The Warehouse resource acts as the transformer unless a step asks for the loader, in psycopg and in the
    Great Expectations validations (SQLAlchemy with psycopg2); options already in the URL are kept."""
    with Warehouse().connect() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "gmoda_transformer"
    with Warehouse().as_role(database.LOADER).connect() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "gmoda_loader"
    timed = database.as_role(f"{warehouse_url}&options=-c%20statement_timeout%3D4321", database.LOADER)
    with psycopg.connect(timed) as conn:
        assert conn.execute("SELECT current_user, current_setting('statement_timeout')").fetchone() == ("gmoda_loader", "4321ms")
    acts_as = CheckDef("acts_as", "", [expectation("expect_column_values_to_be_in_set", column="who",
                                                   value_set=["gmoda_transformer"])])
    [result] = validate_in_postgres(Warehouse().sqlalchemy_url, "SELECT current_user::text AS who", [acts_as],
                                    ["test", "roles"])
    assert result.passed, result.metadata["results"].value


def test_a_contract_column_raw_lacks_stops_the_load_until_set_up(platform, warehouse_url, simulated_month, tmp_path):
    """The loader cannot alter raw, so a contract that gained a column fails the load, naming the column and
    `gmoda db init`, and loads nothing; once set-up has added the column the same drop loads."""
    from gmoda_assets.cli import _setup_warehouse
    from gmoda_assets.ingest.drops import Drop
    from gmoda_assets.ingest.loader import RawTableOutdated, load_drop
    from gmoda_assets.lib import settings
    from gmoda_assets_tests.helpers import contract_of, copy_drops, file_rows

    [path] = copy_drops(simulated_month, settings.landing_dir(), ["stockport_homes"])[:1]
    contract = contract_of(path)
    column = contract.columns[-1]
    drop_id = Drop(contract.partner, path.name, contract.feed_id, platform.sha256(contract.partner, path.name)).drop_id
    loader = Warehouse().as_role(database.LOADER)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:  # as an older contract made it
        conn.execute(f"ALTER TABLE raw.{contract.raw_table} DROP COLUMN {column.db_name}")
    try:
        with loader.connect(autocommit=True) as conn:
            with pytest.raises(RawTableOutdated, match=rf"lacks column\(s\) {column.name} .*`gmoda db init`"):
                load_drop(conn, platform, contract, drop_id)
            assert conn.execute("SELECT count(*) FROM ops.drops").fetchone()[0] == 0
            assert conn.execute(f"SELECT count(*) FROM raw.{contract.raw_table}").fetchone()[0] == 0
    finally:
        _setup_warehouse()
    with loader.connect(autocommit=True) as conn:
        assert load_drop(conn, platform, contract, drop_id).rows_loaded == file_rows(path)
        assert conn.execute("SELECT processed_by FROM ops.drops WHERE drop_id = %s", (drop_id,)).fetchone()[0] == "gmoda_loader"


def test_set_up_mends_an_older_install(probes):
    """What an older version left (UPDATE on raw for the loader, a raw table a group owns, tables past raw that
    the administrator owns, PUBLIC reaching the database) is mended by applying sql/ again."""
    from psycopg import sql

    with psycopg.connect(probes, autocommit=True) as conn:
        conn.execute("GRANT UPDATE ON ALL TABLES IN SCHEMA raw TO gmoda_loader")
        conn.execute("CREATE TABLE raw.test_roles_old (v text)")
        conn.execute("INSERT INTO raw.test_roles_old VALUES ('as delivered')")
        conn.execute("ALTER TABLE raw.test_roles_old OWNER TO gmoda_loader")
        conn.execute("CREATE TABLE conformed.test_roles_old (v text)")
        conn.execute(sql.SQL("GRANT CONNECT, TEMP ON DATABASE {} TO PUBLIC").format(sql.Identifier(conn.info.dbname)))
    try:
        database.apply_sql(probes)
        with connect_as(probes, "gmoda_loader") as conn:
            for table, column in (("nhs__births", "_drop"), ("test_roles_old", "v")):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(f"UPDATE raw.{table} SET {column} = {column}")
            assert conn.execute("SELECT v FROM raw.test_roles_old").fetchall() == [("as delivered",)]
            conn.execute("INSERT INTO raw.test_roles_old VALUES ('appended')")
        with connect_as(probes, "gmoda_transformer", "platform") as conn:
            conn.execute("DROP TABLE conformed.test_roles_old")  # the transformer's now, to rebuild
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(probes, user=NOBODY).close()
    finally:
        with psycopg.connect(probes, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS raw.test_roles_old, conformed.test_roles_old")
