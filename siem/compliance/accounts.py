"""The ``default_accounts`` check: successful logins with vendors' default account names.

The names are data in the check file: ``lists.accounts`` counts on any device,
``lists.camera_accounts`` only on cameras and recorders, that is events whose ``labels.zone``
is one of ``lists.camera_zones`` (default ``camera``) or whose ``labels.asset_type`` is one of
``lists.camera_types`` (default ``camera``, ``nvr``): ``root`` is a normal name on a Linux
server but a factory account on many cameras. The measured value is the number of successful
logins; details name each device and account, most logins first.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from siem import event as ecs
from siem.compliance.model import FAIL, PASS, Check, CheckResult
from siem.compliance.quoting import any_of
from siem.errors import ConfigError
from siem.query import parse_query
from siem.store.base import EventQuery

if TYPE_CHECKING:
    from siem.compliance.runner import ScanContext

_SUCCESSFUL_LOGIN = "event.category:authentication AND event.outcome:success"


def default_accounts_query(check: Check) -> str:
    """The search-language query for successful logins with the check's default accounts."""
    accounts, camera_accounts = check.texts("accounts"), check.texts("camera_accounts")
    if not accounts and not camera_accounts:
        raise ConfigError(f"check {check.id}: lists.accounts or lists.camera_accounts must name accounts",
                          path=check.path)
    parts = []
    if accounts:
        parts.append(f"user.name:{any_of(accounts)}")
    if camera_accounts:
        zones = check.texts("camera_zones") or ("camera",)
        types = check.texts("camera_types") or ("camera", "nvr")
        parts.append(f"(user.name:{any_of(camera_accounts)} AND "
                     f"(labels.zone:{any_of(zones)} OR labels.asset_type:{any_of(types)}))")
    return f"{_SUCCESSFUL_LOGIN} AND ({' OR '.join(parts)})"


def default_accounts(check: Check, context: ScanContext) -> CheckResult:
    """Successful logins with default vendor accounts, per site, each device and account named."""
    query = EventQuery(since=context.window_start(check), until=context.now,
                       expression=parse_query(default_accounts_query(check)),
                       fields={ecs.LABEL_SITE: context.site} if context.site is not None else {})
    logins: Counter[tuple[str, str, str]] = Counter()
    for item in context.store.scan(query):
        device = next((str(item[key]) for key in ("labels.asset_name", ecs.HOST_NAME, ecs.HOST_IP,
                                                   ecs.OBSERVER_HOSTNAME, ecs.OBSERVER_IP) if item.get(key)), "-")
        logins[(str(item.get(ecs.LABEL_SITE) or "-"), device, str(item.get(ecs.USER_NAME)))] += 1
    total = sum(logins.values())
    result = CheckResult(check, PASS if check.passes(total) else FAIL, value=float(total))
    for (site, _device, _user), count in logins.items():
        result.per_site[site] = result.per_site.get(site, 0.0) + count
    result.failing_sites = sorted(site for site, count in result.per_site.items() if not check.passes(count))
    top = max(1, int(check.param("top", 10)))
    for (site, device, user), count in logins.most_common(top):
        result.details.append(f"{user}@{device} ({site}): {count} successful logins")
    return result
