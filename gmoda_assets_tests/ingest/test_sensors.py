"""The per-partner sensor's cursor: content decides what is new, never clocks."""

import os
import shutil

from dagster import build_sensor_context

from gmoda_assets.ingest.sensors import drop_sensors
from gmoda_assets.lib import settings
from gmoda_assets.resources import LocalLandingZone
from gmoda_assets_tests.helpers import copy_drops

SENSOR = next(s for s in drop_sensors if s.name == "nhs_drops")


class CountingLandingZone(LocalLandingZone):
    """Counts how often file contents are hashed."""

    def sha256(self, partner, name):
        hashed.append(name)
        return super().sha256(partner, name)


hashed: list[str] = []


def tick(instance, cursor, landing_zone, sensor=SENSOR):
    """One sensor evaluation, with its partition requests applied as the daemon would."""
    result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources={"landing_zone": landing_zone}))
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


def test_sensor_cursor(platform, instance, simulated_month):
    lz = CountingLandingZone(root=platform.root, quarantine_root=platform.quarantine_root)
    files = copy_drops(simulated_month, settings.landing_dir(), ["nhs"])
    (settings.landing_dir() / "nhs" / "notes.txt").write_text("not a feed\n")
    (settings.landing_dir() / "nhs" / "GM_CHIS_Births_20251101.csv.part").write_text("still uploading")

    first = tick(instance, None, lz)
    requests = first.run_requests
    assert sorted(r.partition_key for r in requests if r.partition_key) == sorted(
        k for k in instance.get_dynamic_partitions("drops") if k.startswith("nhs.")
    )
    assert len([r for r in requests if r.partition_key]) == len(files)
    assert [r.job_name for r in requests if not r.partition_key] == ["quarantine_unrecognised_file"]
    assert all(r.asset_selection and r.asset_selection[0].path[:2] == ["raw", "nhs"] for r in requests if r.partition_key)

    # Nothing changed: no runs, and no file is hashed again.
    hashed.clear()
    second = tick(instance, first.cursor, lz)
    assert not second.run_requests and hashed == []

    # The same content re-delivered under another name is recognised and not requested again.
    births = next(p for p in files if "Births" in p.name)
    shutil.copyfile(births, births.with_name("GM_CHIS_Births_20991231.csv"))
    third = tick(instance, second.cursor, lz)
    assert not third.run_requests and hashed == ["GM_CHIS_Births_20991231.csv"]

    # A changed file under the same name, stamped with an OLDER modification time (a partner clock running
    # behind), is still seen: it is a new drop.
    before = births.stat()
    births.write_bytes(births.read_bytes() + births.read_bytes().splitlines(keepends=True)[1])
    os.utime(births, ns=(before.st_atime_ns - 10**12, before.st_mtime_ns - 10**12))
    fourth = tick(instance, third.cursor, lz)
    [request] = fourth.run_requests
    assert request.partition_key.startswith(f"nhs.births/{births.name}@")
    assert request.run_key == request.partition_key

    # A sensor that lost its cursor hashes everything again but requests nothing already registered.
    fresh = tick(instance, None, lz)
    assert [r.job_name for r in fresh.run_requests] == ["quarantine_unrecognised_file"]


def test_feed_without_live_agreement_stays_in_landing(platform, instance, simulated_month, monkeypatch):
    files = copy_drops(simulated_month, settings.landing_dir(), ["gmp"])
    monkeypatch.setenv("GMODA_TODAY", "2028-01-01")  # after every agreement has ended
    gmp = next(s for s in drop_sensors if s.name == "gmp_drops")
    result = tick(instance, None, platform, gmp)
    assert not result.run_requests and not instance.get_dynamic_partitions("drops")
    assert all(f.exists() for f in files)
    monkeypatch.setenv("GMODA_TODAY", "2026-01-01")  # renewed: the same files now flow
    renewed = tick(instance, result.cursor, platform, gmp)
    assert len(renewed.run_requests) == len(files)
