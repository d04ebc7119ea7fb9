"""The ``clock_skew`` check: how far devices' clocks are from the time their logs arrived.

An event's device time is ``@timestamp``; its receive time is ``event.ingested`` when a source
sets it, else ``event.created`` (the syslog parser sets it to the moment the record was
received, see collectors/parsers/syslog.py). Per device (inventory asset name, host name,
observer name or address) the check takes the median of ``@timestamp - receive time`` over its
latest ``params.samples_per_device`` events, so a few messages delayed in transit do not make
a good clock look bad; the measured value is the worst device's absolute median, in seconds.
At most the newest ``params.max_events`` events of the window are read (the cost bound).

``lists.inputs`` (optional) keeps only events whose ``siem.input`` starts with one of these
prefixes: a file read days after it was written has a receive time that says nothing about
the writer's clock.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from siem import event as ecs
from siem.compliance.model import FAIL, PASS, Check, CheckResult
from siem.query import parse_query
from siem.store.base import EventQuery

if TYPE_CHECKING:
    from siem.compliance.runner import ScanContext

#: Fields naming the device that wrote an event, in order of preference.
DEVICE_FIELDS = ("labels.asset_name", ecs.HOST_NAME, ecs.OBSERVER_HOSTNAME, ecs.OBSERVER_IP, ecs.INPUT)
_WITH_RECEIVE_TIME = parse_query(f"{ecs.INGESTED}:* OR {ecs.CREATED}:*")


@dataclass(slots=True)
class _Device:
    site: str
    offsets: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.offsets)


def clock_skew(check: Check, context: ScanContext) -> CheckResult:
    """The worst device's median clock offset in seconds, per site, with the worst offenders."""
    samples = max(1, int(check.param("samples_per_device", 100)))
    top = max(1, int(check.param("top", 10)))
    limit = max(1, int(check.param("max_events", 100_000)))
    prefixes = check.texts("inputs")
    query = EventQuery(since=context.window_start(check), until=context.now, expression=_WITH_RECEIVE_TIME,
                       fields={ecs.LABEL_SITE: context.site} if context.site is not None else {},
                       limit=limit, newest_first=True)
    devices: dict[str, _Device] = {}
    read = 0
    for item in context.store.search(query):
        read += 1
        if prefixes and not str(item.get(ecs.INPUT, "")).startswith(prefixes):
            continue
        offset = _offset(item)
        if offset is None:
            continue
        name = next((str(item[key]) for key in DEVICE_FIELDS if item.get(key)), "-")
        device = devices.get(name)
        if device is None:
            device = devices[name] = _Device(str(item.get(ecs.LABEL_SITE) or "-"))
        if len(device.offsets) < samples:  # newest first: keep each device's latest events
            device.offsets.append(offset)
    medians = {name: device.median() for name, device in devices.items()}
    worst = max((abs(value) for value in medians.values()), default=0.0)
    result = CheckResult(check, PASS if check.passes(worst) else FAIL, value=round(worst, 1))
    for name, value in medians.items():
        site = devices[name].site
        result.per_site[site] = max(result.per_site.get(site, 0.0), round(abs(value), 1))
    result.failing_sites = sorted(site for site, value in result.per_site.items() if not check.passes(value))
    offenders = sorted((name for name in medians if not check.passes(abs(medians[name]))),
                       key=lambda name: -abs(medians[name]))
    result.details.append(f"{len(medians)} devices checked, {len(offenders)} beyond {check.threshold()} s"
                          + (f" (newest {limit} events of the window)" if read >= limit else ""))
    for name in offenders[:top]:
        device = devices[name]
        result.details.append(f"{name} ({device.site}): {medians[name]:+.0f} s "
                              f"(median of {len(device.offsets)} events)")
    return result


def _offset(item: ecs.Event) -> float | None:
    """``@timestamp`` minus the receive time, in seconds (None when either is missing or bad)."""
    stamp, received = item.get(ecs.TIMESTAMP), item.get(ecs.INGESTED) or item.get(ecs.CREATED)
    if not isinstance(stamp, str) or not isinstance(received, str):
        return None
    try:
        return ecs.parse_timestamp(stamp) - ecs.parse_timestamp(received)
    except ValueError:
        return None
