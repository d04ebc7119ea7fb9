"""Suppressions: known false positives silenced by rule, site, address and daily time window.

A suppressed alert is still stored (and counted), but opens no incident and sends no mail.
Each suppression has a reason, its author and an expiry; creating and removing one is audited.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from siem.alert import Alert
from siem.errors import QueryError

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")
#: Alert facts an address suppression is compared with.
ADDRESS_FIELDS = ("source.ip", "destination.ip", "host.ip", "observer.ip", "client.ip", "server.ip")


@dataclass(frozen=True, slots=True)
class Suppression:
    """One silencing rule. Empty criteria match anything; all given criteria must match."""

    id: str
    reason: str
    created_by: str
    created_at: float
    #: Rule id or title glob (``*`` wildcards).
    rule: str | None = None
    site: str | None = None
    #: An IP address or CIDR network, compared with the alert's addresses.
    address: str | None = None
    #: Daily window ``HH:MM-HH:MM`` (UTC, event time); may wrap past midnight.
    between: str | None = None
    #: Wall-clock end (epoch seconds); None never expires.
    expires_at: float | None = None
    removed_at: float | None = None
    removed_by: str | None = None
    #: How many alerts it silenced.
    hits: int = 0

    def is_active(self, now: float) -> bool:
        """Not removed and not expired at ``now``."""
        return self.removed_at is None and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-safe dict."""
        return dataclasses.asdict(self)


def check_criteria(rule: str | None, site: str | None, address: str | None, between: str | None) -> None:
    """Raise QueryError for a suppression that matches everything or has unreadable criteria."""
    if not any((rule, site, address)):
        raise QueryError("a suppression needs at least one of --rule, --site or --address")
    if address is not None:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise QueryError(f"{address!r} is not an IP address or CIDR network") from None
    if between is not None and not _CLOCK.match(between.strip()):
        raise QueryError(f"cannot read time window {between!r}: use HH:MM-HH:MM (UTC), e.g. 01:00-03:30")


def matches(suppression: Suppression, alert: Alert, facts: Mapping[str, Any], now: float) -> bool:
    """Whether ``suppression`` silences ``alert`` (whose event fields are ``facts``) at ``now``."""
    if not suppression.is_active(now):
        return False
    if suppression.rule is not None and not (
        suppression.rule == alert.rule_id or fnmatch.fnmatchcase(alert.rule_title, suppression.rule)
    ):
        return False
    if suppression.site is not None and alert.site != suppression.site:
        return False
    if suppression.address is not None and not _address_matches(suppression.address, facts):
        return False
    return suppression.between is None or in_daily_window(suppression.between, alert.first_seen)


def _address_matches(address: str, facts: Mapping[str, Any]) -> bool:
    network = ipaddress.ip_network(address, strict=False)
    for name in ADDRESS_FIELDS:
        value = facts.get(name)
        if not isinstance(value, str):
            continue
        try:
            if ipaddress.ip_address(value) in network:
                return True
        except ValueError:
            continue
    return False


def in_daily_window(between: str, moment: float) -> bool:
    """Whether the UTC time of day of ``moment`` falls in ``HH:MM-HH:MM`` (end exclusive)."""
    found = _CLOCK.match(between.strip())
    if found is None:
        return False
    start = int(found.group(1)) * 60 + int(found.group(2))
    end = int(found.group(3)) * 60 + int(found.group(4))
    clock = datetime.fromtimestamp(moment, UTC)
    minute = clock.hour * 60 + clock.minute
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end
