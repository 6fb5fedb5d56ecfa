"""Other programs drive the platform through the webserver's GraphQL API with Dagster's own client, as in
README "Driving the platform from other programs": launch a job or a selection of its assets, then poll the run
to its end. The run is queued, started by the daemon and executed by a run worker, as a scheduled run is. The
whole job launched and polled this way, with the caller's tags, is proved by
``gmoda_assets_tests/lib/test_services.py`` (which runs it with the job's own executor): here, a selection of it."""

from __future__ import annotations

import time

import pytest
from dagster import AssetKey, DagsterRunStatus

ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
RUN_TIMEOUT = 20 * 60  # a refresh on a 2-core machine busy with other work
REQUESTED_BY = {"gmoda/requested_by": "graphql-client-test"}


@pytest.fixture(scope="module")
def client(running_ui):
    from dagster_graphql import DagsterGraphQLClient

    return DagsterGraphQLClient("127.0.0.1", port_number=running_ui.port)


def _wait(client, run_id: str) -> DagsterRunStatus:
    deadline = time.monotonic() + RUN_TIMEOUT
    while (status := client.get_run_status(run_id)) not in ENDED:
        assert time.monotonic() < deadline, f"run still {status.value} after {RUN_TIMEOUT} s"
        time.sleep(2)
    return status


def _checked_run(running_ui, run_id: str) -> tuple[set[AssetKey], set]:
    """The assets the run materialised and the checks it evaluated, from Dagster's storage; and its tags hold
    the caller's."""
    tags = dict(running_ui.dagster("SELECT key, value FROM run_tags WHERE run_id = %s", (run_id,)))
    assert REQUESTED_BY.items() <= tags.items()
    assets = {e.dagster_event.asset_key for e in running_ui.run_events(run_id, "ASSET_MATERIALIZATION")}
    checks = {e.dagster_event.event_specific_data.asset_check_key
              for e in running_ui.run_events(run_id, "ASSET_CHECK_EVALUATION")}
    return assets, checks


def test_a_program_launches_an_asset_selection_and_polls_it_to_success(client, running_ui, defs):
    """Three assets of the nightly job, with the job's default (multiprocess) executor: only they and their checks
    run. dim_partner's blocking check reads the other two, so the selection passes whatever ran before it."""
    selection = [AssetKey(["conformed", "dim_partner"]), AssetKey(["conformed", "dim_geography"]),
                 AssetKey(["ops", "feed_deliveries"])]
    run_id = client.submit_job_execution("nightly_refresh", run_config={}, tags=REQUESTED_BY, asset_selection=selection)
    assert _wait(client, run_id) == DagsterRunStatus.SUCCESS
    assets, checks = _checked_run(running_ui, run_id)
    assert assets == set(selection)
    assert checks == set(defs.resolve_asset_graph().get_check_keys_for_assets(selection))
    assert checks
