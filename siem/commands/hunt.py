"""``siem hunt``: run Sigma rules over the events already stored, and raise alerts for hits."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from siem.app import App, AppOptions
from siem.errors import QueryError
from siem.i18n import _
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_moment


def _moment(param: str, text: str | None, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint=param) from exc


@click.command("hunt")
@click.option("--rules", "rule_paths", multiple=True, metavar="PATH",
              type=click.Path(exists=True),
              help="Rule file or folder (repeatable; default: the configured rules).")
@click.option("--since", default="7d", show_default=True, metavar="WHEN",
              help=f"Events at or after WHEN: {TIME_HELP}.")
@click.option("--until", metavar="WHEN", help="Events at or before WHEN (default: now).")
@click.option("--site", metavar="SITE", help="Only events of this site (labels.site).")
@click.option("--engine", type=click.Choice(["auto", "stream", "backend"]), default="auto",
              show_default=True,
              help="stream: the detection engine over stored events; backend: Lucene queries on"
                   " Elasticsearch (rules it cannot express use stream); auto: backend on"
                   " Elasticsearch, stream otherwise.")
@click.option("--no-alerts", is_flag=True, help="Only report hits; raise no alerts.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.pass_obj
def hunt_command(
    options: AppOptions,
    rule_paths: tuple[str, ...],
    since: str,
    until: str | None,
    site: str | None,
    engine: str,
    no_alerts: bool,
    as_json: bool,
) -> None:
    """Run Sigma rules over stored events (a new rule against last month's logs). Hits become
    alerts through the same grouping and incidents as live ones; hunting again adds nothing.

    \b
      siem hunt --rules new-rule.yml --since 30d
      siem hunt --since 2026-11-01 --until 2026-11-08 --site ward-3 --json
    """
    from siem.detect.loader import load_configured_rules
    from siem.hunt.service import hunt, raise_alerts

    now = time.time()
    start, end = _moment("--since", since, now), _moment("--until", until, now)
    app = App.from_options(options)
    try:
        ruleset = load_configured_rules(app.config.detection, list(rule_paths) or app.rule_paths())
        for problem in ruleset.problems:
            click.echo(_("warning: rule not loaded: {problem}").format(problem=problem), err=True)
        if not ruleset.rules and not ruleset.correlations:
            raise click.ClickException(_("no rule loaded: nothing to hunt with"))
        result = hunt(app.store, ruleset, engine=engine, since=start, until=end, site=site,
                      logsource=app.config.detection.logsource)
        processed = None if no_alerts else raise_alerts(app.store, app.config, result)
        hits = result.hits()
        titles = {ident: info.title for ident, info in ruleset.infos.items()}
        if as_json:
            click.echo(json.dumps(_report(result, hits, titles, processed), ensure_ascii=False))
        else:
            _table(hits, titles, result.ran_on)
        for ident, reason in sorted(result.not_expressible.items()):
            click.echo(_("not expressible on the backend (ran with stream): {rule} {title}: {reason}").format(
                rule=ident, title=titles.get(ident, ""), reason=reason), err=True)
        summary = _("{rules} rule(s) run ({engine}), {events} event(s) read by the stream engine, {hits} hit(s), "
                    "{alerts} alert(s)").format(
            rules=len(result.ran_on), engine=result.engine, events=result.events_scanned, hits=sum(hits.values()),
            alerts=result.alerts)
        if processed is not None:
            summary += _(", {groups} new alert group(s), {opened} incident(s) opened, {known} already known").format(
                groups=len(processed.new_alert_ids), opened=len(processed.opened), known=processed.duplicates)
        if result.engine == "backend":
            summary += _(", {count} not expressible on the backend").format(count=len(result.not_expressible))
        click.echo(summary, err=True)
    finally:
        app.close()


def _table(hits: dict[str, int], titles: dict[str, str], ran_on: dict[str, str]) -> None:
    found = sorted((count, ident) for ident, count in hits.items() if count)
    if not found:
        click.echo(_("No hits."))
        return
    click.echo(f"{_('hits'):>6}  {_('engine'):<7} {_('rule id'):<36}  {_('title')}")
    for count, ident in reversed(found):
        click.echo(f"{count:>6}  {ran_on.get(ident, ''):<7} {ident:<36}  {titles.get(ident, '')}")


def _report(result: Any, hits: dict[str, int], titles: dict[str, str],
            processed: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "engine": result.engine,
        "rules": len(result.ran_on),
        "events_scanned": result.events_scanned,
        "hits": sum(hits.values()),
        "alerts": result.alerts,
        "by_rule": [
            {"rule_id": ident, "title": titles.get(ident, ""), "hits": count,
             "engine": result.ran_on.get(ident, "")}
            for ident, count in sorted(hits.items()) if count
        ],
        "not_expressible": [
            {"rule_id": ident, "reason": reason}
            for ident, reason in sorted(result.not_expressible.items())
        ],
    }
    if processed is not None:
        report["new_alert_groups"] = len(processed.new_alert_ids)
        report["incidents_opened"] = len(processed.opened)
        report["duplicates"] = processed.duplicates
    return report
