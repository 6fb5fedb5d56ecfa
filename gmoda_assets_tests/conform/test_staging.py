"""Staging against the simulator's ground truth: canonical values, rejects, pseudonyms, no identifiers."""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import pandas as pd
import psycopg
import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetSelection, materialize
from psycopg import sql

from gmoda_assets.conform.dimensions import dimension_assets
from gmoda_assets.conform.facts_health_police_housing import fact_assets_hpp
from gmoda_assets.conform.linkage_features import linkage_features
from gmoda_assets.conform.postcode_lookup import postcode_lookup
from gmoda_assets.conform.staging import staging_assets
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import database, settings
from gmoda_assets.lib.pseudonymise import HmacPads, secret_key
from gmoda_assets.lib.quality import validate_in_postgres
from gmoda_assets.lib.suites import load_suite
from gmoda_assets.resources import Warehouse
from gmoda_assets_tests.conform.helpers import failure_message
from gmoda_assets_tests.helpers import copy_drops, deliver, read_delivery


@pytest.fixture(scope="module")
def staged(staged_month):
    """The simulated month loaded into raw and built into staging (the shared build), with its truth."""
    truth = staged_month.drops.parent / "landing_truth"
    events = [m for m in staged_month.build.get_asset_materialization_events() if m.asset_key.path[0] == "staging"]
    return {
        "metadata": {m.asset_key.to_user_string(): {k: v.value for k, v in m.materialization.metadata.items()}
                     for m in events},
        "checks": [c for c in staged_month.build.get_asset_check_evaluations() if c.asset_key.path[0] == "staging"],
        "truth": truth,
        "manifest": json.loads((truth / "manifest.json").read_text()),
    }


def _staging(url: str, table: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(f'SELECT * FROM staging."{table}"')
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _with_truth(url, staged, feed_id: str) -> pd.DataFrame:
    """Staged rows of a feed next to the true child each came from, leaving out rows the simulator spoilt."""
    frame = _staging(url, feed_id.replace(".", "__"))
    frame["file_name"] = frame._drop_id.str.split("/", n=1).str[1].str.rsplit("@", n=1).str[0]
    links = pd.read_csv(staged["truth"] / "record_links.csv.gz", dtype=str)
    links = links[links.feed_id == feed_id].assign(row=lambda d: d.row.astype(int))
    spoilt = {(f["file_name"], e["row"]) for f in staged["manifest"]["files"] for e in f["errors"]}
    children = pd.read_csv(staged["truth"] / "children.csv.gz", dtype=str).rename(columns={"child_id": "person_id"})
    merged = frame.merge(links, left_on=["file_name", "_row_number"], right_on=["file_name", "row"])
    merged = merged.merge(children, on="person_id", suffixes=("", "_true"))
    keep = [(f, r) not in spoilt for f, r in zip(merged.file_name, merged._row_number)]
    return merged[keep]


COUNCILS = ["bolton", "bury", "manchester", "oldham", "rochdale", "salford", "stockport", "tameside", "trafford", "wigan"]


@pytest.mark.parametrize("council", COUNCILS)
def test_each_council_format_maps_to_the_canonical_schema(council, staged, warehouse_url):
    """Every council's EYFSP, funded-education and social-care extracts, whatever their system's column names,
    codes and date formats, give the true child's month of birth, sex and outcome in the canonical schema."""
    for feed in ("eyfsp", "funded_early_education", "social_care"):
        rows = _with_truth(warehouse_url, staged, f"{council}.{feed}")
        assert len(rows) > 10, feed
        born = pd.to_datetime(rows.date_of_birth)
        assert (rows.birth_year == born.dt.year).all() and (rows.birth_month == born.dt.month).all(), feed
        if "sex_true" in rows:
            assert (rows.sex == rows.sex_true).all(), feed
    eyfsp = _with_truth(warehouse_url, staged, f"{council}.eyfsp")
    assert (eyfsp.gld == eyfsp.gld_true).all()
    assert set(eyfsp.first_language) <= {"english", "other", "unknown"}
    assert eyfsp.academic_year.str.fullmatch(r"20\d\d/\d\d").all()


def test_births_typed_and_placed(staged, warehouse_url):
    rows = _with_truth(warehouse_url, staged, "nhs.births")
    assert (rows.birth_weight_grams == rows.birth_weight_grams_true.astype(int)).all()
    assert (rows.gestation_weeks == rows.gestation_weeks_true.astype(int)).all()
    assert (rows.lsoa11cd == rows.birth_lsoa11cd).mean() > 0.99  # postcode at birth -> its LSOA


def test_rejects_have_reasons_and_nothing_is_lost(staged, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        for key, meta in staged["metadata"].items():
            if key.count("/") != 2:
                continue
            assert meta["rows_considered"] == meta["rows_staged"] + meta["rows_rejected"] + meta["rows_superseded"], key
            table = key.split("/", 1)[1].replace("/", "__")
            rejected = conn.execute(f'SELECT count(*), min(cardinality(reasons)) FROM staging."{table}__rejects"').fetchone()
            assert rejected[0] == meta["rows_rejected"] and (rejected[0] == 0 or rejected[1] >= 1), key
        reasons = [r[0] for r in conn.execute("SELECT unnest(reasons) FROM staging.nhs__hv_reviews__rejects")]
    assert reasons and all(re.match(r"^[A-Za-z_]+: ", r) for r in reasons)
    # Every row the simulator spoilt beyond repair is set aside, in every feed.
    fatal = {"nhs_bad_check", "nhs_short", "date_impossible", "required_missing", "unknown_code"}
    spoilt = {(f["feed_id"], f["file_name"], e["row"]) for f in staged["manifest"]["files"] for e in f["errors"]
              if e["kind"] in fatal}
    with psycopg.connect(warehouse_url) as conn:
        rejects = set()
        for feed_id in {feed for feed, _, _ in spoilt}:
            rejects |= {(feed_id, d.split("/", 1)[1].rsplit("@", 1)[0], n) for d, n in conn.execute(
                f'SELECT _drop_id, _row_number FROM staging."{feed_id.replace(".", "__")}__rejects"')}
    assert len(spoilt) > 10 and spoilt <= rejects, sorted(spoilt - rejects)[:5]


def test_no_direct_identifier_outside_raw(staged, warehouse_url):
    truth = staged["truth"]
    children = pd.read_csv(truth / "children.csv.gz", dtype=str)
    people = pd.read_csv(truth / "people.csv.gz", dtype=str)
    addresses = pd.read_csv(truth / "addresses.csv.gz", dtype=str)
    norm = lambda s: set(s.dropna().str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)) - {""}  # noqa: E731
    identifiers = (norm(children.nhs_number) | norm(people.nhs_number) | norm(children.upn) | norm(addresses.uprn)
                   | norm(children.postcode) | norm(addresses.postcode) | norm(addresses.address_line)
                   | {n for n in norm(children.family_name) | norm(people.family_name) if len(n) > 3})
    with psycopg.connect(warehouse_url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN ('staging', 'conformed', 'linked', 'synthetic', 'model', 'signposting', 'mart') "
            "AND data_type IN ('text', 'character varying') "
            # Public reference data: ward and LSOA names can equal family names (Ramsbottom, Bury).
            "AND table_name NOT IN ('postcode_lookup', 'dim_geography', 'dim_postcode_sector', 'dim_partner', 'dim_date')"
        ).fetchall()
        assert len(columns) > 100
        for schema, table, column in columns:
            values = {r[0] for r in conn.execute(f'SELECT DISTINCT "{column}" FROM {schema}."{table}"')}
            leaked = norm(pd.Series(list(values), dtype=object)) & identifiers
            assert not leaked, f"{schema}.{table}.{column} holds direct identifiers, e.g. {sorted(leaked)[:3]}"


def test_same_child_from_two_partners_gets_the_same_pseudonym(staged, warehouse_url):
    births = _with_truth(warehouse_url, staged, "nhs.births")[["person_id", "nhs_number_pseudonym"]]
    reviews = _with_truth(warehouse_url, staged, "nhs.hv_reviews")[["person_id", "nhs_number_pseudonym"]]
    care = pd.concat(_with_truth(warehouse_url, staged, f"{c}.social_care")[["person_id", "nhs_number_pseudonym"]]
                     for c in ("bolton", "manchester", "salford", "oldham"))
    for other in (reviews, care):
        pairs = births.merge(other.dropna(), on="person_id", suffixes=("_births", "_other"))
        assert len(pairs) > 20
        assert (pairs.nhs_number_pseudonym_births == pairs.nhs_number_pseudonym_other).all()
    # Different children never share one.
    assert births.groupby("nhs_number_pseudonym").person_id.nunique().max() == 1


def test_linkage_features_are_derived_only(staged, warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        soundex, sectors, total = conn.execute(
            "SELECT count(*) FILTER (WHERE family_name_soundex ~ '^[A-Z][0-9]{3}$'), "
            "count(*) FILTER (WHERE postcode_sector ~ '^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9]$'), count(*) "
            "FROM staging.linkage_features WHERE feed_id = 'nhs.births'").fetchone()
    assert total > 100 and soundex > 0.98 * total and sectors > 0.97 * total
    assert all(c.passed for c in staged["checks"]), [(c.asset_key.to_user_string(), c.check_name) for c in staged["checks"] if not c.passed]


def test_linkage_check_catches_a_leaked_name_a_bad_code_and_a_duplicate(staged, warehouse_url):
    """The blocking linkage check, run over the real table with three faults spliced in."""
    with psycopg.connect(warehouse_url) as conn:
        first, second = [r[0] for r in conn.execute(
            "SELECT record_key FROM staging.linkage_features WHERE feed_id = 'nhs.births' ORDER BY record_key LIMIT 2")]
    kept = "feed_id, record_key, nhs_number_pseudonym, given_name_pseudonym, date_of_birth_pseudonym, postcode_pseudonym, address_pseudonym, family_name_soundex"
    query = (
        f"SELECT {kept}, CASE WHEN record_key = '{first}' THEN 'SMITH' ELSE family_name_pseudonym END AS family_name_pseudonym, "
        f"CASE WHEN record_key = '{second}' THEN given_name_soundex || '0' ELSE given_name_soundex END AS given_name_soundex "
        "FROM staging.linkage_features UNION ALL SELECT * FROM "
        f"(SELECT {kept}, family_name_pseudonym, given_name_soundex FROM staging.linkage_features WHERE feed_id = 'gmp.incidents' LIMIT 1) AS duplicate"
    )
    key = ["staging", "linkage_features"]
    [result] = validate_in_postgres(Warehouse().sqlalchemy_url, query, load_suite(key), key)
    assert not result.passed and result.metadata["expectations_failed"].value == 2
    details = {d["about"]: d for d in result.metadata["results"].value}
    malformed = details["a pseudonym or Soundex code not in its form"]
    assert malformed["failing_rows"] == 2 and {first, second} <= {s.split("record_key=")[1] for s in malformed["sample"]}
    assert details["a record with more than one row of features"]["failing_rows"] == 1


def test_linkage_name_features_match_the_true_names(staged, warehouse_url):
    """Each birth's name features are those of the child's true name: Python's own HMAC of the normalised name
    under the platform key, and the Soundex code of the true name (typo-spoilt rows left out)."""
    rows = _with_truth(warehouse_url, staged, "nhs.births")
    with psycopg.connect(warehouse_url) as conn:
        features = pd.DataFrame(conn.execute(
            "SELECT record_key AS record_key_x, family_name_pseudonym, given_name_soundex FROM staging.linkage_features "
            "WHERE feed_id = 'nhs.births'").fetchall(), columns=["record_key_x", "family_name_pseudonym", "given_name_soundex"])
        rows = rows.merge(features, on="record_key_x")  # the staged key (the truth has its own record_key)
        assert len(rows) > 100
        true_soundex = dict(conn.execute("SELECT n, ops.soundex(n) FROM unnest(%s::text[]) AS n",
                                         [sorted(set(rows.given_name))]).fetchall())
    key = secret_key()
    expected = [hmac.new(key, f"name:{re.sub('[^A-Z]', '', n.upper())}".encode(), hashlib.sha256).hexdigest()[:32]
                for n in rows.family_name]
    assert (rows.family_name_pseudonym == expected).all()
    assert (rows.given_name_soundex == rows.given_name.map(true_soundex)).all()


@contextmanager
def _every_statement_logged(url: str):
    """The test server logs every statement, its duration and its bind parameters in full, as an operator
    chasing a slow query might set it; the settings are put back afterwards."""
    settings_on = {"log_statement": "all", "log_min_duration_statement": "0", "log_parameter_max_length": "-1"}
    with psycopg.connect(url, autocommit=True) as admin:
        try:
            for name, setting in settings_on.items():
                admin.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(setting)))
            admin.execute("SELECT pg_reload_conf()")
            for _ in range(100):  # the postmaster rereads its configuration asynchronously
                with psycopg.connect(url) as probe:
                    if probe.execute("SHOW log_statement").fetchone()[0] == "all":
                        break
                time.sleep(0.1)
            yield database.pgdata_dir() / "log"  # where the embedded server writes its log (pgserver's pg_ctl -l)
        finally:
            for name in settings_on:
                admin.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            admin.execute("SELECT pg_reload_conf()")


def _written_forms(secret: bytes) -> list[bytes]:
    """Every way a server log could hold these bytes: raw (so also as text), as hex (bytea's hex output, either
    case), in bytea's escape output, and in base64."""
    escaped = "".join(chr(b) if 32 <= b < 127 and b != 92 else "\\\\" if b == 92 else f"\\{b:03o}" for b in secret)
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), escaped.encode(), base64.b64encode(secret)]


def test_key_material_never_reaches_the_server_log(staged, warehouse_url):
    """Staging and the linkage features built while the server logs every statement with its parameters: the
    log holds those statements, and a bind parameter sent as a control, but not the key nor either HMAC pad in
    any form."""
    key = secret_key()
    pads = HmacPads.from_key(key)
    control = secrets.token_bytes(64)
    births = next(a for a in staging_assets if a.key.path == ["staging", "nhs", "births"])
    with _every_statement_logged(warehouse_url) as log_file:
        start = log_file.stat().st_size
        assert materialize([births, linkage_features], resources={"warehouse": Warehouse()}).success
        with psycopg.connect(warehouse_url) as conn:  # shows that bind parameters do reach this log
            conn.execute("SELECT length(%s::bytea)", [control])
        with log_file.open("rb") as handle:
            handle.seek(start)
            logged = handle.read()
    assert b"CREATE TEMP TABLE _typed" in logged and b'INSERT INTO "staging"."linkage_features__candidate"' in logged
    assert b"ops.hmac_sha256" in logged
    assert b"\\x" + control.hex().encode() in logged
    for name, secret in (("key", key), ("inner pad", pads.ipad), ("outer pad", pads.opad)):
        assert not any(form in logged for form in _written_forms(secret)), f"the {name} is in the server log"


def _rows(url: str, *tables: str) -> list[list[tuple]]:
    with psycopg.connect(url) as conn:
        return [conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(*t.split(".")))).fetchall()
                for t in tables]


def test_a_failing_blocking_check_leaves_the_previous_staging_table_live(platform, instance, defs, warehouse_url,
                                                                         simulated_month):
    """The NHS starts writing dates of birth day-first: its next births increment loads, but every row is rejected.
    The staging build fails naming the check and the counts; the last good staging table and its rejects stay
    live and readable, the fact built from them is left as it was, and other feeds still build."""
    [births] = (simulated_month / "nhs").glob("GM_CHIS_Births_*.csv")
    copy_drops(simulated_month, settings.landing_dir(), ["nhs"])
    _ingest(instance, defs, platform, "nhs", warehouse_url)
    [fact_births] = [a for a in fact_assets_hpp if a.key.path[-1] == "fact_births"]
    _, built = _stage("nhs/births", also=[*dimension_assets, fact_births])
    assert {"staging/nhs/births", "conformed/fact_births"} <= built
    tables = ("staging.nhs__births", "staging.nhs__births__rejects", "conformed.fact_births")
    before = _rows(warehouse_url, *tables)
    assert len(before[0]) > 100

    header, rows = read_delivery(births)
    at = header.index("DateOfBirth")
    for row in rows:
        y, m, d = row[at].split("-")
        row[at] = f"{d}/{m}/{y}"
    delivered = datetime.strptime(births.stem.rsplit("_", 1)[1], "%Y%m%d")
    deliver("nhs", f"GM_CHIS_Births_{delivered + timedelta(days=31):%Y%m%d}.csv", header, rows)
    _ingest(instance, defs, platform, "nhs", warehouse_url)

    result, built = _stage("nhs/births", "nhs/hv_reviews", also=[linkage_features, *dimension_assets, *fact_assets_hpp])
    assert not result.success
    failed = {(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations() if not c.passed}
    assert failed == {("staging/nhs/births", "reject_rate_acceptable")}
    message = failure_message(result)
    assert "staging.nhs__births was not published: blocking check(s) reject_rate_acceptable" in message
    assert _rows(warehouse_url, *tables) == before  # the last good version, live and readable
    with psycopg.connect(warehouse_url) as conn:  # the rejected build, kept to inspect
        [rejected] = conn.execute("SELECT count(*) FROM staging.nhs__births__rejects__candidate").fetchone()
    assert rejected >= len(rows) and f"rejected={rejected}" in message  # the counts, sampled; never a value
    assert {"staging/nhs/hv_reviews", "conformed/fact_health_visiting_reviews"} <= built  # other feeds still build
    # Downstream of the failing feed, in staging and across the layer boundary: stopped in this run.
    assert not {"staging/nhs/births", "staging/linkage_features", "conformed/fact_births"} & built


def test_a_check_executed_on_its_own_validates_the_live_table(staged, warehouse_url, instance):
    """A run that selects only a staging check (the check page's Execute button) validates the live table and its
    live rejects, and builds nothing: it fails while the live table is spoilt, naming the record, and passes once
    it is mended."""
    births = next(a for a in staging_assets if a.key.path == ["staging", "nhs", "births"])

    def run_check(name: str):
        check = AssetCheckKey(births.key, name)
        result = materialize([births], selection=AssetSelection.checks(check), instance=instance,
                             resources={"warehouse": Warehouse()}, raise_on_error=False)
        assert not result.get_asset_materialization_events()
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.asset_check_key == check
        return evaluation

    assert run_check("reject_rate_acceptable").passed and run_check("no_direct_identifiers").passed
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        before = _rows(warehouse_url, "staging.nhs__births", "staging.nhs__births__rejects")
        staged_rows = len(before[0])
        key, pseudonym = conn.execute("SELECT record_key, nhs_number_pseudonym FROM staging.nhs__births "
                                      "WHERE nhs_number_pseudonym IS NOT NULL ORDER BY record_key LIMIT 1").fetchone()
        try:
            conn.execute("UPDATE staging.nhs__births SET nhs_number_pseudonym = 'SMITH' WHERE record_key = %s", (key,))
            conn.execute("INSERT INTO staging.nhs__births__rejects SELECT 'test-drop', n, NULL, ARRAY['test: spoilt'] "
                         "FROM generate_series(1, %s) AS n", (staged_rows,))
            leaked, rejected = run_check("no_direct_identifiers"), run_check("reject_rate_acceptable")
        finally:
            conn.execute("DELETE FROM staging.nhs__births__rejects WHERE _drop_id = 'test-drop'")
            conn.execute("UPDATE staging.nhs__births SET nhs_number_pseudonym = %s WHERE record_key = %s",
                         (pseudonym, key))
    assert not leaked.passed and f"record_key={key}" in leaked.metadata["failures"].value
    assert not rejected.passed and "rejected=" in rejected.metadata["failures"].value
    assert run_check("reject_rate_acceptable").passed and run_check("no_direct_identifiers").passed
    assert _rows(warehouse_url, "staging.nhs__births", "staging.nhs__births__rejects") == before


def _ingest(instance, defs, landing, partner: str, url: str) -> dict[str, str]:
    """Load the partner's new files through Dagster runs; the drop id of every file held, by file name."""
    report = ingest_landing_zone(instance, defs, landing, [partner])
    assert report.tally.runs_failed == 0, report.tally.failures
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT file_name, drop_id FROM ops.drops WHERE partner = %s", (partner,)).fetchall())


def _stage(*feeds: str, also=()):
    chosen = [a for a in staging_assets if "/".join(a.key.path[1:]) in feeds]
    result = materialize([postcode_lookup, *chosen, *also], resources={"warehouse": Warehouse()}, raise_on_error=False)
    return result, {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}


def _clean_rows(simulated_month, file_name: str) -> list[int]:
    """Row numbers (1 = first after the header) the simulator left unspoilt in a file."""
    manifest = json.loads((simulated_month.parent / "landing_truth" / "manifest.json").read_text())
    [entry] = [f for f in manifest["files"] if f["file_name"] == file_name]
    spoilt = {e["row"] for e in entry["errors"]}
    return [n for n in range(1, entry["rows"] + 1) if n not in spoilt]


def test_snapshot_is_the_newest_delivery_whatever_the_load_order(platform, instance, defs, warehouse_url, simulated_month):
    """Two snapshots loaded in reverse delivery order (as concurrent runs may finish): staging holds the one with
    the later delivery date in its file name."""
    [source] = (simulated_month / "stockport_homes").glob("SH_Tenancy_Members_*.csv")
    header, rows = read_delivery(source)
    deliver("stockport_homes", "SH_Tenancy_Members_20251201.csv", header, rows[:-5])  # newer: five members fewer
    _ingest(instance, defs, platform, "stockport_homes", warehouse_url)
    deliver("stockport_homes", "SH_Tenancy_Members_20251101.csv", header, rows)
    drops = _ingest(instance, defs, platform, "stockport_homes", warehouse_url)
    assert drops["SH_Tenancy_Members_20251101.csv"] != drops["SH_Tenancy_Members_20251201.csv"]
    _, built = _stage("stockport_homes/tenancies")
    assert "staging/stockport_homes/tenancies" in built
    with psycopg.connect(warehouse_url) as conn:
        held = {r[0] for r in conn.execute("SELECT DISTINCT _drop_id FROM staging.stockport_homes__tenancies")}
    assert held == {drops["SH_Tenancy_Members_20251201.csv"]}


def test_an_older_increment_loaded_later_does_not_win(platform, instance, defs, warehouse_url, simulated_month):
    """A birth corrected in the December increment keeps its correction when the November increment, holding the
    earlier version, is loaded after it."""
    [source] = (simulated_month / "nhs").glob("GM_CHIS_Births_*.csv")
    header, rows = read_delivery(source)
    first, second = _clean_rows(simulated_month, source.name)[:2]
    weight = header.index("BirthWeightGrams")
    earlier = [rows[first - 1], rows[second - 1]]
    corrected = [list(rows[first - 1])]
    corrected[0][weight] = str(int(corrected[0][weight]) + 111)
    deliver("nhs", "GM_CHIS_Births_20251201.csv", header, corrected)
    _ingest(instance, defs, platform, "nhs", warehouse_url)
    deliver("nhs", "GM_CHIS_Births_20251101.csv", header, earlier)
    drops = _ingest(instance, defs, platform, "nhs", warehouse_url)
    _, built = _stage("nhs/births")
    assert "staging/nhs/births" in built
    with psycopg.connect(warehouse_url) as conn:
        staged = conn.execute("SELECT _drop_id, _row_number, birth_weight_grams FROM staging.nhs__births "
                              "ORDER BY _drop_id").fetchall()
    assert sorted(staged) == sorted([(drops["GM_CHIS_Births_20251201.csv"], 1, int(corrected[0][weight])),
                                     (drops["GM_CHIS_Births_20251101.csv"], 2, int(rows[second - 1][weight]))])


def test_a_value_out_of_range_rejects_only_its_row(platform, instance, defs, warehouse_url, simulated_month):
    """Integers beyond PostgreSQL's integer, decimals beyond 15 digits and digits of another script each reject
    their own row with a reason naming the column; the rest of the feed stages, values at the edge of the range
    (years 0001 and 9999 included) stage as delivered, and the conformed facts build from them."""
    [births] = (simulated_month / "nhs").glob("GM_CHIS_Births_*.csv")
    header, rows = read_delivery(births)
    clean = _clean_rows(simulated_month, births.name)
    spoil = {  # row number -> (column, value, reason or None when the value must stage)
        clean[0]: ("BirthWeightGrams", "99999999999", "out of range for an integer (-2147483648 to 2147483647)"),
        clean[1]: ("GestationWeeks", "-2147483649", "out of range for an integer (-2147483648 to 2147483647)"),
        clean[2]: ("BirthWeightGrams", "٣٢٠٠", "not a valid integer"),
        clean[3]: ("MotherAge", "2147483647", None),
        clean[4]: ("GestationWeeks", "-2147483648", None),
    }
    for n, (column, value, _) in spoil.items():
        rows[n - 1][header.index(column)] = value
    deliver("nhs", births.name, header, rows)
    [tenancies] = (simulated_month / "stockport_homes").glob("SH_Tenancy_Members_*.csv")
    t_header, t_rows = read_delivery(tenancies)
    t_clean = _clean_rows(simulated_month, tenancies.name)
    t_spoil = {
        t_clean[0]: ("bedrooms", "99999999999", "out of range for an integer (-2147483648 to 2147483647)"),
        t_clean[1]: ("arrears_weeks", "1234567890123456.5", "out of range for a decimal (at most 15 digits before the point)"),
        t_clean[2]: ("arrears_weeks", "123456789012345.333333333333333333333", None),
        t_clean[3]: ("tenancy_end", "31/12/9999", None),
        t_clean[4]: ("dob", "01/01/0001", None),
    }
    for n, (column, value, _) in t_spoil.items():
        t_rows[n - 1][t_header.index(column)] = value
    deliver("stockport_homes", tenancies.name, t_header, t_rows)
    _ingest(instance, defs, platform, "nhs", warehouse_url)
    _ingest(instance, defs, platform, "stockport_homes", warehouse_url)

    facts = [a for a in fact_assets_hpp if a.key.path[-1] in ("fact_births", "fact_tenancies")]
    result, built = _stage("nhs/births", "stockport_homes/tenancies", also=[*dimension_assets, *facts])
    assert {"staging/nhs/births", "staging/stockport_homes/tenancies",
            "conformed/fact_births", "conformed/fact_tenancies"} <= built
    with psycopg.connect(warehouse_url) as conn:
        for table, spoilt in (("nhs__births", spoil), ("stockport_homes__tenancies", t_spoil)):
            rejects = dict(conn.execute(f'SELECT _row_number, reasons FROM staging."{table}__rejects"').fetchall())
            staged = {r[0] for r in conn.execute(f'SELECT _row_number FROM staging."{table}"')}
            for n, (column, value, reason) in spoilt.items():
                if reason:
                    assert rejects.get(n) == [f"{column}: {reason}: '{value}'"], (table, n)
                else:
                    assert n in staged and n not in rejects, (table, n)
            assert len(staged) > 0.8 * (len(rows) if table == "nhs__births" else len(t_rows)), table
        edge = conn.execute(f"SELECT mother_age FROM staging.nhs__births WHERE _row_number = {clean[3]}").fetchone()
        arrears, ended, born = conn.execute(
            "SELECT s.rent_arrears_weeks::text, s.tenancy_end_date::text, s.birth_year, f.tenancy_end_date_key, f.is_open, "
            "f.birth_year FROM staging.stockport_homes__tenancies AS s JOIN conformed.fact_tenancies AS f USING (record_key) "
            f"WHERE s._row_number IN ({t_clean[2]}, {t_clean[3]}, {t_clean[4]}) ORDER BY s._row_number").fetchall()
    assert edge == (2147483647,)
    assert arrears[0] == "123456789012345.333333333333333333333"
    assert ended[1] == "9999-12-31" and ended[3:5] == (-1, False)  # beyond dim_date: the unknown date
    assert born[2] == 1 and born[5] == 1
    conformed = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[0] == "conformed"]
    assert conformed and all(c.passed for c in conformed if c.severity == AssetCheckSeverity.ERROR)
