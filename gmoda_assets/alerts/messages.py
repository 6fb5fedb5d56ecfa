"""What an alert says: the run, the failing step or check, and the link to it in the UI, never a value of data.

An error's text is shown only when the platform wrote it, as a ``dagster.Failure`` (its messages name a drop, a
row number, a column and a fault, and database errors reach it with their values withheld); even then any quoted
value is withheld (``gmoda_assets.lib.redaction``). Any other exception, from a library or the database, may
quote the data it failed on, so only its class is named.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from gmoda_assets.alerts.channels import Alert
from gmoda_assets.lib.redaction import redacted

PREFIX = "[GM ODA]"
PLATFORM_ERRORS = {"Failure"}  # dagster.Failure: raised by the platform's code with a message written for people


def error_text(error) -> str:
    """One line for a Dagster ``SerializableErrorInfo``: the platform's own message redacted, otherwise the
    exception's class alone."""
    if error is None:
        return "no error recorded"
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):  # Dagster's wrapper of a user error
        error = error.cause
    if error.cls_name in PLATFORM_ERRORS:
        first = (error.message or "").strip().splitlines()[0] if (error.message or "").strip() else ""
        return redacted(first.split(": ", 1)[1] if first.startswith("dagster.") and ": " in first else first)
    return f"{error.cls_name} (its message is withheld, as it may quote data: the run's log in the UI has it)"


def run_link(ui_url: str, run_id: str, step_key: str | None = None) -> str:
    return f"{ui_url}/runs/{run_id}" + (f"?{urlencode({'logs': f'step:{step_key}'})}" if step_key else "")


def check_link(ui_url: str, asset_path: list[str], check_name: str) -> str:
    path = "/".join(quote(p, safe="") for p in asset_path)
    return f"{ui_url}/assets/{path}?{urlencode({'view': 'checks', 'checkDetail': check_name})}"


def _run_line(run) -> str:
    partition = run.tags.get("dagster/partition")
    return f"Run {run.run_id} of job {run.job_name}" + (f", partition {partition}" if partition else "")


def run_failure_alert(run, step_failures, failure_event, ui_url: str) -> Alert:
    """A failed run: each failing step with its error, and links to the run and to each step's log."""
    steps = [{"step": e.step_key, "error": error_text(e.event_specific_data.error),
              "link": run_link(ui_url, run.run_id, e.step_key)} for e in step_failures]
    lines = [f"{_run_line(run)} failed."]
    for step in steps:
        lines += [f"Step {step['step']} failed: {step['error']}", f"  {step['link']}"]
    if not steps:  # the run failed outside any step (it could not start, or was stopped)
        data = getattr(failure_event, "event_specific_data", None)
        lines.append(f"Reason: {error_text(getattr(data, 'error', None))}")
    link = run_link(ui_url, run.run_id)
    lines.append(f"Run in the Dagster UI: {link}")
    failing = ", ".join(s["step"] for s in steps) or "before any step"
    return Alert("run_failure", f"{PREFIX} Run failed: {run.job_name} ({failing})", lines,
                 {"run_id": run.run_id, "job": run.job_name, "partition": run.tags.get("dagster/partition"),
                  "steps": steps, "link": link})


def check_failure_alert(evaluation, run, ui_url: str) -> Alert:
    """A blocking check that failed: the check, its asset, the run, and links to the check and the run."""
    asset = evaluation.asset_key.to_user_string()
    link = check_link(ui_url, evaluation.asset_key.path, evaluation.check_name)
    lines = [f"Blocking check {evaluation.check_name} on {asset} failed in {_run_line(run)}.",
             f"Check in the Dagster UI: {link}", f"Run in the Dagster UI: {run_link(ui_url, run.run_id)}"]
    return Alert("check_failure", f"{PREFIX} Blocking check failed: {evaluation.check_name} on {asset}", lines,
                 {"check": evaluation.check_name, "asset": asset, "run_id": run.run_id, "job": run.job_name,
                  "partition": run.tags.get("dagster/partition"), "link": link})


def overdue_alert(feeds, ui_url: str) -> Alert:
    """Feeds that have gone past their cadence plus grace without a drop: each with its last drop and its
    raw asset's page."""
    lines, listed = [], []
    for feed in feeds:
        link = f"{ui_url}/assets/{'/'.join(feed.asset_key)}"
        lines += [f"{feed.feed_id}: last drop {feed.days_since} days ago ({feed.last_drop_at:%Y-%m-%d}); a "
                  f"{feed.cadence} feed is overdue after {feed.overdue_after_days} days.", f"  {link}"]
        listed.append({"feed": feed.feed_id, "days_since_last_drop": feed.days_since, "cadence": feed.cadence,
                       "overdue_after_days": feed.overdue_after_days, "link": link})
    names = ", ".join(f.feed_id for f in feeds)
    return Alert("overdue_feeds", f"{PREFIX} Overdue: {names}", lines, {"feeds": listed})
