"""The ``siem`` command line: the root group, lazy subcommands, and the one error boundary.

Run as ``siem ...`` (installed) or ``python cli.py ...``. Subcommands live in
``siem.commands.*`` and are imported only when invoked, so ``siem --help`` stays fast and
does not import scapy, pyshark or elasticsearch.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from typing import Any

import click

from siem.errors import ConfigError, ExitCode, SiemError
from siem.i18n import _, resolve_language, set_language

#: command name -> "module:attribute" of its click command or group.
COMMANDS: dict[str, str] = {
    "init": "siem.commands.init:init_command",
    "run": "siem.commands.run:run_command",
    "ingest": "siem.commands.ingest:ingest_command",
    "status": "siem.commands.status:status_command",
    "search": "siem.commands.search:search_command",
    "detect": "siem.commands.detect:detect_command",
    "rules": "siem.commands.rules:rules_group",
    "parse": "siem.commands.parse:parse_command",
    "email": "siem.commands.email:email_group",
    "alerts": "siem.commands.alerts:alerts_group",
    "incidents": "siem.commands.incidents:incidents_group",
    "triage": "siem.commands.triage:triage_command",
    "capture": "siem.commands.capture:capture_command",
    "es": "siem.commands.es:es_group",
    "hunt": "siem.commands.hunt:hunt_command",
    "scan": "siem.commands.scan:scan_command",
    "verify": "siem.commands.verify:verify_command",
    "schedule": "siem.commands.schedule:schedule_group",
    "report": "siem.commands.report:report_command",
}

HELP: dict[str, str] = {
    "init": "Write a commented siem.yaml and create the data directory.",
    "run": "Start collectors, detection and alerting (the main job).",
    "ingest": "Run files through the same pipeline as 'run'.",
    "status": "Show sources, counters, drops and the store.",
    "search": "Search stored events by time, field and full text.",
    "detect": "Stream JSON events through the Sigma engine.",
    "rules": "List, validate, test and convert Sigma rules.",
    "parse": "Print the ECS events a parser makes of a file.",
    "email": "Test e-mail settings, show the outbox, send waiting mail.",
    "alerts": "List and show alerts; suppress known false positives.",
    "incidents": "List, handle and export incidents (ack, assign, note, resolve...).",
    "triage": "Full-screen triage of open incidents.",
    "capture": "Capture packets live into flow and metadata events.",
    "es": "Set up and inspect the Elasticsearch store (templates, lifecycle).",
    "hunt": "Run Sigma rules over stored events (retro-hunting); hits become alerts.",
    "scan": "Run compliance checks (CIS v8, TCVN 11930) over stored events; exit 1 on failures.",
    "verify": "Check the integrity seals of stored events and the audit log; exit 1 if broken.",
    "schedule": "Show scheduled jobs (next and last runs); write systemd timers for them.",
    "report": "Weekly or monthly report (HTML with charts, Markdown, JSON); --email to mail it.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Configuration file (default: ./siem.yaml or $SIEM_CONFIG).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Data directory (default: ./siem-data or $SIEM_HOME)."
)
@click.option(
    "--lang", "language", type=click.Choice(["en", "vi"]), help="Language of messages (default: config or $SIEM_LANG)."
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="siem", prog_name="siem")
@click.pass_context
def root(ctx: click.Context, config_file: str | None, data_dir: str | None, language: str | None, debug: bool) -> None:
    """siem: collect logs and packet metadata, detect with Sigma rules, store and alert."""
    from siem.app import AppOptions

    # The language of errors raised before the configuration is read (App sets it again); a bad
    # $SIEM_LANG is reported when the configuration is loaded.
    with contextlib.suppress(ConfigError):
        set_language(resolve_language(language))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = AppOptions(config_file=config_file, data_dir=data_dir, language=language, debug=debug)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning our errors into one line and a named exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    os.umask(0o077)  # whatever the process creates (store, spool, outbox, state) is 0600/0700
    try:
        return root.main(args=argv, prog_name="siem", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(_("Interrupted."), err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SiemError as exc:
        if debug:
            raise
        click.secho(_("error: {message}").format(message=exc), err=True, fg="red")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo(_("Interrupted."), err=True)
        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
