"""``siem scan``: run the compliance checks over the stored events and report pass/fail."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from siem.app import PROJECT_ROOT, App, AppOptions
from siem.errors import QueryError, RuleError
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_moment

if TYPE_CHECKING:
    from siem.compliance.model import Check
    from siem.detect.model import Logsource

#: Checks and profiles shipped with the project.
COMPLIANCE_DIR = PROJECT_ROOT / "rules" / "compliance"


@click.command("scan")
@click.option("--profile", metavar="NAME",
              help="Only the checks of this profile (rules/compliance/profiles/NAME.yml), e.g. cis-v8.")
@click.option("--site", metavar="SITE", help="Only this site (labels.site).")
@click.option("--since", default="7d", show_default=True, metavar="WHEN",
              help=f"Events at or after WHEN for checks without their own window: {TIME_HELP}.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True, help="Report format.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write the report to FILE instead of the screen.")
@click.option("--checks", "checks_dir", type=click.Path(exists=True, file_okay=False),
              metavar="DIR", help="Folder of check files (default: rules/compliance/checks).")
@click.pass_obj
def scan_command(options: AppOptions, profile: str | None, site: str | None, since: str,
                 output_format: str, output: str | None, checks_dir: str | None) -> None:
    """Run compliance checks (silent sources, clear-text management, retention...) and show
    pass/fail per check and site, with the change since the previous scan. Exit status 1
    when any check fails.

    \b
      siem scan --profile cis-v8
      siem scan --site ward-3 --since 24h --format markdown --output report.md
    """
    from siem.compliance import history, report
    from siem.compliance.loader import load_checks, load_profile
    from siem.compliance.model import PASS
    from siem.compliance.runner import ScanContext, run_checks
    from siem.enrich.inventory import Inventory

    now = time.time()
    try:
        start = parse_moment(since, now)
    except QueryError as exc:
        raise click.BadParameter(exc.message, param_hint="--since") from exc
    checkset = load_checks(Path(checks_dir) if checks_dir else COMPLIANCE_DIR / "checks")
    for problem in checkset.problems:
        click.echo(f"warning: check not loaded: {problem}", err=True)
    checks = checkset.checks
    chosen = None
    if profile is not None:
        path = COMPLIANCE_DIR / "profiles" / f"{profile}.yml"
        if not path.exists():
            raise RuleError(f"no profile {profile!r} in {path.parent}", path=path)
        chosen = load_profile(path, {check.id for check in checks})
        wanted = chosen.check_ids()
        by_id = {check.id: check for check in checks}
        checks = [by_id[ident] for ident in wanted]
    if not checks:
        raise click.ClickException("no compliance check loaded: nothing to scan")
    app = App.from_options(options)
    try:
        inventory = Inventory.load(app.config.inventory) if app.config.inventory else None
        context = ScanContext(store=app.store, inventory=inventory, sla=app.config.incidents.sla,
                              data_path=app.data_path, now=now, since=start, site=site,
                              rule_logsources=_rule_logsources(app, checks),
                              logsource_mode=app.config.detection.logsource)
        results = run_checks(checks, context)
        change = history.record(app.data_path, at=now, profile=profile, site=site,
                                results=results)
    finally:
        app.close()
    if output_format == "json":
        text = report.to_json(results, change, chosen, now) + "\n"
    elif output_format == "markdown":
        text = report.to_markdown(results, change, chosen)
    else:
        text = report.to_table(results, change, chosen)
    if output is not None:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.FileError(output, hint=exc.strerror) from exc
    else:
        click.echo(text, nl=False)
    if any(result.status != PASS for result in results):
        sys.exit(1)


def _rule_logsources(app: App, checks: list[Check]) -> tuple[Logsource, ...] | None:
    """The loaded Sigma rules' logsources, only when a rule_coverage check needs them."""
    if not any(check.kind == "rule_coverage" for check in checks):
        return None
    from siem.detect.loader import load_configured_rules

    ruleset = load_configured_rules(app.config.detection, app.rule_paths())
    for problem in ruleset.problems:
        click.echo(f"warning: rule not loaded: {problem}", err=True)
    return tuple(loaded.info.logsource for loaded in ruleset.rules) or None
