"""The ``rule_coverage`` check: every log source in the data is seen by at least one loaded rule.

The datasets (``event.dataset``) present in the window are found one query at a time (the
newest event of a dataset not yet seen), so no backend needs a "distinct" operation. For each
dataset, the logsource facets of its newest ``params.samples`` events
(``siem.detect.logsource.event_logsources``, the engine's own routing) are compared with the
loaded Sigma rules' logsources (``rule_applies``): a dataset no rule applies to is uncovered.
``lists.ignore`` names datasets not to judge (e.g. ``unknown``, lines no parser understood).
With ``detection.logsource: any`` every rule sees every event, so any loaded rule covers all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siem import event as ecs
from siem.compliance.model import FAIL, PASS, Check, CheckResult
from siem.compliance.quoting import any_of
from siem.detect.logsource import event_logsources, rule_applies
from siem.detect.model import Logsource
from siem.errors import ConfigError
from siem.query import parse_query
from siem.store.base import EventQuery

if TYPE_CHECKING:
    from siem.compliance.runner import ScanContext

#: Stop looking for more datasets after this many (a guard against a runaway loop).
MAX_DATASETS = 500


def datasets_in(context: ScanContext, since: float, ignore: tuple[str, ...] = ()) -> list[str]:
    """The distinct ``event.dataset`` values of events in the window (and site), newest first."""
    found: list[str] = []
    site = {ecs.LABEL_SITE: context.site} if context.site is not None else {}
    while len(found) < MAX_DATASETS:
        text = f"{ecs.DATASET}:*"
        if found or ignore:
            text += f" AND NOT {ecs.DATASET}:{any_of([*found, *ignore])}"
        newest = next(iter(context.store.search(EventQuery(
            since=since, until=context.now, fields=site, expression=parse_query(text), limit=1))), None)
        if newest is None:
            break
        found.append(str(newest[ecs.DATASET]))
    return found


def rule_coverage(check: Check, context: ScanContext) -> CheckResult:
    """How many datasets in the window no loaded rule applies to; details name them."""
    if context.rule_logsources is None:
        raise ConfigError("no Sigma rule loaded: set detection.rules in siem.yaml (or check the rule paths)")
    since = context.window_start(check)
    samples = max(1, int(check.param("samples", 20)))
    site = {ecs.LABEL_SITE: context.site} if context.site is not None else {}
    uncovered: list[str] = []
    datasets = datasets_in(context, since, check.texts("ignore"))
    for dataset in datasets:
        fields = {**site, ecs.DATASET: dataset}
        events = context.store.search(EventQuery(since=since, until=context.now, fields=fields, limit=samples))
        facets: set[Logsource] = set()
        for item in events:
            facets.update(event_logsources(item))
        if not _covered(facets, context.rule_logsources, context.logsource_mode):
            uncovered.append(dataset)
    result = CheckResult(check, PASS if check.passes(len(uncovered)) else FAIL, value=float(len(uncovered)))
    result.details.append(f"{len(datasets)} datasets seen, {len(context.rule_logsources)} rules loaded")
    for dataset in sorted(uncovered):
        count = context.store.count(EventQuery(since=since, until=context.now, fields={**site, ecs.DATASET: dataset}))
        result.details.append(f"{dataset}: {count} events, no rule for its logsource")
    return result


def _covered(facets: set[Logsource], rules: tuple[Logsource, ...], mode: str) -> bool:
    if mode == "any":
        return bool(rules)
    return any(rule_applies(rule, facet) for rule in rules for facet in facets)
