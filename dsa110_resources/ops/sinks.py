"""Where alerts go: the log (always), e-mail over SMTP, a webhook (JSON POST).

Sinks are chosen per environment by ``DSA110_ALERT_SINKS`` (comma-separated
``log``, ``smtp``, ``webhook``; default ``log``) and configured from the
environment *when an alert is sent*, so an SMTP password or a webhook URL
(whose path is often the secret) never enters Dagster config, run records or
the UI. A sink that fails is logged and the others still get the alert.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger(__name__)

SINKS_ENV = "DSA110_ALERT_SINKS"


@dataclass(frozen=True)
class Alert:
    """One notification: a condition started (``firing``) or ended (``cleared``)."""

    key: str  # the condition, e.g. "disk:fast" (stable while it lasts)
    state: str  # firing | cleared
    severity: str  # warning | critical
    summary: str
    since: str  # ISO time the condition was first seen
    details: dict = field(default_factory=dict)

    @property
    def subject(self) -> str:
        word = "RESOLVED" if self.state == "cleared" else self.severity.upper()
        return f"[DSA-110 {word}] {self.summary}"

    def text(self) -> str:
        lines = [self.subject, f"condition: {self.key}", f"since: {self.since}"]
        lines += [f"{k}: {v}" for k, v in self.details.items()]
        return "\n".join(lines)


class AlertSink(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class SinkConfigError(ValueError):
    """An alert sink is chosen but a setting it needs is missing or malformed."""


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise SinkConfigError(f"{name} must be set for the alert sink chosen in {SINKS_ENV}")
    return value


def _require(*names: str) -> None:
    """Name every missing setting at once, not one per attempt."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise SinkConfigError(f"{', '.join(missing)} must be set for the alert sink chosen in {SINKS_ENV}")


class LogSink:
    name = "log"

    def send(self, alert: Alert) -> None:
        level = logging.INFO if alert.state == "cleared" else (
            logging.ERROR if alert.severity == "critical" else logging.WARNING)
        log.log(level, "%s", alert.text().replace("\n", " | "))


@dataclass
class SmtpSink:
    """E-mail through an SMTP relay (``DSA110_ALERT_SMTP_*``, ``DSA110_ALERT_EMAIL_*``)."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str | None = None
    password_env: str = "DSA110_ALERT_SMTP_PASSWORD"  # read at send time, never stored
    starttls: bool = False
    timeout: float = 20.0
    name: str = "smtp"

    @classmethod
    def from_env(cls) -> SmtpSink:
        _require("DSA110_ALERT_SMTP_HOST", "DSA110_ALERT_EMAIL_FROM", "DSA110_ALERT_EMAIL_TO")
        port = _env("DSA110_ALERT_SMTP_PORT", "25")
        if not port.isdigit():
            raise SinkConfigError(f"DSA110_ALERT_SMTP_PORT must be a port number, got {port!r}")
        recipients = [r.strip() for r in _env("DSA110_ALERT_EMAIL_TO").split(",") if r.strip()]
        return cls(host=_env("DSA110_ALERT_SMTP_HOST"), port=int(port),
                   sender=_env("DSA110_ALERT_EMAIL_FROM"), recipients=recipients,
                   username=os.environ.get("DSA110_ALERT_SMTP_USER") or None,
                   starttls=os.environ.get("DSA110_ALERT_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"))

    def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(alert.text() + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, _env(self.password_env))
            smtp.send_message(message)


@dataclass
class WebhookSink:
    """A JSON POST: ``text`` (what Slack/Mattermost/Teams-style hooks show) plus the alert."""

    url: str
    timeout: float = 20.0
    name: str = "webhook"

    @classmethod
    def from_env(cls) -> WebhookSink:
        url = _env("DSA110_ALERT_WEBHOOK_URL")
        if not url.startswith(("http://", "https://")):
            raise SinkConfigError("DSA110_ALERT_WEBHOOK_URL must be an http(s) URL")
        return cls(url=url)

    def send(self, alert: Alert) -> None:
        body = json.dumps({"text": alert.text(), "alert": asdict(alert)}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            # The URL may carry the hook's token: name the host only.
            host = urllib.parse.urlsplit(self.url).netloc
            raise RuntimeError(f"webhook at {host} answered HTTP {exc.code}") from None


_FACTORIES = {"log": LogSink, "smtp": SmtpSink.from_env, "webhook": WebhookSink.from_env}


def sinks_from_env(*, strict: bool = True) -> list[AlertSink]:
    """The sinks ``DSA110_ALERT_SINKS`` names; the log sink is always among them.

    ``strict=False`` (the sensors) logs a misconfigured sink and goes on with
    the rest, so a typo in the mail settings never silences the log.
    """
    names = [n.strip() for n in os.environ.get(SINKS_ENV, "log").split(",") if n.strip()]
    unknown = sorted(set(names) - set(_FACTORIES))
    if unknown and strict:
        raise SinkConfigError(f"{SINKS_ENV}: unknown sink(s) {unknown}; choose from {sorted(_FACTORIES)}")
    sinks: list[AlertSink] = []
    for name in dict.fromkeys(["log", *names]):
        try:
            if name not in _FACTORIES:
                raise SinkConfigError(f"{SINKS_ENV}: unknown sink {name!r}; choose from {sorted(_FACTORIES)}")
            sinks.append(_FACTORIES[name]())
        except SinkConfigError as exc:
            if strict:
                raise
            log.error("alert sink %s not used: %s", name, exc)
    return sinks


def deliver(alert: Alert, sinks: list[AlertSink]) -> dict[str, str]:
    """Send to every sink; ``{sink: "ok" | error}``. One failing sink does not stop the rest."""
    outcome = {}
    for sink in sinks:
        try:
            sink.send(alert)
            outcome[sink.name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any sink failure is reported, not raised
            log.error("alert sink %s failed for %s: %s", sink.name, alert.key, exc)
            outcome[sink.name] = f"failed: {exc}"
    return outcome
