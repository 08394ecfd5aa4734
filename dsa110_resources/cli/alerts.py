"""``dsa110 alerts test``: send a test alert through the configured sinks."""

from __future__ import annotations

import datetime as dt

import click


@click.group("alerts")
def command() -> None:
    """Alert sinks (DSA110_ALERT_SINKS and the DSA110_ALERT_* settings)."""


@command.command("test")
def test_command() -> None:
    """Send one test alert to every configured sink; exit 1 if any fails."""
    from dsa110_resources.ops.sinks import Alert, SinkConfigError, deliver, sinks_from_env

    try:
        sinks = sinks_from_env()
    except SinkConfigError as exc:
        raise click.ClickException(str(exc)) from None
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    alert = Alert("test", "firing", "warning", "test alert from 'dsa110 alerts test'", now,
                  {"note": "no action needed"})
    outcome = deliver(alert, sinks)
    for name, result in outcome.items():
        click.echo(f"{name}: {result}")
    if any(result != "ok" for result in outcome.values()):
        raise SystemExit(1)
