"""The code location loads, and every asset carries what analysts and the platform team rely on."""

import subprocess
import sys
from datetime import timedelta

from dagster import AssetCheckKey, AssetKey, AssetsDefinition, DefaultScheduleStatus, DefaultSensorStatus

from gmoda_assets.ingest.jobs import ingest_jobs
from gmoda_assets.lib.contracts import CADENCE_DAYS, feed_contracts, partners
from gmoda_assets.resources import WAREHOUSE_POOL


def test_definitions_load_with_every_asset_documented_and_checked(defs):
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {AssetKey(c.asset_key) for c in feed_contracts()} <= keys
    assert len([k for k in keys if k.path[0] == "raw"]) == 34
    checked = {k.asset_key for k in graph.asset_check_keys}
    for key in keys:
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert "dagster/column_schema" in node.metadata, key
        assert key in checked, f"{key.to_user_string()} has no data-quality check"
        assert node.group_name == key.path[0], key
    assert any(graph.get_check_spec(k).blocking for k in graph.asset_check_keys if k.asset_key.path[0] == "raw")


def test_each_raw_asset_is_late_and_overdue_by_its_contracts_cadence(defs):
    """The UI's freshness: a monthly feed warns after 31 days without a drop and fails after 38."""
    graph = defs.resolve_asset_graph()
    for contract in feed_contracts():
        policy = graph.get(AssetKey(contract.asset_key)).freshness_policy
        assert (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta()) == (
            timedelta(days=CADENCE_DAYS[contract.cadence]), timedelta(days=contract.overdue_after_days)), contract.feed_id
        assert graph.get_check_spec(AssetCheckKey(AssetKey(contract.asset_key), "volume_as_expected")).blocking


def test_the_refresh_runs_each_step_in_its_own_process_and_warehouse_builds_share_one_pool(defs):
    repo = defs.get_repository_def()
    nightly = repo.get_job("nightly_refresh")
    assert list(nightly.run_config["execution"]["config"]) == ["multiprocess"]  # unless a run asks for in_process
    assert all(repo.get_job(job.name).executor_def.name == "in_process" for job in ingest_jobs.values())
    pools = {a.node_def.name: a.node_def.pool for a in defs.assets if isinstance(a, AssetsDefinition)}
    built = {n.name for n in nightly.graph.node_defs}
    # Every table the refresh builds takes a slot while it is built.
    assert built and all(pools[name] == WAREHOUSE_POOL for name in built)


def test_sensors_schedule_and_jobs(defs):
    repo = defs.get_repository_def()
    sensors = {s.name: s for s in repo.sensor_defs}
    assert set(sensors) == {f"{p}_drops" for p in partners()} | {
        "alert_on_run_failure", "alert_on_blocking_check_failure", "alert_on_overdue_feeds"}
    assert all(s.default_status == DefaultSensorStatus.RUNNING for s in sensors.values())
    [schedule] = repo.schedule_defs
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/London")
    assert schedule.job_name == "nightly_refresh" and schedule.default_status == DefaultScheduleStatus.RUNNING
    nightly = repo.get_job("nightly_refresh")
    selected = nightly.asset_layer.selected_asset_keys
    assert selected and not any(k.path[0] == "raw" for k in selected)
    assert "quarantine_unrecognised_file" in repo.job_names
    # One ingest job per feed, partitioned by its raw asset's own definition, targeted by its partner's sensor.
    graph, names = defs.resolve_asset_graph(), set()
    for contract in feed_contracts():
        job = repo.get_job(ingest_jobs[contract.feed_id].name)
        assert job.asset_layer.selected_asset_keys == {AssetKey(contract.asset_key)}
        assert job.partitions_def == graph.get(AssetKey(contract.asset_key)).partitions_def
        assert job.name in {j.name for j in sensors[f"{contract.partner}_drops"].jobs}
        names.add(job.partitions_def.name)
    assert len(names) == len(feed_contracts()) == 34


def test_loading_definitions_imports_no_heavy_library():
    code = ("import sys; import gmoda_assets.definitions; "
            "print(sorted(m for m in ('great_expectations', 'sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
