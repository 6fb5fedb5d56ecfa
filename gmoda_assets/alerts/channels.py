"""Where alerts go: email through an SMTP server and/or JSON posted to a webhook, both set in the environment.

GMODA_ALERT_SMTP_HOST       SMTP server (a relay); unset: no email
GMODA_ALERT_SMTP_PORT       default 25; 465 means TLS from the start
GMODA_ALERT_FROM            sender address (required with a host)
GMODA_ALERT_TO              recipients, comma-separated (required with a host)
GMODA_ALERT_SMTP_USER       optional login; the password then goes only over TLS
GMODA_ALERT_SMTP_PASSWORD
GMODA_ALERT_WEBHOOK_URL     receives each alert as a JSON POST (``text`` holds the whole message, as chat
                            webhooks expect); unset: no webhook
GMODA_UI_URL                the Dagster UI the links in an alert lead to (default http://127.0.0.1:3000)

With neither a host nor a webhook set, alerts are off. Dagster's own ``make_email_on_run_failure_sensor``
always logs in, so it cannot use a relay that takes mail without a login, as most internal relays do.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage

DEFAULT_UI_URL = "http://127.0.0.1:3000"
TIMEOUT_SECONDS = 30


class AlertConfigError(ValueError):
    """The alert settings in the environment are incomplete or malformed."""


class AlertNotSent(RuntimeError):
    """At least one channel refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class Alert:
    """One alert: a subject, the lines of its message, and the same as fields for a webhook's receiver."""

    kind: str  # run_failure, check_failure, overdue_feeds
    subject: str
    lines: list[str]
    fields: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def payload(self) -> dict:
        return {"text": f"{self.subject}\n\n{self.text}", "kind": self.kind, "subject": self.subject, **self.fields}


@dataclass(frozen=True)
class AlertSettings:
    smtp_host: str | None = None
    smtp_port: int = 25
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    webhook_url: str | None = None
    ui_url: str = DEFAULT_UI_URL

    @classmethod
    def from_env(cls) -> AlertSettings:
        host = os.environ.get("GMODA_ALERT_SMTP_HOST", "").strip()
        sender = os.environ.get("GMODA_ALERT_FROM", "").strip()
        recipients = tuple(a.strip() for a in os.environ.get("GMODA_ALERT_TO", "").split(",") if a.strip())
        user = os.environ.get("GMODA_ALERT_SMTP_USER", "").strip()
        password = os.environ.get("GMODA_ALERT_SMTP_PASSWORD", "")
        port = os.environ.get("GMODA_ALERT_SMTP_PORT", "").strip() or "25"
        webhook = os.environ.get("GMODA_ALERT_WEBHOOK_URL", "").strip()
        ui_url = os.environ.get("GMODA_UI_URL", "").strip() or DEFAULT_UI_URL
        if host and not (sender and recipients):
            raise AlertConfigError("GMODA_ALERT_SMTP_HOST is set: GMODA_ALERT_FROM and GMODA_ALERT_TO (comma-separated "
                                   "addresses) must be set too.")
        if bool(user) != bool(password):
            raise AlertConfigError("GMODA_ALERT_SMTP_USER and GMODA_ALERT_SMTP_PASSWORD are set together or not at all.")
        if not port.isdigit():
            raise AlertConfigError(f"GMODA_ALERT_SMTP_PORT must be a port number, not {port!r}.")
        if webhook and not webhook.startswith(("http://", "https://")):
            raise AlertConfigError("GMODA_ALERT_WEBHOOK_URL must be an http:// or https:// URL.")
        return cls(smtp_host=host or None, smtp_port=int(port), sender=sender or None, recipients=recipients,
                   smtp_user=user or None, smtp_password=password or None, webhook_url=webhook or None,
                   ui_url=ui_url.rstrip("/"))

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host or self.webhook_url)


def send(alert: Alert, settings: AlertSettings) -> list[str]:
    """Send ``alert`` to every channel set; return where it went. Every channel is tried; AlertNotSent names
    those that failed."""
    sent, failed = [], []
    for name, deliver, wanted in (("email", _email, settings.smtp_host), ("webhook", _webhook, settings.webhook_url)):
        if not wanted:
            continue
        try:
            deliver(alert, settings)
            sent.append(name)
        except (OSError, smtplib.SMTPException) as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if failed:
        raise AlertNotSent(f"Alert '{alert.subject}' not sent by " + "; ".join(failed) + (f" (sent by {', '.join(sent)})" if sent else ""))
    return sent


def _email(alert: Alert, settings: AlertSettings) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = alert.subject, settings.sender, ", ".join(settings.recipients)
    message.set_content(alert.text)
    if settings.smtp_port == 465:
        server = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS,
                                  context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS)
    with server:
        server.ehlo()
        if settings.smtp_port != 465 and server.has_extn("starttls"):
            context = ssl.create_default_context()
            if not settings.smtp_user:  # opportunistic encryption to a relay: better than plain text, not a login
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            server.starttls(context=context)
            server.ehlo()
        elif settings.smtp_user and settings.smtp_port != 465:
            raise smtplib.SMTPNotSupportedError(f"{settings.smtp_host}:{settings.smtp_port} offers no STARTTLS: the "
                                                "password is not sent unencrypted.")
        if settings.smtp_user:
            server.login(settings.smtp_user, settings.smtp_password)
        server.send_message(message)


def _webhook(alert: Alert, settings: AlertSettings) -> None:
    request = urllib.request.Request(settings.webhook_url, data=json.dumps(alert.payload()).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # an HTTP error status raises
        response.read()
