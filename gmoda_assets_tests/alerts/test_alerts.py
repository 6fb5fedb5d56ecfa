"""Alerts, through a real SMTP session (aiosmtpd) and a real HTTP webhook, from failures recorded in the test's
Dagster instance: each failure told once, naming the run, the step or check and its link, never a value."""

from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Failure,
    MaterializeResult,
    asset,
    build_sensor_context,
    job,
    materialize,
    op,
)

from gmoda_assets.alerts.channels import AlertConfigError, AlertNotSent, AlertSettings
from gmoda_assets.alerts.sensors import (
    OFF_NOTED,
    alert_on_blocking_check_failure,
    alert_on_overdue_feeds,
    alert_on_run_failure,
)
from gmoda_assets.ingest.runner import ingest_landing_zone
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import contract_for
from gmoda_assets.lib.redaction import WITHHELD, database_errors_redacted
from gmoda_assets.resources import Warehouse

UI = "http://ui.example.org:3000"
NHS_NUMBER = "9434765919"  # a valid NHS number: what a failing cast of real data would quote
NAME = "Ada Okonkwo-Smith"
EYFSP = contract_for("stockport.eyfsp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    """A local SMTP server (no login, no TLS: an internal relay); yields the messages it accepted."""
    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope, email.message_from_bytes(envelope.original_content, policy=policy.default)))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, received
    controller.stop()


@pytest.fixture
def webhook():
    """A local HTTP server taking JSON posts; yields its URL and the payloads it received."""
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerts_on(monkeypatch, mailbox, webhook):
    controller, mails = mailbox
    url, posts = webhook
    for name, value in {"GMODA_ALERT_SMTP_HOST": "127.0.0.1", "GMODA_ALERT_SMTP_PORT": str(controller.port),
                        "GMODA_ALERT_FROM": "dagster@gmoda.example.org", "GMODA_ALERT_TO": "platform@gmoda.example.org, oncall@gmoda.example.org",
                        "GMODA_ALERT_WEBHOOK_URL": url, "GMODA_UI_URL": UI + "/"}.items():
        monkeypatch.setenv(name, value)
    return mails, posts


def _tick(sensor, instance, cursor):
    """One evaluation of ``sensor`` as the daemon makes it; returns the new cursor."""
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": Warehouse()})
    data = sensor.evaluate_tick(context)
    return data.cursor if data.cursor is not None else cursor


def _everything_sent(mails, posts) -> str:
    return "\n".join([m.as_string() for _, m in mails] + [json.dumps(p) for p in posts])


def _failing_job(warehouse_url):
    """Three steps failing the ways data can reach an error: a database error quoting an identifier, the same
    error through the platform's redaction, and a platform Failure that quotes one."""

    def bad_cast():
        with psycopg.connect(warehouse_url) as conn:
            conn.execute("SELECT %s::integer", (f"{NAME} {NHS_NUMBER}",))

    @op
    def cast_unguarded():
        bad_cast()

    @op
    def cast_redacted():
        with database_errors_redacted():
            bad_cast()

    @op
    def platform_failure():
        raise Failure(f'Row 7, column forename: "{NAME}" is not a code of the contract.')

    @job
    def failing_for_alerts():
        cast_unguarded()
        cast_redacted()
        platform_failure()

    return failing_for_alerts


def test_a_failed_run_is_alerted_once_by_email_and_webhook_without_identifier_values(instance, warehouse_url, alerts_on):
    mails, posts = alerts_on
    cursor = _tick(alert_on_run_failure, instance, None)  # the sensor starts: failures from now on
    result = _failing_job(warehouse_url).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run_id = result.run_id

    cursor = _tick(alert_on_run_failure, instance, cursor)
    assert len(mails) == 1 and len(posts) == 1
    envelope, mail = mails[0]
    assert envelope.rcpt_tos == ["platform@gmoda.example.org", "oncall@gmoda.example.org"]
    assert mail["Subject"].startswith("[GM ODA] Run failed: failing_for_alerts")
    body = mail.get_content()
    assert f"Run {run_id} of job failing_for_alerts failed." in body
    assert f"Run in the Dagster UI: {UI}/runs/{run_id}" in body
    for step in ("cast_unguarded", "cast_redacted", "platform_failure"):
        assert f"Step {step} failed" in body and f"{UI}/runs/{run_id}?logs=step%3A{step}" in body
    # The platform's messages are told, their quoted values withheld; a library's message is not told at all.
    assert "Database error 22P02 (InvalidTextRepresentation)" in body and WITHHELD in body
    assert "Row 7, column forename" in body
    assert "InvalidTextRepresentation (its message is withheld" in body
    [post] = posts
    assert post["kind"] == "run_failure" and post["run_id"] == run_id and post["link"] == f"{UI}/runs/{run_id}"
    assert {s["step"] for s in post["steps"]} == {"cast_unguarded", "cast_redacted", "platform_failure"}
    assert post["text"].startswith(mail["Subject"])
    # The event log itself holds the values (the unguarded step is not platform code): the alert must not.
    logged = "\n".join(str(e.dagster_event) for e in instance.all_logs(run_id) if e.dagster_event)
    assert NHS_NUMBER in logged
    sent = _everything_sent(mails, posts)
    assert NHS_NUMBER not in sent and NAME not in sent and "Okonkwo" not in sent

    # One alert per failure, not one per tick.
    _tick(alert_on_run_failure, instance, cursor)
    assert len(mails) == 1 and len(posts) == 1


@asset(check_specs=[AssetCheckSpec("rows_reconcile", asset="alerting_table", blocking=True),
                    AssetCheckSpec("codes_known", asset="alerting_table"),
                    AssetCheckSpec("has_rows", asset="alerting_table", blocking=True)])
def alerting_table():
    """A table whose blocking check fails, beside a failing check that does not block and a blocking one that passes."""
    return MaterializeResult(check_results=[
        AssetCheckResult(check_name="rows_reconcile", passed=False, severity=AssetCheckSeverity.ERROR),
        AssetCheckResult(check_name="codes_known", passed=False, severity=AssetCheckSeverity.WARN),
        AssetCheckResult(check_name="has_rows", passed=True),
    ])


def test_a_failed_blocking_check_is_alerted_once(instance, alerts_on):
    mails, posts = alerts_on
    cursor = _tick(alert_on_blocking_check_failure, instance, None)
    result = materialize([alerting_table], instance=instance, raise_on_error=False, tags={"dagster/partition": "p1"})

    cursor = _tick(alert_on_blocking_check_failure, instance, cursor)
    assert len(mails) == 1 and len(posts) == 1  # not the warning, not the check that passed
    _, mail = mails[0]
    assert mail["Subject"] == "[GM ODA] Blocking check failed: rows_reconcile on alerting_table"
    body = mail.get_content()
    assert f"Blocking check rows_reconcile on alerting_table failed in Run {result.run_id} of job __ephemeral_asset_job__" in body
    assert f"{UI}/assets/alerting_table?view=checks&checkDetail=rows_reconcile" in body
    assert f"{UI}/runs/{result.run_id}" in body
    assert posts[0]["check"] == "rows_reconcile" and posts[0]["asset"] == "alerting_table"

    _tick(alert_on_blocking_check_failure, instance, cursor)
    assert len(mails) == 1 and len(posts) == 1


def test_an_overdue_feed_is_alerted_once_per_overdue_spell(platform, instance, defs, warehouse_url, simulated_month, alerts_on):
    mails, posts = alerts_on
    [source] = (simulated_month / "stockport").glob("Stockport EYFSP *.csv")
    (settings.landing_dir() / "stockport").mkdir(parents=True, exist_ok=True)
    (settings.landing_dir() / "stockport" / source.name).write_bytes(source.read_bytes())
    assert ingest_landing_zone(instance, defs, platform, ["stockport"]).tally.runs_failed == 0

    def last_drop(days_ago: int) -> None:
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("UPDATE ops.drops SET processed_at = now() - make_interval(days => %s) WHERE feed_id = %s",
                         (days_ago, EYFSP.feed_id))

    last_drop(20)  # within its monthly cadence plus grace (38 days); the feeds that never delivered are not told
    cursor = _tick(alert_on_overdue_feeds, instance, None)
    assert not mails and not posts
    last_drop(40)
    cursor = _tick(alert_on_overdue_feeds, instance, cursor)
    assert len(mails) == 1 and len(posts) == 1
    _, mail = mails[0]
    assert mail["Subject"] == "[GM ODA] Overdue: stockport.eyfsp"
    assert ("stockport.eyfsp: last drop 40 days ago" in mail.get_content()
            and "a monthly feed is overdue after 38 days" in mail.get_content())
    assert f"{UI}/assets/raw/stockport/eyfsp" in mail.get_content()
    assert posts[0]["feeds"][0]["feed"] == "stockport.eyfsp" and posts[0]["feeds"][0]["days_since_last_drop"] == 40

    cursor = _tick(alert_on_overdue_feeds, instance, cursor)  # still overdue: not told again
    last_drop(3)  # it delivers,
    cursor = _tick(alert_on_overdue_feeds, instance, cursor)
    last_drop(39)  # and falls behind again: a new spell, told again
    _tick(alert_on_overdue_feeds, instance, cursor)
    assert len(mails) == 2 and len(posts) == 2


def test_alerts_are_off_when_unset_and_said_once(instance, warehouse_url, monkeypatch, capsys):
    for name in ("GMODA_ALERT_SMTP_HOST", "GMODA_ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    instance.run_storage.set_cursor_values({OFF_NOTED: ""})
    cursor = _tick(alert_on_run_failure, instance, None)
    for _ in range(2):
        assert not _failing_job(warehouse_url).execute_in_process(instance=instance, raise_on_error=False).success
    capsys.readouterr()
    cursor = _tick(alert_on_run_failure, instance, cursor)  # a failure per tick: the second is not said again
    _tick(alert_on_run_failure, instance, cursor)
    assert capsys.readouterr().err.count("Alerts are off: set GMODA_ALERT_SMTP_HOST") == 1
    assert instance.run_storage.get_cursor_values({OFF_NOTED}) == {OFF_NOTED: "1"}


def test_a_password_is_never_sent_unencrypted(mailbox, monkeypatch):
    from gmoda_assets.alerts.channels import Alert, send

    controller, mails = mailbox
    for name, value in {"GMODA_ALERT_SMTP_HOST": "127.0.0.1", "GMODA_ALERT_SMTP_PORT": str(controller.port),
                        "GMODA_ALERT_FROM": "a@example.org", "GMODA_ALERT_TO": "b@example.org",
                        "GMODA_ALERT_SMTP_USER": "dagster", "GMODA_ALERT_SMTP_PASSWORD": "s3cret-pass"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AlertNotSent, match="offers no STARTTLS") as refused:
        send(Alert("run_failure", "subject", ["line"]), AlertSettings.from_env())
    assert "s3cret-pass" not in str(refused.value) and not mails
    monkeypatch.delenv("GMODA_ALERT_TO")
    with pytest.raises(AlertConfigError, match="GMODA_ALERT_FROM and GMODA_ALERT_TO"):
        AlertSettings.from_env()
