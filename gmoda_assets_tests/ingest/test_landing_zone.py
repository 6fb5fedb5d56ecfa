"""The landing zone reads and moves only plain files inside a partner's folder, and run config cannot point
elsewhere: symbolic links, pipes, names leading out of the folder and unknown partners are refused."""

import os

import psycopg
import pytest
from dagster import DagsterRunStatus

from gmoda_assets.cli import main as gmoda
from gmoda_assets.ingest.drops import feed_partitions
from gmoda_assets.ingest.jobs import ingest_jobs
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets.resources.landing_zone import PathRefused
from gmoda_assets_tests.helpers import all_drop_keys, contract_of, copy_drops
from gmoda_assets_tests.ingest.sensing import tick


def _raw_and_ledger_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT format('raw.%I', tablename) FROM pg_tables WHERE schemaname = 'raw'")]
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables + ["ops.drops"])


def _quarantined() -> list:
    return sorted(p for p in settings.quarantine_dir().rglob("*") if p.is_file())


def test_links_are_refused_never_read_or_moved(platform, instance, defs, warehouse_url, simulated_month, tmp_path, capfd):
    landing = settings.landing_dir()
    outside = tmp_path / "outside"
    # A file outside the landing zone, named like a partner file and behind a link named like one.
    births = next(p for p in copy_drops(simulated_month, outside, ["nhs"]) if contract_of(p).feed == "births")
    secret = births.read_bytes()
    (landing / "nhs").mkdir()
    link = landing / "nhs" / births.name
    link.symlink_to(births)
    # A partner folder that is itself a link to a folder elsewhere.
    [gmp_file] = copy_drops(simulated_month, outside, ["gmp"])
    (landing / "gmp").symlink_to(gmp_file.parent)

    report = ingest_landing_zone(instance, defs, platform, ["nhs", "gmp"])

    assert report.tally.runs == 0 and not all_drop_keys(instance)
    assert _raw_and_ledger_rows(warehouse_url) == 0 and _quarantined() == []
    assert link.is_symlink() and births.read_bytes() == secret and gmp_file.exists()
    assert sorted(report.refused) == sorted([
        f"nhs/{births.name}: a symbolic link (never followed)",
        "gmp/: the partner's landing folder is a symbolic link; nothing in it is read",
    ])

    # The sensor refuses the same, and says so once per file, naming the partner and the file.
    capfd.readouterr()
    cursor = None
    for _ in range(3):
        result = tick(instance, cursor, platform, "nhs")
        assert not result.run_requests
        cursor = result.cursor
    logged = [line.split(" - ")[-1] for line in capfd.readouterr().err.splitlines() if "Refused" in line]
    assert logged == [f"Refused nhs/{births.name}: a symbolic link (never followed); never read or moved."]


def test_only_plain_files_inside_the_partner_folder_are_opened(platform, simulated_month, tmp_path):
    landing = settings.landing_dir()
    files = copy_drops(simulated_month, landing, ["nhs"])
    births = next(p for p in files if contract_of(p).feed == "births")
    outside = tmp_path / "secret.csv"
    outside.write_bytes(births.read_bytes())

    for partner, name in [("nhs", os.path.relpath(outside, landing / "nhs")), ("nhs", ".."), ("nhs", ""),
                          ("../" + tmp_path.name, outside.name), ("not_a_partner", births.name)]:
        with pytest.raises(PathRefused):
            platform.open(partner, name)
        with pytest.raises(PathRefused):
            platform.quarantine(partner, name, "x", {})
    with pytest.raises(PathRefused):
        platform.list_files("not_a_partner")

    # A file the scan saw as plain but swapped for a link before it is opened: the open refuses it, whether
    # the link leads out of the folder or to another file in it (which the kernel refuses to follow).
    [listed] = [f for f in platform.list_files("nhs").files if f.name == births.name]
    other = next(p for p in files if p != births)
    for target, refusal in [(outside, "resolves outside"), (other, "symbolic link")]:
        births.unlink()
        births.symlink_to(target)
        with pytest.raises(PathRefused, match=refusal):
            platform.open("nhs", listed.name)
        with pytest.raises(PathRefused, match=refusal):
            platform.quarantine("nhs", listed.name, "x", {})
    assert births.is_symlink() and outside.exists() and other.exists() and _quarantined() == []

    # A pipe named like a partner file is refused at once (an open that followed it would wait forever).
    births.unlink()
    os.mkfifo(births)
    with pytest.raises(PathRefused, match="not a regular file"):
        platform.open("nhs", births.name)
    assert [str(r) for r in platform.list_files("nhs").refused] == [
        f"nhs/{births.name}: not a regular file (a pipe, socket or device)"]


def test_run_config_and_partition_keys_cannot_point_outside(platform, instance, defs, warehouse_url, simulated_month,
                                                            tmp_path):
    landing = settings.landing_dir()
    files = copy_drops(simulated_month, landing, ["nhs"])
    births = next(p for p in files if contract_of(p).feed == "births")
    outside = tmp_path / "secret.txt"
    outside.write_text("anything the process can read\n")
    job = defs.resolve_job_def("quarantine_unrecognised_file")

    def quarantine(partner, drop_id):
        config = {"ops": {"quarantine_unrecognised": {"config": {"partner": partner, "drop_id": drop_id}}}}
        result = job.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        return failure.event_specific_data.error.message

    escape = os.path.relpath(outside, landing / "nhs")
    assert "not a plain file name" in quarantine("nhs", f"nhs.unrecognised/{escape}@0123456789ab")
    assert "not a partner in partners.yaml" in quarantine(f"../{tmp_path.name}", f"../{tmp_path.name}.unrecognised/"
                                                                                 f"{outside.name}@0123456789ab")
    assert "matches feed nhs.births" in quarantine("nhs", f"nhs.unrecognised/{births.name}@0123456789ab")
    assert "is not an unrecognised file of partner 'gmp'" in quarantine("gmp", f"nhs.unrecognised/x.txt@0123456789ab")
    assert outside.exists() and births.exists() and _quarantined() == []

    # A partition key naming a file the feed's contract does not match fails its run; nothing is read.
    key = f"nhs.births/{escape}@0123456789ab"
    instance.add_dynamic_partitions(feed_partitions["nhs.births"].name, [key])
    result = defs.resolve_job_def(ingest_jobs["nhs.births"].name).execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False)
    assert result.dagster_run.status == DagsterRunStatus.FAILURE
    assert _raw_and_ledger_rows(warehouse_url) == 0 and outside.exists()

    # The command line takes only partners in partners.yaml.
    with pytest.raises(SystemExit) as exited:
        gmoda(["ingest", "--partner", f"../{tmp_path.name}"])
    assert exited.value.code == 2
    with pytest.raises(PathRefused):
        ingest_landing_zone(instance, defs, platform, ["../nhs"])
