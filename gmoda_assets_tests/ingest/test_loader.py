"""The loader's reading of a file: blank lines cost nothing, and what is hashed is what is copied; row numbers
count from one in every drop, each drop is a table of its own, and set-up gives raw tables what keeps the COPY
quick."""

import hashlib

import psycopg
import pytest
from dagster import AssetKey, materialize

from gmoda_assets.ingest.drops import Drop
from gmoda_assets.ingest.loader import ROW_NUMBER_CACHE, DropRejected, FileChanged, ensure_raw_table, load_drop
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import match_file
from gmoda_assets.resources import LocalLandingZone
from gmoda_assets_tests.helpers import contract_of, copy_drops


def _births(simulated_month):
    [path] = [p for p in copy_drops(simulated_month, settings.landing_dir(), ["nhs"]) if contract_of(p).feed == "births"]
    for other in path.parent.iterdir():
        if other != path:
            other.unlink()
    return path, path.read_bytes().splitlines(keepends=True)


def _deliver(path, day: int, body: list[bytes]) -> str:
    """Births rows ``body`` under the header of ``path``, delivered beside it on day ``day``: its drop id."""
    delivered = path.parent / f"GM_CHIS_Births_202510{day}.csv"
    delivered.write_bytes(b"".join([path.read_bytes().splitlines(keepends=True)[0], *body]))
    return Drop("nhs", delivered.name, "nhs.births", hashlib.sha256(delivered.read_bytes()).hexdigest()).drop_id


def test_blank_lines_are_counted_not_rejected(platform, instance, defs, warehouse_url, simulated_month):
    path, lines = _births(simulated_month)
    header, rows = lines[0], lines[1:101]
    # A quoted field may hold a blank line: that is data, not a blank line of the file.
    quoted = rows[7].decode().split(",")
    quoted[2] = '"Ann\n\nMarie"'
    rows[7] = ",".join(quoted).encode()
    # Blank lines between rows (empty, carriage return only, spaces) and three at the end, as exports leave them.
    path.write_bytes(b"".join([header, *rows[:10], b"\n", b"\r\n", *rows[10:50], b"   \n", *rows[50:], b"\n\n\n"]))
    # Header on line 1, rows 1-7 on lines 2-8, row 8 (quoted) on lines 9-11, rows 9-10 on 12-13, then blanks.
    expected_blanks = [14, 15, 56, 107, 108, 109]

    report = ingest_landing_zone(instance, defs, platform, ["nhs"])

    assert report.tally.failures == [] and report.tally.runs == 1
    meta = instance.get_latest_materialization_event(AssetKey(["raw", "nhs", "births"])).asset_materialization.metadata
    assert meta["rows_loaded"].value == 100 and meta["blank_lines_skipped"].value == 6
    assert meta["blank_line_numbers"].value == expected_blanks
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT rows_loaded, blank_lines FROM ops.drops").fetchone() == (100, 6)
        numbers, forename = conn.execute(
            "SELECT array_agg(_row_number ORDER BY _row_number), max(forename) FILTER (WHERE _row_number = 8) "
            "FROM raw.nhs__births").fetchone()
    assert numbers == list(range(1, 101)) and forename == "Ann\n\nMarie"


def test_blank_lines_are_found_and_numbered_wherever_the_reads_of_a_file_end():
    """The file is read in chunks, and a chunk without a blank line is passed through counting its lines and
    quotes without looking at each line: blank lines are numbered by the file's own lines, and left out, the same
    wherever the reads end (here every 1 to 97 bytes), in or out of quoted fields that hold line ends."""
    import io
    import random

    from gmoda_assets.ingest.loader import read_delivery

    contract = match_file("nhs", "GM_CHIS_Births_20251001.csv")
    draw = random.Random(7)
    lines = [b"a,b,c"]
    for row in range(400):
        kind = draw.random()
        if kind < 0.08:
            lines.append(draw.choice([b"", b"\r", b"   ", b" \t \r"]))  # a blank line
        elif kind < 0.16:
            lines.append(b'%d,"over\n\n  \nlines",x' % row)  # blank lines inside quotes are data
        else:
            lines.append(b"%d,%s,c" % (row, b" " * draw.randrange(3)))
    data = b"\n".join(lines) + b"\n\n"
    expected, kept, in_quotes = [], [], False
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        if not in_quotes and not line.strip(b" \t\r"):
            expected.append(number)
        else:
            kept.append(line + b"\n")
        in_quotes ^= line.count(b'"') % 2 == 1

    class ShortReads(io.BytesIO):
        def read(self, size=-1):
            return super().read(min(size, draw.randrange(1, 98)))

    spool = io.BytesIO()
    delivery = read_delivery(ShortReads(data), contract, spool)
    assert delivery.blank_lines == expected and len(expected) > 20
    assert spool.getvalue() == b"".join(kept)
    assert delivery.sha256 == hashlib.sha256(data).hexdigest()


def test_a_malformed_row_after_blank_lines_is_named_by_the_files_own_line(platform, instance, defs, simulated_month):
    path, lines = _births(simulated_month)
    header, rows = lines[0], lines[1:30]
    quoted = rows[2].decode().split(",")
    quoted[2] = '"Ann\n\nMarie"'
    rows[2] = ",".join(quoted).encode()
    rows[20] = rows[20].rsplit(b",", 1)[0] + b"\n"  # the 21st row lacks its last field
    path.write_bytes(b"".join([header, *rows[:10], b"\n\n", *rows[10:], b"\n"]))
    # Header 1, rows 1-2 on lines 2-3, row 3 on lines 4-6, rows 4-10 on lines 7-13, blanks 14-15: row 21 on line 26.

    report = ingest_landing_zone(instance, defs, platform, ["nhs"])

    [message] = report.tally.failures
    assert "malformed row: missing data for column" in message
    assert "(row 21, line 26, column 'GPPracticeCode')" in message


class GrowingLandingZone(LocalLandingZone):
    """A partner's transfer still appending to a file: a row is added when a reader reaches the end of the file
    (``grow="at_end"``) or after its first read (``grow="while_read"``). Counts the times the file is opened."""

    grow: str
    opened: list[str] = []

    def open(self, partner, name):
        stream = super().open(partner, name)
        path, grow, opened = self._path(partner, name), self.grow, self.opened
        opened.append(name)

        class Appending:
            def __init__(self):
                self.reads = 0

            def read(self, size=-1):
                data = stream.read(size)
                self.reads += 1
                if (grow == "at_end" and not data and len(opened) == 1) or (grow == "while_read" and self.reads == 1):
                    with path.open("ab") as more:
                        more.write(b"9999999999,4029255884,Late,Row,2020-01-01,1,3000,40,A,5623873782,30,M1 1AA,P86017\n")
                return data

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                stream.close()

        return Appending()


@pytest.mark.parametrize("grow", ["at_end", "while_read"])
def test_what_is_copied_is_what_the_drop_id_names(grow, platform, warehouse_url, simulated_month):
    path, lines = _births(simulated_month)
    contract = contract_of(path)
    drop = Drop("nhs", path.name, contract.feed_id, hashlib.sha256(path.read_bytes()).hexdigest())
    landing = GrowingLandingZone(root=str(settings.landing_dir()), quarantine_root=str(settings.quarantine_dir()),
                                 grow=grow, opened=[])

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        if grow == "at_end":
            # Rows appended once the file was read do not slip into the load: one read serves hash and COPY.
            outcome = load_drop(conn, landing, contract, drop.drop_id)
            assert outcome.rows_loaded == len(lines) - 1 and landing.opened == [path.name]
        else:
            # Rows appended during the read change the hash: nothing is loaded, and the run says why.
            with pytest.raises(FileChanged, match="has changed since it was registered"):
                load_drop(conn, landing, contract, drop.drop_id)
        loaded = conn.execute("SELECT count(*) FROM raw.nhs__births").fetchone()[0]
        recorded = conn.execute("SELECT count(*) FROM ops.drops").fetchone()[0]
    assert (loaded, recorded) == ((len(lines) - 1, 1) if grow == "at_end" else (0, 0))
    assert path.read_bytes().endswith(b"Late,Row,2020-01-01,1,3000,40,A,5623873782,30,M1 1AA,P86017\n")


def test_a_file_whose_short_hash_an_earlier_drop_shares_is_hashed_first_then_loaded_whole(platform, warehouse_url,
                                                                                           simulated_month):
    """A new file is copied as it is read; one whose drop id's hash an earlier drop of the feed starts with too (a
    re-delivery, or, once in 2^48, other content) is hashed before anything is copied. Other content is then
    loaded in full, the careful way, and a re-delivery recorded as a duplicate of the drop that holds it."""
    path, lines = _births(simulated_month)
    contract = contract_of(path)
    drop_id = _deliver(path, 20, lines[1:31])
    delivered = path.with_name("GM_CHIS_Births_20251020.csv")
    landing = GrowingLandingZone(root=str(settings.landing_dir()), quarantine_root=str(settings.quarantine_dir()),
                                 grow="never", opened=[])
    full_hash = hashlib.sha256(delivered.read_bytes()).hexdigest()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        # An earlier drop whose content's hash begins as this one's and differs after.
        conn.execute("INSERT INTO ops.drops (drop_id, partner, feed_id, file_name, content_hash, size_bytes, status, "
                     "rows_delivered, rows_loaded, rows_quarantined) VALUES ('nhs.births/other.csv@' || left(%s, 12), "
                     "'nhs', 'nhs.births', 'other.csv', %s, 1, 'loaded', 0, 0, 0)",
                     (full_hash, full_hash[:12] + "0" * 52 if full_hash[12:] != "0" * 52 else full_hash[:12] + "1" * 52))
        loaded = load_drop(conn, landing, contract, drop_id)
        opened_to_load = list(landing.opened)
        resent = _deliver(path, 21, lines[1:31])  # the same content under a later date's name
        duplicate = load_drop(conn, landing, contract, resent)
        numbers = conn.execute("SELECT array_agg(_row_number ORDER BY _row_number) FROM raw.nhs__births r "
                               "JOIN ops.drops d ON d.drop_number = r._drop WHERE d.drop_id = %s", (drop_id,)).fetchone()[0]
        recorded = conn.execute("SELECT drop_id, status, content_hash, rows_loaded, duplicate_of FROM ops.drops "
                                "WHERE drop_id IN (%s, %s) ORDER BY drop_id", (drop_id, resent)).fetchall()
    assert (loaded.status, loaded.rows_loaded, loaded.content_hash) == ("loaded", 30, full_hash)
    assert opened_to_load == [delivered.name, delivered.name]  # hashed, then read into the spool that is copied
    assert numbers == list(range(1, 31))
    assert (duplicate.status, duplicate.duplicate_of, duplicate.rows_delivered, duplicate.rows_loaded) == (
        "duplicate", drop_id, 30, 0)
    assert landing.opened[2:] == [resent.split("/")[1].split("@")[0]]  # a re-delivery: hashed, nothing copied
    assert recorded == [(drop_id, "loaded", full_hash, 30, None), (resent, "duplicate", full_hash, 0, drop_id)]


def test_row_numbers_count_from_one_whatever_another_session_drew(platform, warehouse_url, simulated_month):
    # Row numbers come from the feed's sequence in blocks that a session caches. A load longer than what is left of
    # its session's block, after another session drew the next block, must still number its rows 1, 2, 3, ...
    path, lines = _births(simulated_month)
    contract = contract_of(path)
    rows = lines[1:]
    longer_than_a_block = [rows[i % len(rows)] for i in range(ROW_NUMBER_CACHE + 500)]

    with psycopg.connect(warehouse_url, autocommit=True) as one, psycopg.connect(warehouse_url, autocommit=True) as two:
        load_drop(one, platform, contract, _deliver(path, 20, rows[:10]))  # one caches a block and uses a few of it
        load_drop(two, platform, contract, _deliver(path, 21, rows[10:20]))  # two draws the next block
        with pytest.raises(DropRejected, match="malformed row"):  # two draws again, then its COPY is rolled back
            load_drop(two, platform, contract, _deliver(path, 23, [*rows[20:40], b"ragged,row\n"]))
        long = load_drop(one, platform, contract, _deliver(path, 22, longer_than_a_block))
        numbers = {drop: numbers for drop, numbers in one.execute(
            "SELECT d.drop_id, array_agg(_row_number ORDER BY _row_number) FROM raw.nhs__births r "
            "JOIN ops.drops d ON d.drop_number = r._drop GROUP BY 1")}
    assert sorted(len(n) for n in numbers.values()) == [10, 10, len(longer_than_a_block)]
    assert all(n == list(range(1, len(n) + 1)) for n in numbers.values())
    assert numbers[long.drop_id] == list(range(1, len(longer_than_a_block) + 1))


@pytest.fixture
def older_births(warehouse_url):
    """For a test that remakes raw.nhs__births (and the ledger, and its function) as an older install had them:
    whatever happens, they are left after it as set-up makes them."""
    yield
    from gmoda_assets.lib import database

    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw.nhs__births, raw.nhs__births_older, raw.nhs__births__by_drop_id")
        database.apply_sql(warehouse_url)
        ensure_raw_table(conn, match_file("nhs", "GM_CHIS_Births_20251001.csv"))


def test_a_row_longer_than_a_page_is_loaded_whole(platform, warehouse_url, simulated_month):
    """A drop's table is made without TOAST (its text stored plain), which a row longer than a page (8 kB) needs:
    such a file is rolled back and loaded the careful way into a table that has it, every value whole."""
    path, lines = _births(simulated_month)
    contract = contract_of(path)
    fields = lines[1].decode().split(",")
    fields[2] = "A" * 10_000  # a forename no page holds uncompressed
    long_drop = _deliver(path, 20, [lines[2], ",".join(fields).encode(), lines[3]])
    usual_drop = _deliver(path, 21, lines[4:7])
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        assert load_drop(conn, platform, contract, long_drop).rows_loaded == 3
        assert load_drop(conn, platform, contract, usual_drop).rows_loaded == 3
        held = {(drop, row): kept for drop, row, *kept in conn.execute(
            "SELECT d.drop_id, r._row_number, length(r.forename), c.reltoastrelid <> 0 FROM raw.nhs__births r "
            "JOIN ops.drops d ON d.drop_number = r._drop JOIN pg_class c ON c.oid = r.tableoid")}
    forenames = [len(line.decode().split(",")[2]) for line in lines]  # each line's forename's length
    assert held == {(long_drop, 1): [forenames[2], True], (long_drop, 2): [10_000, True],
                    (long_drop, 3): [forenames[3], True],
                    **{(usual_drop, n): [forenames[3 + n], False] for n in (1, 2, 3)}}


def _rows_by_drop(conn, contract) -> list[tuple]:
    """Every row of the feed's raw table: its drop id (through the ledger, whichever key raw holds), row number and
    a digest of its delivered values."""
    key = "drop_id = r._drop_id" if conn.execute(
        "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'raw.nhs__births'::regclass AND attname = '_drop_id' "
        "AND NOT attisdropped)").fetchone()[0] else "drop_number = r._drop"
    values = ", ".join(f"r.{c.db_name}" for c in contract.columns)
    return conn.execute(f"SELECT d.drop_id, r._row_number, md5(row({values})::text) FROM raw.nhs__births r "
                        f"JOIN ops.drops d ON d.{key} ORDER BY 1, 2").fetchall()


def _drop_tables(conn) -> list[tuple]:
    """The drops' tables of raw.nhs__births: name, bound, file node (a rewrite or copy would change it)."""
    return conn.execute("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.relfilenode FROM pg_inherits i "
                        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'raw.nhs__births'::regclass "
                        "ORDER BY 1").fetchall()


def _as_one_table(conn, contract, *per_row: str) -> None:
    """raw.nhs__births as an older set-up made it, holding what it holds: one table for every drop, each row naming
    its drop by id (and ``per_row``, columns of the drop's ledger row, on every row)."""
    values = ", ".join(f"r.{c.db_name}" for c in contract.columns)
    with conn.transaction():
        conn.execute(f"CREATE TABLE raw.nhs__births_older AS SELECT {values}, d.drop_id AS _drop_id, r._row_number"
                     f"{''.join(f', d.{column} AS _{column}' for column in per_row)} "
                     "FROM raw.nhs__births r JOIN ops.drops d ON d.drop_number = r._drop")
        conn.execute("DROP TABLE raw.nhs__births")
        conn.execute("ALTER TABLE raw.nhs__births_older RENAME TO nhs__births")
        conn.execute("ALTER TABLE raw.nhs__births ALTER COLUMN _drop_id SET DEFAULT current_setting('gmoda.drop_id'), "
                     "ALTER COLUMN _row_number SET DEFAULT nextval('raw.nhs__births__row_seq'::regclass)")


def test_set_up_turns_an_older_raw_table_into_a_table_per_drop_keeping_every_row(platform, warehouse_url,
                                                                                 simulated_month, older_births):
    """An older install kept every drop in one raw table, found by an index on _drop_id. The loader refuses it,
    naming `gmoda db init`; set-up makes the feed's table partitioned by drop number, each drop's rows (every row,
    with its row number) copied into a table of its own, which is all a query for that drop reads."""
    from gmoda_assets.ingest.loader import RawTableOutdated

    path, lines = _births(simulated_month)
    contract = contract_of(path)

    first, second, third = (_deliver(path, day, body)
                            for day, body in ((20, lines[1:21]), (21, lines[21:31]), (22, lines[31:36])))
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        load_drop(conn, platform, contract, first)
        load_drop(conn, platform, contract, second)
        before = _rows_by_drop(conn, contract)
        _as_one_table(conn, contract)
        conn.execute("CREATE INDEX nhs__births__drop ON raw.nhs__births (_drop_id)")
        conn.execute("ALTER SEQUENCE raw.nhs__births__row_seq CACHE 1")
        with pytest.raises(RawTableOutdated, match="one table for every drop, not a table per drop.*`gmoda db init`"):
            load_drop(conn, platform, contract, third)

        ensure_raw_table(conn, contract)
        ensure_raw_table(conn, contract)  # a second set-up changes nothing
        after = _rows_by_drop(conn, contract)
        load_drop(conn, platform, contract, third)
        tables = conn.execute("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), d.drop_id, (SELECT array_agg("
                              "indexrelid::regclass::text) FROM pg_index WHERE indrelid = c.oid), c.relowner = p.relowner "
                              "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                              "JOIN ops.drops d ON format('FOR VALUES IN (%s)', d.drop_number) = pg_get_expr(c.relpartbound, c.oid) "
                              "WHERE i.inhparent = 'raw.nhs__births'::regclass ORDER BY 1").fetchall()
        cache = conn.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = 'nhs__births__row_seq'").fetchone()
        numbers = dict(conn.execute("SELECT drop_id, drop_number FROM ops.drops").fetchall())
        plans = {drop: "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM raw.nhs__births WHERE _drop = %s", (numbers[drop],))) for drop in (first, third)}
        rows = _rows_by_drop(conn, contract)
    assert after == before and len(after) == 30
    assert [row[2:] for row in tables] == [(drop, None, True) for drop in sorted((first, second, third), key=lambda d: d[-12:])]
    assert [name for name, *_ in tables] == sorted(f"nhs__births__{drop[-12:]}" for drop in (first, second, third))
    assert cache == (ROW_NUMBER_CACHE,)
    assert f"nhs__births__{first[-12:]}" in plans[first] and f"nhs__births__{third[-12:]}" not in plans[first]
    assert f"nhs__births__{third[-12:]}" in plans[third] and first[-12:] not in plans[third], plans[third]
    assert [number for drop, number, _ in rows if drop == third] == [1, 2, 3, 4, 5]


def test_set_up_moves_each_drops_table_keyed_by_drop_id_to_its_drop_number_copying_no_row(
        platform, instance, defs, warehouse_url, simulated_month, older_births, tmp_path):
    """An install before drop numbers kept each drop's rows in a table of its own, a partition of the feed's keyed
    by the drop id (on every row), and drops had no number. The loader refuses its tables, naming `gmoda db init`;
    set-up numbers the ledger's drops and moves each drop's table, no row copied, to the feed's table keyed by
    drop number: every row keeps its drop and row number, and the drop's checks and staging read it there."""
    from gmoda_assets.conform.postcode_lookup import postcode_lookup
    from gmoda_assets.conform.staging import staging_assets
    from gmoda_assets.ingest.jobs import ingest_jobs
    from gmoda_assets.ingest.loader import RawTableOutdated
    from gmoda_assets.lib import database
    from gmoda_assets.resources import Warehouse

    path, lines = _births(simulated_month)
    contract = contract_of(path)
    first, second, third = (_deliver(path, day, body)
                            for day, body in ((20, lines[1:21]), (21, lines[21:31]), (22, lines[31:36])))
    later = path.with_name("GM_CHIS_Births_20251022.csv").rename(tmp_path / "later.csv")  # delivered after set-up
    path.unlink()
    assert ingest_landing_zone(instance, defs, platform, ["nhs"]).tally.runs_failed == 0
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        before = _rows_by_drop(conn, contract)
        values = ", ".join(c.db_name for c in contract.columns)
        with conn.transaction():  # as an install before drop numbers made them and loaded them
            conn.execute("CREATE TABLE raw.nhs__births_older (LIKE raw.nhs__births INCLUDING DEFAULTS INCLUDING COMMENTS, "
                         "_drop_id text NOT NULL DEFAULT current_setting('gmoda.drop_id')) PARTITION BY LIST (_drop_id)")
            conn.execute("ALTER TABLE raw.nhs__births_older DROP COLUMN _drop")
            for drop_id, table in conn.execute(
                    "SELECT d.drop_id, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN ops.drops d "
                    "ON format('FOR VALUES IN (%s)', d.drop_number) = pg_get_expr(c.relpartbound, c.oid) "
                    "WHERE i.inhparent = 'raw.nhs__births'::regclass").fetchall():
                conn.execute(f"CREATE TABLE raw.{table}_older (LIKE raw.nhs__births_older INCLUDING DEFAULTS)")
                conn.execute(f"ALTER TABLE raw.{table}_older ALTER COLUMN _drop_id SET DEFAULT '{drop_id}'")
                conn.execute(f"ALTER TABLE raw.nhs__births_older ATTACH PARTITION raw.{table}_older FOR VALUES IN ('{drop_id}')")
                conn.execute(f"INSERT INTO raw.{table}_older ({values}, _row_number) SELECT {values}, _row_number FROM raw.{table}")
            conn.execute("DROP TABLE raw.nhs__births")
            conn.execute("ALTER TABLE raw.nhs__births_older RENAME TO nhs__births")
            for table, in conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                                       "WHERE inhparent = 'raw.nhs__births'::regclass").fetchall():
                conn.execute(f"ALTER TABLE {table} RENAME TO {table.split('.')[1].removesuffix('_older')}")
            conn.execute("ALTER TABLE ops.drops DROP COLUMN drop_number")
            conn.execute("DROP FUNCTION ops.new_drop_table(text, text, boolean)")
            conn.execute("CREATE FUNCTION ops.new_drop_table(raw_table text, drop_id text) RETURNS text "
                         "LANGUAGE sql AS 'SELECT NULL::text'")
        assert _rows_by_drop(conn, contract) == before
        older = _drop_tables(conn)
        later.rename(settings.landing_dir() / "nhs" / "GM_CHIS_Births_20251022.csv")
        with pytest.raises(RawTableOutdated, match="keys its drops' tables by drop id, not drop number.*`gmoda db init`"):
            load_drop(conn, platform, contract, third)

        database.apply_sql(warehouse_url)
        ensure_raw_table(conn, contract)
        ensure_raw_table(conn, contract)  # a second set-up changes nothing
        after, moved = _rows_by_drop(conn, contract), _drop_tables(conn)
        numbers = dict(conn.execute("SELECT drop_id, drop_number FROM ops.drops").fetchall())
        lineage = [r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'raw.nhs__births'::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attname LIKE '\\_%' ORDER BY 1")]
    assert after == before and len(after) == 30
    assert lineage == ["_drop", "_row_number"]
    assert [(name, node) for name, _, node in moved] == [(name, node) for name, _, node in older], "no row copied"
    assert sorted(bound for _, bound, _ in moved) == sorted(f"FOR VALUES IN ({numbers[d]})" for d in (first, second))

    # The drop's checks read its rows by number: a re-run of the first drop loads nothing and passes them all.
    rerun = defs.resolve_job_def(ingest_jobs["nhs.births"].name).execute_in_process(
        instance=instance, partition_key=first, raise_on_error=False)
    checks = {e.asset_check_key.name: e.passed for e in rerun.get_asset_check_evaluations()}
    assert rerun.success and checks and all(checks.values()), checks
    births = next(a for a in staging_assets if a.key.path == ["staging", "nhs", "births"])
    staged = materialize([postcode_lookup, births], instance=instance, resources={"warehouse": Warehouse()})
    assert staged.success
    with psycopg.connect(warehouse_url) as conn:
        assert {r[0] for r in conn.execute("SELECT DISTINCT _drop_id FROM staging.nhs__births")} == {first, second}
        assert load_drop(conn, platform, contract, third).rows_loaded == 5


def test_set_up_keeps_an_older_tables_file_name_and_hash_once_per_drop(platform, warehouse_url, simulated_month,
                                                                       older_births):
    """An older install kept the file name, hash and load time on every raw row, and numbered rows by subtracting
    a base on every row. The loader refuses such a table, naming `gmoda db init`; set-up drops the three columns
    only when every drop's values agree with its ledger row (a disagreement is named and keeps them), and the join
    on ops.drops then gives every row its file, hash and load time; rows are numbered from 1 again."""
    from gmoda_assets.ingest.loader import RawTableOutdated

    path, lines = _births(simulated_month)
    contract = contract_of(path)

    first, second = _deliver(path, 20, lines[1:21]), _deliver(path, 21, lines[21:31])
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        load_drop(conn, platform, contract, first)
        # The table as the older set-up made it, its rows as the older loader filled them.
        _as_one_table(conn, contract, "file_name", "content_hash", "processed_at")
        with conn.transaction():
            conn.execute("ALTER TABLE raw.nhs__births RENAME COLUMN _processed_at TO _loaded_at")
            conn.execute("ALTER TABLE raw.nhs__births ALTER COLUMN _row_number SET DEFAULT "
                         "nextval('raw.nhs__births__row_seq') - current_setting('gmoda.row_base')::bigint")
        with pytest.raises(RawTableOutdated, match=r"still has column\(s\) _content_hash, _file_name, _loaded_at .*`gmoda db init`"):
            load_drop(conn, platform, contract, second)

        conn.execute("UPDATE raw.nhs__births SET _loaded_at = _loaded_at - interval '1 second' WHERE _row_number = 7")
        with pytest.raises(RawTableOutdated, match=rf"rows of drop {first} whose _file_name or _content_hash or "
                                                   "_loaded_at differ"):
            ensure_raw_table(conn, contract)
        held = conn.execute("SELECT count(DISTINCT _loaded_at) FROM raw.nhs__births").fetchone()[0]
        assert held == 2, "a disagreement keeps the per-row values"
        conn.execute("UPDATE raw.nhs__births r SET _loaded_at = d.processed_at FROM ops.drops d "
                     "WHERE d.drop_id = r._drop_id")
        with conn.transaction():  # only the row numbering is older: refused too
            conn.execute("ALTER TABLE raw.nhs__births DROP COLUMN _file_name, DROP COLUMN _content_hash, "
                         "DROP COLUMN _loaded_at")
            with pytest.raises(RawTableOutdated, match="numbers rows the older way .*`gmoda db init`"):
                load_drop(conn, platform, contract, second)
            raise psycopg.Rollback()

        ensure_raw_table(conn, contract)
        columns = [r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_schema = 'raw' AND table_name = 'nhs__births' AND column_name LIKE '\\_%'")]
        assert sorted(columns) == ["_drop", "_row_number"]
        assert load_drop(conn, platform, contract, second).rows_loaded == 10
        lineage = conn.execute("SELECT d.file_name, d.content_hash, min(d.processed_at), count(*), "
                               "array_agg(r._row_number ORDER BY r._row_number) FROM raw.nhs__births r "
                               "JOIN ops.drops d ON d.drop_number = r._drop GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert [(name, n) for name, _, _, n, _ in lineage] == [("GM_CHIS_Births_20251020.csv", 20), ("GM_CHIS_Births_20251021.csv", 10)]
    assert [first[-12:], second[-12:]] == [content_hash[:12] for _, content_hash, _, _, _ in lineage]
    assert [numbers for *_, numbers in lineage] == [list(range(1, 21)), list(range(1, 11))]
    assert lineage[0][2] < lineage[1][2], "each drop keeps its own load time"
