"""Alert sensors: a failed run, a failed blocking check, an overdue feed, each told once by email and/or webhook.

Each failure is alerted once: the run-failure sensor's cursor is Dagster's (the last run-status event seen);
the check sensor's is the last check evaluation seen; the overdue sensor's holds each overdue feed with its last
drop, so a feed is told again only after it has delivered and fallen behind once more. A send that fails fails
its tick: the check and overdue sensors keep their cursor and try again on the next tick; Dagster's run-failure
sensor moves on (its tick and the run's log show the error). With no channel set, alerts are off, said once in
the sensors' log (a mark in the instance's key-value store, cleared when alerts are set again).
"""

import json

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from gmoda_assets.alerts.channels import AlertSettings, send
from gmoda_assets.alerts.messages import check_failure_alert, overdue_alert, run_failure_alert
from gmoda_assets.ingest.feed_deliveries import overdue_feeds
from gmoda_assets.lib import database
from gmoda_assets.resources import Warehouse

OFF_NOTED = "gmoda/alerts_off_noted"
CHECK_BATCH = 500  # check evaluations read per tick; the rest wait for the next


def alert_settings(context) -> AlertSettings | None:
    """The settings when alerts are on; None (having said so once per instance) when they are off."""
    settings = AlertSettings.from_env()
    storage = context.instance.run_storage
    noted = storage.get_cursor_values({OFF_NOTED}).get(OFF_NOTED) == "1"
    if settings.enabled:
        if noted:
            storage.set_cursor_values({OFF_NOTED: ""})
        return settings
    if not noted:
        context.log.warning("Alerts are off: set GMODA_ALERT_SMTP_HOST (with GMODA_ALERT_FROM and GMODA_ALERT_TO) "
                            "and/or GMODA_ALERT_WEBHOOK_URL to be told of failed runs, failed blocking checks and "
                            "overdue feeds. Said once.")
        storage.set_cursor_values({OFF_NOTED: "1"})
    return None


@run_failure_sensor(
    name="alert_on_run_failure",
    description="Emails and/or posts to a webhook once for each failed run: the run, its failing steps and links.",
    monitor_all_code_locations=True,  # runs `gmoda ingest` and `gmoda refresh` execute in their own process too
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def alert_on_run_failure(context: RunFailureSensorContext):
    settings = alert_settings(context)
    if settings is None:
        return SkipReason("Alerts are off.")
    alert = run_failure_alert(context.dagster_run, context.get_step_failure_events(), context.failure_event,
                              settings.ui_url)
    context.log.info(f"Run {context.dagster_run.run_id}: alert sent by {', '.join(send(alert, settings))}.")


@sensor(
    name="alert_on_blocking_check_failure",
    description="Emails and/or posts to a webhook once for each failed blocking check, with links to it and its run.",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def alert_on_blocking_check_failure(context: SensorEvaluationContext):
    storage = context.instance.event_log_storage
    if context.cursor is None:  # start from now: what failed before the sensor existed is not news
        latest = storage.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), limit=1)
        return SensorResult(skip_reason=SkipReason("Watching check evaluations from now on."),
                            cursor=str(latest[0].storage_id if latest else 0))
    records = storage.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION,
                                                           after_cursor=int(context.cursor)),
                                        limit=CHECK_BATCH, ascending=True)
    if not records:
        return SkipReason("No check evaluated since the last tick.")
    failed = [r for r in records if _failed_blocking(r.event_log_entry.dagster_event.event_specific_data)]
    settings = alert_settings(context) if failed else None
    for record in failed if settings else []:
        run = context.instance.get_run_by_id(record.run_id)
        alert = check_failure_alert(record.event_log_entry.dagster_event.event_specific_data, run, settings.ui_url)
        context.log.info(f"{alert.subject}: alert sent by {', '.join(send(alert, settings))}.")
    return SensorResult(skip_reason=SkipReason(f"{len(failed)} failed blocking check(s) among {len(records)}."),
                        cursor=str(records[-1].storage_id))


def _failed_blocking(evaluation) -> bool:
    return not evaluation.passed and bool(evaluation.blocking) and evaluation.severity == AssetCheckSeverity.ERROR


@sensor(
    name="alert_on_overdue_feeds",
    description="Emails and/or posts to a webhook when a feed goes past its contract's cadence plus a week's grace "
                "without a drop; once per overdue spell.",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=3600,
)
def alert_on_overdue_feeds(context: SensorEvaluationContext, warehouse: Warehouse):
    told = json.loads(context.cursor) if context.cursor else {}
    with warehouse.as_role(database.LOADER).connect() as conn:  # the ledger's keeper
        overdue = overdue_feeds(conn)
    now = {f.feed_id: f.last_drop_at.isoformat() for f in overdue}
    news = [f for f in overdue if told.get(f.feed_id) != now[f.feed_id]]
    if not news:
        return SensorResult(skip_reason=SkipReason(f"{len(overdue)} feed(s) overdue, none newly."),
                            cursor=json.dumps(now, sort_keys=True))
    settings = alert_settings(context)
    if settings is None:  # told no one: a feed still overdue is told once alerts are set
        return SensorResult(skip_reason=SkipReason("Alerts are off."),
                            cursor=json.dumps({k: v for k, v in told.items() if k in now}, sort_keys=True))
    alert = overdue_alert(news, settings.ui_url)
    context.log.info(f"{alert.subject}: alert sent by {', '.join(send(alert, settings))}.")
    return SensorResult(skip_reason=SkipReason(f"{len(news)} feed(s) newly overdue: alert sent."),
                        cursor=json.dumps(now, sort_keys=True))


alert_sensors = [alert_on_run_failure, alert_on_blocking_check_failure, alert_on_overdue_feeds]
