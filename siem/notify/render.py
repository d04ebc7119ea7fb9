"""Mail bodies from jinja2 templates (``siem/notify/templates``): plain text and HTML.

HTML templates are autoescaped, so alert fields from the network cannot inject markup. Text
is translated with the catalogues of :mod:`siem.i18n` (jinja2's i18n extension, ``_()``).
Messages follow RFC 5322; non-ASCII subjects are encoded per RFC 2047 by the SMTP policy, and
``Auto-Submitted: auto-generated`` (RFC 3834) stops auto-replies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from siem.alert import LEVELS
from siem.i18n import translations
from siem.notify.pending import PendingAlert

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

#: Colours of the severity badge in HTML mails.
_COLOURS = {
    "critical": "#b71c1c",
    "high": "#e65100",
    "medium": "#f9a825",
    "low": "#1565c0",
    "informational": "#616161",
}
#: Rows shown in full in a digest; the rest are counted.
DIGEST_ROWS = 50


def severity_names(lang: str) -> dict[str, str]:
    """Translated names of the alert levels."""
    _ = translations(lang).gettext
    return {
        "informational": _("informational"),
        "low": _("low"),
        "medium": _("medium"),
        "high": _("high"),
        "critical": _("critical"),
    }


@dataclass(frozen=True, slots=True)
class Mail:
    """A rendered mail before it is addressed."""

    subject: str
    text: str
    html: str
    severity: str


class Renderer:
    """Renders alert, digest and storm mails in one language and time zone."""

    def __init__(self, *, language: str, timezone: str) -> None:
        self.language = language
        self.zone = ZoneInfo(timezone)
        self._translations = translations(language)
        self._severity = severity_names(language)

    @cached_property
    def _env(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.install_gettext_translations(self._translations, newstyle=True)  # type: ignore[attr-defined]
        return env

    def gettext(self, message: str) -> str:
        """``message`` in this renderer's language."""
        return self._translations.gettext(message)

    def time(self, moment: float) -> str:
        """Epoch seconds as local time in the configured zone, e.g. ``2026-11-25 18:00:58 +07``."""
        if moment <= 0:
            return "-"
        return datetime.fromtimestamp(moment, self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    def alert_view(self, item: PendingAlert) -> dict[str, Any]:
        """What the templates show of one alert."""
        alert = item.alert
        fields = alert.matched_fields
        return {
            "title": alert.rule_title,
            "rule_id": alert.rule_id,
            "alert_id": alert.id,
            "summary": alert.summary or alert.rule_title,
            "level": alert.level,
            "severity": self._severity[alert.level] if alert.level in LEVELS else alert.level,
            "colour": _COLOURS[alert.level] if alert.level in _COLOURS else _COLOURS["informational"],
            "site": alert.site or "-",
            "zone": alert.zone or "-",
            "asset": _text(fields, "labels.asset_name"),
            "owner": _text(fields, "labels.asset_owner"),
            "first_seen": self.time(alert.first_seen),
            "last_seen": self.time(alert.last_seen),
            "count": alert.count,
            "events": len(alert.event_ids),
            "fields": sorted((str(key), _value(value)) for key, value in fields.items()),
            "tags": [tag for tag in alert.tags if tag.startswith("attack.")],
            "incident_id": item.incident_id,
            "command": f"siem incidents show {item.incident_id}" if item.incident_id else None,
        }

    def alert(self, item: PendingAlert) -> Mail:
        """The immediate mail for one alert."""
        view = self.alert_view(item)
        subject = self.gettext("[SIEM] {severity}: {title} ({site})").format(
            severity=view["severity"].upper(), title=view["title"], site=view["site"]
        )
        context = {"a": view, "subject": subject}
        return Mail(subject, self._render("alert.txt", context), self._render("alert.html", context), item.alert.level)

    def digest(self, route: str, items: Sequence[PendingAlert], since: float, until: float) -> Mail:
        """One mail listing the alerts collected for ``route``."""
        ordered = sorted(items, key=lambda item: (-item.alert.severity_rank, item.alert.first_seen))
        views = [self.alert_view(item) for item in ordered[:DIGEST_ROWS]]
        subject = self._translations.ngettext(
            "[SIEM] Digest: {count} alert ({route})", "[SIEM] Digest: {count} alerts ({route})", len(items)
        ).format(count=len(items), route=route)
        context = {
            "subject": subject,
            "alerts": views,
            "total": len(items),
            "hidden": max(len(items) - DIGEST_ROWS, 0),
            "since": self.time(since),
            "until": self.time(until),
            "by_severity": self._by_severity(items),
        }
        top = max(items, key=lambda item: item.alert.severity_rank).alert.level
        return Mail(subject, self._render("digest.txt", context), self._render("digest.html", context), top)

    def storm(self, route: str, items: Sequence[PendingAlert], since: float, until: float, sent: int) -> Mail:
        """One summary mail for the alerts the rate limit held back."""
        minutes = max(round((until - since) / 60), 1)
        subject = self.gettext("[SIEM] Alert storm: {count} alerts in {minutes} min ({route})").format(
            count=len(items), minutes=minutes, route=route
        )
        rules = Counter(item.alert.rule_title for item in items).most_common(10)
        sites = Counter(item.alert.site or "-" for item in items).most_common(10)
        sources = Counter(
            _text(item.alert.matched_fields, "source.ip") or "-" for item in items
        ).most_common(10)
        context = {
            "subject": subject,
            "total": len(items),
            "sent": sent,
            "minutes": minutes,
            "since": self.time(since),
            "until": self.time(until),
            "rules": rules,
            "sites": sites,
            "sources": sources,
            "by_severity": self._by_severity(items),
        }
        top = max(items, key=lambda item: item.alert.severity_rank).alert.level
        return Mail(subject, self._render("storm.txt", context), self._render("storm.html", context), top)

    def _by_severity(self, items: Sequence[PendingAlert]) -> list[tuple[str, int]]:
        counts = Counter(item.alert.level for item in items)
        return [(self._severity[level], counts[level]) for level in reversed(LEVELS) if counts[level]]

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self._env.get_template(name).render(context, lang=self.language)


def build_message(mail: Mail, *, sender: str, recipients: Sequence[str], date: float) -> EmailMessage:
    """An RFC 5322 message with a plain-text and an HTML part (multipart/alternative)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(datetime.fromtimestamp(date, UTC))
    message["Auto-Submitted"] = "auto-generated"
    message["X-SIEM-Severity"] = mail.severity
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return None if value is None or value == "" else _value(value)


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
