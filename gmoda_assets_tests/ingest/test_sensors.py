"""The per-partner sensor's cursor: content decides what is new, never clocks, and files settle before they load."""

import os
import shutil

from gmoda_assets.ingest.drops import feed_partitions
from gmoda_assets.ingest.jobs import PRIORITY_TAG, ingest_jobs
from gmoda_assets.lib import settings
from gmoda_assets.resources import LocalLandingZone
from gmoda_assets_tests.helpers import all_drop_keys, copy_drops, registered_drops
from gmoda_assets_tests.ingest.sensing import launch, tick


class CountingLandingZone(LocalLandingZone):
    """Counts how often file contents are hashed."""

    def sha256(self, partner, name):
        hashed.append(name)
        return super().sha256(partner, name)


hashed: list[str] = []


def test_sensor_cursor(platform, instance, defs, simulated_month):
    lz = CountingLandingZone(root=platform.root, quarantine_root=platform.quarantine_root)
    files = copy_drops(simulated_month, settings.landing_dir(), ["nhs"])
    (settings.landing_dir() / "nhs" / "notes.txt").write_text("not a feed\n")
    (settings.landing_dir() / "nhs" / "GM_CHIS_Births_20251101.csv.part").write_text("still uploading")

    # First look: the settle time is 0 s here, so every file written before the tick has settled; the one still
    # uploading (.part) is not seen at all.
    second = tick(instance, None, lz)
    requests = second.run_requests
    assert sorted(r.partition_key for r in requests if r.partition_key) == sorted(
        k for k in all_drop_keys(instance) if k.startswith("nhs.")
    )
    assert len([r for r in requests if r.partition_key]) == len(files)
    assert [r.job_name for r in requests if not r.partition_key] == ["quarantine_unrecognised_file"]
    # Each drop is registered in its own feed's partitions definition only, and run by its feed's job.
    registered = registered_drops(instance)
    for request in (r for r in requests if r.partition_key):
        feed_id = request.partition_key.partition("/")[0]
        assert request.job_name == ingest_jobs[feed_id].name
        assert [n for n, keys in registered.items() if request.partition_key in keys] == [feed_partitions[feed_id].name]
    # The daemon starts the largest drops first: a drop's run is as high in its queue as its file is large.
    sizes = {p.name: p.stat().st_size for p in files}
    priority = {r.tags["gmoda/file"]: int(r.tags[PRIORITY_TAG]) for r in requests if r.partition_key}
    by_size = sorted(priority, key=sizes.get)
    assert [priority[name] for name in by_size] == sorted(priority.values())
    assert priority[by_size[-1]] > priority[by_size[0]]
    launch(instance, defs, second)

    # Nothing changed: no runs, and no file is hashed again.
    hashed.clear()
    third = tick(instance, second.cursor, lz)
    assert not third.run_requests and hashed == []

    # The same content re-delivered under another name is recognised and not requested again.
    births = next(p for p in files if "Births" in p.name)
    shutil.copyfile(births, births.with_name("GM_CHIS_Births_20991231.csv"))
    fourth = tick(instance, third.cursor, lz)
    assert not fourth.run_requests and hashed == ["GM_CHIS_Births_20991231.csv"]

    # A changed file under the same name, stamped with an OLDER modification time (a partner clock running
    # behind), is still seen: it is a new drop.
    before = births.stat()
    births.write_bytes(births.read_bytes() + births.read_bytes().splitlines(keepends=True)[1])
    os.utime(births, ns=(before.st_atime_ns - 10**12, before.st_mtime_ns - 10**12))
    [request] = tick(instance, fourth.cursor, lz).run_requests
    assert request.partition_key.startswith(f"nhs.births/{births.name}@")
    assert request.run_key == request.partition_key

    # A sensor that lost its cursor hashes everything again but requests nothing the ledger holds: only the
    # changed births file, whose run has not been launched.
    fresh = tick(instance, None, lz)
    assert [r.partition_key for r in fresh.run_requests] == [request.partition_key]


def test_feed_without_live_agreement_stays_in_landing(platform, instance, simulated_month, monkeypatch):
    files = copy_drops(simulated_month, settings.landing_dir(), ["gmp"])
    monkeypatch.setenv("GMODA_DRILL", "1")  # a governance drill: the only way to move the date
    monkeypatch.setenv("GMODA_TODAY", "2028-01-01")  # after every agreement has ended
    seen = tick(instance, None, platform, "gmp")
    result = tick(instance, seen.cursor, platform, "gmp")
    assert not result.run_requests and not all_drop_keys(instance)
    assert all(f.exists() for f in files)
    monkeypatch.setenv("GMODA_TODAY", "2026-01-01")  # renewed: the same files now flow
    renewed = tick(instance, result.cursor, platform, "gmp")
    assert len(renewed.run_requests) == len(files)


def test_redelivery_logged_once(platform, instance, defs, simulated_month, capfd):
    """A re-delivery is noted on the tick that recognises it and never again, including when its file was first
    seen before its content was held (the original and the re-delivery landing together)."""
    [original] = copy_drops(simulated_month, settings.landing_dir(), ["stockport_homes"])
    shutil.copyfile(original, original.with_name("SH_Tenancy_Members_20991231.csv"))
    cursor = None
    for _ in range(2):  # the original requested, the re-delivery held by it; then nothing new
        result = tick(instance, cursor, platform, "stockport_homes")
        launch(instance, defs, result)
        cursor = result.cursor
    for _ in range(2):  # two more ticks over the same re-delivered file, now held by the ledger
        cursor = tick(instance, cursor, platform, "stockport_homes").cursor
    logged = capfd.readouterr().err
    assert logged.count("SH_Tenancy_Members_20991231.csv: same content as drop") == 1
    assert "SH_Tenancy_Members_20251101.csv: same content" not in logged



def _sessions(conn) -> tuple[int, set[int]]:
    """The sessions the server has ended so far (a backend counts its own as it exits) and the backends open now."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    ended = conn.execute("SELECT sum(sessions)::bigint FROM pg_stat_database").fetchone()[0]
    return ended, {pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'")}


def test_an_idle_tick_opens_no_session(platform, instance, defs, warehouse_url):
    """A partner sensor's tick that finds nothing new, evaluated as the code server evaluates it (an instance made
    for the tick from the reference the daemon hands out), reuses the connections the tick before it opened, to
    the ledger and to Dagster's storage: 13 partners tick every 30 s. It opened eight (seven to Dagster's storage,
    six of them to look its tables up in the catalog)."""
    import time

    import psycopg
    from dagster._cli.utils import get_instance_for_cli
    from dagster._grpc.impl import get_external_sensor_execution

    from gmoda_assets.lib.daemon import _pooled

    repo, partners = defs.get_repository_def(), ["bolton", "nhs", "gmp"]
    with _pooled(get_instance_for_cli)() as daemon_instance, psycopg.connect(warehouse_url, autocommit=True) as conn:
        cursors = {}

        def tick_each() -> None:
            for partner in partners:
                result = get_external_sensor_execution(repo, None, daemon_instance.get_ref(), f"{partner}_drops",
                                                       None, None, cursors.get(partner), None, None)
                assert not result.run_requests and "No new drops" in result.skip_message
                cursors[partner] = result.cursor

        tick_each()  # the first ticks open what the next ones reuse
        ended_before, open_before = _sessions(conn)
        for _ in range(3):
            tick_each()
        time.sleep(0.5)  # for the last closed sessions to be counted
        ended, open_now = _sessions(conn)
        assert (ended - ended_before, len(open_now - open_before)) == (0, 0)
