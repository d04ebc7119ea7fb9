"""Send a report by e-mail through the durable outbox of :mod:`siem.notify` (HTML + text part).

A report goes to the routes named, or else to every city-wide route (one without ``sites``):
a ward's route receives its own ward's alerts, not the city's report. Each message's outbox
key names the route and the period, so a report queued twice for the same period and end
(a scheduled job run again after a crash) is sent once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siem.errors import ConfigError
from siem.i18n import gettext as _
from siem.notify.config import EmailConfig, RouteConfig
from siem.notify.outbox import Outbox
from siem.notify.render import Mail, build_message


def report_routes(config: EmailConfig, names: Sequence[str] = ()) -> list[RouteConfig]:
    """The routes a report goes to: ``names``, else every route without a site filter."""
    if not config.enabled:
        raise ConfigError(_("e-mail is off: set email.enabled: true in the configuration"))
    if names:
        known = {route.name: route for route in config.routes}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(_("no route named {name} (routes: {names})").format(
                name=", ".join(unknown), names=", ".join(known) or "-"))
        return [known[name] for name in names]
    routes = [route for route in config.routes if not route.sites]
    if not routes:
        raise ConfigError(_("no city-wide e-mail route (one without sites): add one, or name routes with --route"))
    return routes


def queue_report(config: EmailConfig, outbox_dir: Path, routes: Sequence[RouteConfig], *, subject: str,
                 text: str, html: str, key: str, now: float) -> int:
    """Put one message per route into the outbox; returns how many were new."""
    outbox = Outbox(outbox_dir, keep_sent=config.keep_sent)
    mail = Mail(subject, text, html, "informational")
    queued = 0
    for route in routes:
        message = build_message(mail, sender=config.from_address, recipients=route.recipients, date=now)
        if outbox.enqueue(message, f"report:{route.name}:{key}") is not None:
            queued += 1
    return queued
