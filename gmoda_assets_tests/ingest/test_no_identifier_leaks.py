"""No identifier value reaches what the platform shows: Dagster's events, run failures, quarantine reasons,
``ops`` tables or the console.

What is looked for and how (and why single given or family names are not) is set out in
``gmoda_assets/simulate/leaks.py``: NHS numbers, UPNs, UPRNs, postcodes, dates of birth in every delivered
format, full names and address lines of the simulation's truth, and every value of every delivered identifier
column as the file holds it (so that the faults the simulator injects, such as a mistyped NHS number, are
looked for too: they are in no truth table). Values are matched as whole runs of letters and digits, ignoring
case, so a number inside a longer number, a digest or a timestamp is not a hit.
"""

import psycopg
import pytest
from dagster import Failure, asset, materialize

from gmoda_assets.cli import main
from gmoda_assets.lib import settings
from gmoda_assets.resources import Warehouse
from gmoda_assets.simulate.leaks import IdentifierValues, find, identifier_values, platform_texts
from gmoda_assets_tests.helpers import contract_of, copy_drops


def _hostile_births(landing, births) -> dict[str, str]:
    """Three births files a careless export could send, each carrying identifiers where errors are made from
    them: no header (the first line is a data row), a row one field short (PostgreSQL's error quotes the
    row), and a row with a Latin-1 name in this UTF-8 feed (its error quotes the row and bytes of the name)."""
    contract = contract_of(births)
    lines = births.read_bytes().splitlines(keepends=True)
    short = lines[4].rstrip(b"\r\n").rsplit(contract.delimiter.encode(), 1)[0] + b"\n"
    header = lines[0].decode(contract.encoding).strip().split(contract.delimiter)
    accented = lines[5].decode(contract.encoding).rstrip("\r\n").split(contract.delimiter)
    accented[header.index("Forename")] = "Zo\u00eb"
    files = {
        "GM_CHIS_Births_20251016.csv": b"".join(lines[1:40]),
        "GM_CHIS_Births_20251017.csv": b"".join([*lines[:4], short, *lines[5:40]]),
        "GM_CHIS_Births_20251018.csv": b"".join([*lines[:5], contract.delimiter.join(accented).encode("latin-1") + b"\n",
                                                 *lines[6:40]]),
    }
    for name, content in files.items():
        (landing / "nhs" / name).write_bytes(content)
    return {"GM_CHIS_Births_20251016.csv": "no header row", "GM_CHIS_Births_20251017.csv": "malformed row",
            "GM_CHIS_Births_20251018.csv": "not valid utf-8"}


@pytest.mark.slow
def test_no_identifier_reaches_events_quarantine_ops_or_console(platform, instance, warehouse_url, simulated_month,
                                                                capfd):
    # Partners whose month holds every kind of identifier and each injected identifier fault (a mistyped or
    # short NHS number, a malformed postcode, an impossible date of birth); the others add time, not cases.
    copy_drops(simulated_month, settings.landing_dir(), ["nhs", "manchester", "gmp", "stockport_homes"])
    [births] = [p for p in settings.landing_dir().glob("nhs/*") if contract_of(p).feed == "births"]
    hostile = _hostile_births(settings.landing_dir(), births)
    truth = simulated_month.parent / f"{simulated_month.name}_truth"
    values = identifier_values(truth, sorted(settings.landing_dir().glob("*/*")))
    # The injected faults are among the values looked for, and the hostile rows' own identifiers too.
    assert {"nhs_number", "postcode", "date_of_birth", "name", "address", "upn", "uprn"} <= set(values.kinds.values())
    row = births.read_text(encoding="utf-8").splitlines()[1].split(",")
    assert (row[1],) in values.kinds and (row[2].upper(), row[3].upper()) in values.kinds

    main(["ingest", "--allow-quarantine"])
    main(["refresh", "--in-process"])
    main(["summary"])

    out, err = capfd.readouterr()
    texts = [*platform_texts(instance, warehouse_url, settings.quarantine_dir()), ("console", out + err)]
    assert len(texts) > 500 and sum(1 for where, _ in texts if where.endswith(".reason.json")) == 3
    hits = find(values, texts)
    assert hits == [], f"{len(hits)} identifier values found, the first in {hits[0].where}: {hits[0].kind}"
    # The hostile files were rejected and said so, naming the row, line and column where there is one.
    for name, problem in hostile.items():
        assert any(name in line and problem in line for line in out.splitlines()), out
    assert "(row 4, line 5, column 'GPPracticeCode')" in out and "(row 5, line 6" in out


def test_finding_is_not_blind():
    """The same matching finds a value wherever it sits among other text, in any case, and only whole."""
    values = IdentifierValues()
    values.add("nhs_number", "4029255884")
    values.add("postcode", "OL12 7FQ")
    values.add("name", "Isaac Aslam")
    texts = [("a", "sample: _row_number=3, NHSNumber=4029255884"), ("b", 'CONTEXT:  COPY births, line 4: "x,ol12 7fq"'),
             ("c", "found ['1', 'Isaac', 'Aslam']"), ("d", "40292558841 and 1740292558.84 and sha 4029255884ab"),
             ("e", "Isaac Aslamov")]
    assert [(h.where, h.kind) for h in find(values, texts)] == [("a", "nhs_number"), ("b", "postcode"), ("c", "name")]


def test_database_errors_leave_asset_code_without_their_values(instance, warehouse_url):
    """A database error raised in an asset body (here a value that is not an integer, and a duplicate key whose
    DETAIL repeats it) fails the step naming the SQLSTATE and the constraint, and no event of the run holds
    the value: not the failure, its causes or its stack."""
    nhs = "4029255884"

    @asset
    def casts(warehouse: Warehouse) -> None:
        with warehouse.connect() as conn:
            conn.execute("SELECT %s::integer", (f"NHS {nhs}",))

    @asset
    def duplicates(warehouse: Warehouse) -> None:
        with warehouse.connect() as conn:
            conn.execute("CREATE TEMP TABLE people (nhs_number text PRIMARY KEY)")
            conn.execute("INSERT INTO people VALUES (%s), (%s)", (nhs, nhs))

    values = IdentifierValues()
    values.add("nhs_number", nhs)
    for target, sqlstate, named in ((casts, "22P02", "type integer"), (duplicates, "23505", 'constraint "people_pkey"')):
        result = materialize([target], resources={"warehouse": Warehouse()}, instance=instance, raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        error = failure.event_specific_data.error
        assert sqlstate in error.message and named in error.message and error.cause is None and error.context is None
        texts = [t for t in platform_texts(instance, warehouse_url, settings.quarantine_dir()) if result.run_id in t[0]]
        assert len(texts) > 5 and find(values, texts) == []
    with pytest.raises(Failure) as raised, Warehouse().connect() as conn:
        conn.execute("SELECT %s::date", (nhs,))
    assert nhs not in raised.value.description and raised.value.__cause__ is None and raised.value.__suppress_context__
    with psycopg.connect(warehouse_url) as conn:  # the platform's own connections are the ones that redact
        with pytest.raises(psycopg.errors.DataError, match=nhs):
            conn.execute("SELECT %s::date", (nhs,))
