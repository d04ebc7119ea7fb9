"""``siem rules``: list, validate, test (regression data) and convert Sigma rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from siem.errors import ExitCode, RuleError
from siem.i18n import _

TARGETS = ("lucene", "esql", "eql")


def _app(ctx: click.Context) -> Any:
    from siem.app import App

    return App.from_options(ctx.obj)


def _load(app: Any, paths: tuple[str, ...], *, select: bool = True) -> Any:
    from siem.detect.loader import load_rules
    from siem.detect.pipelines import PIPELINES_DIR, default_pipeline

    detection = app.config.detection
    pipeline = default_pipeline() if PIPELINES_DIR.is_dir() else None
    return load_rules(
        paths or detection.rules,
        pipeline=pipeline,
        statuses=detection.statuses if select else (),
        min_level=detection.min_level if select else "informational",
        placeholders=detection.placeholders,
    )


@click.group("rules")
def rules_group() -> None:
    """List, validate, test and convert Sigma rules."""


@rules_group.command("list")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Rule file or folder (repeatable; default: the configured rules).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
def list_command(ctx: click.Context, rule_paths: tuple[str, ...], as_json: bool) -> None:
    """Show the loaded rules: id, title, level, status, logsource, file."""
    app = _app(ctx)
    try:
        ruleset = _load(app, rule_paths)
        infos = [loaded.info for loaded in ruleset.rules]
        infos += [ruleset.infos[str(c.id) if c.id else (c.name or c.title)]
                  for c in ruleset.correlations]
        if as_json:
            for info in infos:
                click.echo(json.dumps({
                    "id": info.id, "title": info.title, "level": info.level,
                    "status": info.status, "tags": list(info.tags),
                    "logsource": {"product": info.logsource.product,
                                  "category": info.logsource.category,
                                  "service": info.logsource.service},
                    "file": info.path,
                }, ensure_ascii=False))
        else:
            from rich.table import Table

            table = Table(_("id"), _("title"), _("level"), _("status"), _("logsource"), _("file"))
            for info in infos:
                source = "/".join(part or "-" for part in (
                    info.logsource.product, info.logsource.category, info.logsource.service))
                table.add_row(info.id, info.title, info.level, info.status or "", source,
                              info.path or "")
            app.console.print(table)
        click.echo(_("{count} rules, {problems} not loaded").format(count=len(infos), problems=len(ruleset.problems)),
                   err=True)
    finally:
        app.close()


@rules_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def validate_command(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Load every rule; print each problem with file, line and reason."""
    app = _app(ctx)
    try:
        ruleset = _load(app, paths, select=False)
        for problem in ruleset.problems:
            click.echo(str(problem))
        total = len(ruleset.rules) + len(ruleset.correlations)
        click.echo(_("{valid} rules valid, {filters} filters, {problems} invalid or unsupported").format(
            valid=total, filters=len(ruleset.filters), problems=len(ruleset.problems)), err=True)
        if ruleset.problems:
            sys.exit(ExitCode.RULES)
    finally:
        app.close()


@rules_group.command("test")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Rule file or folder (repeatable).")
@click.option("--exact", is_flag=True,
              help="Require exactly match_count matches (default: at least, as SigmaHQ checks).")
@click.option("--quiet", "-q", is_flag=True, help="Print only failures and the total.")
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.pass_context
def test_command(ctx: click.Context, rule_paths: tuple[str, ...], exact: bool, quiet: bool,
                 data: str) -> None:
    """Run regression data in SigmaHQ's layout (DATA) against the rules.

    With no --rules, DATA is a rule folder and its regression_data/ holds the cases.
    """
    from siem.commands.detect import load_event_file
    from siem.detect.engine import Detector
    from siem.detect.regression import find_cases, run_cases

    regression_dir = Path(data)
    if not rule_paths:
        rule_paths = (data,)
        regression_dir = Path(data) / "regression_data"
        if not regression_dir.is_dir():
            raise RuleError(_("no regression_data folder here; give --rules and the data folder"), path=data)
    app = _app(ctx)
    try:
        ruleset = _load(app, rule_paths, select=False)
        for problem in ruleset.problems:
            click.echo(_("warning: rule not loaded: {problem}").format(problem=problem), err=True)
        detector = Detector(ruleset, logsource="any", correlate=False)
        results = run_cases(detector, find_cases(regression_dir), load_event_file, exact=exact)
        failed = [result for result in results if not result.passed]
        for result in results:
            if quiet and result.passed:
                continue
            mark = "PASS" if result.passed else "FAIL"  # kept in English: scripts grep for them
            name = result.file.path.name if result.file else "-"
            detail = result.reason or _("{got} match(es), expected {expected}").format(
                got=result.got, expected=result.expected)
            click.echo(f"{mark} {result.case.rule_id} {result.case.title} [{name}]: {detail}")
        passed = len(results) - len(failed)
        rate = 100.0 * passed / len(results) if results else 100.0
        click.echo(_("{passed}/{total} passed ({rate}%), {failed} failed; {rules} rules loaded, "
                     "{problems} unsupported").format(
            passed=passed, total=len(results), rate=f"{rate:.1f}", failed=len(failed), rules=len(ruleset.rules),
            problems=len(ruleset.problems)))
        if failed or not results:
            sys.exit(ExitCode.TESTS_FAILED)
    finally:
        app.close()


@rules_group.command("convert")
@click.option("--target", type=click.Choice(TARGETS), required=True,
              help="Elasticsearch query language.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def convert_command(ctx: click.Context, target: str, paths: tuple[str, ...]) -> None:
    """Convert rules to Elasticsearch queries (pysigma-backend-elasticsearch, ECS fields)."""
    from siem.detect.convert import convert_rules

    app = _app(ctx)
    try:
        converted, failures = convert_rules(paths, target)
        for rule_id, title, queries in converted:
            click.echo(f"# {rule_id} {title}")
            for query in queries:
                click.echo(query)
        for failure in failures:
            click.echo(_("not converted: {failure}").format(failure=failure), err=True)
        click.echo(_("{converted} converted, {failed} not converted").format(
            converted=len(converted), failed=len(failures)), err=True)
        if failures:
            sys.exit(ExitCode.RULES)
    finally:
        app.close()
