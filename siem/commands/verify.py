"""``siem verify``: prove the stored events and the audit log were not altered or truncated."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from siem.app import App, AppOptions
from siem.errors import QueryError
from siem.i18n import _
from siem.timerange import HELP as TIME_HELP
from siem.timerange import parse_moment


@click.command("verify")
@click.option("--since", metavar="WHEN",
              help=f"Recompute event digests only for batches sealed at or after WHEN: {TIME_HELP}. "
                   "The chain, counts, audit log and head are always checked in full.")
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="A head saved earlier with --save-anchor (kept off this machine): the chain must still reach it.")
@click.option("--save-anchor", "save_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="When intact, write the current head to FILE for a later --anchor.")
@click.option("--json", "as_json", is_flag=True, help="The full result as JSON on stdout.")
@click.pass_obj
def verify_command(options: AppOptions, since: str | None, anchor_file: str | None, save_file: str | None,
                   as_json: bool) -> None:
    """Verify the integrity seals of the store: every batch of stored events and of audit
    entries is sealed in a hash chain when committed. Exit status 0 when intact, 1 when a
    batch was altered, removed or added outside siem (the first broken one is named).

    \b
      siem verify
      siem verify --since 7d --json
      siem verify --save-anchor /media/usb/siem-head.json   # later: --anchor the same file
    """
    from siem.integrity.anchor import read_anchor, write_anchor
    from siem.integrity.verify import iter_lines, verify

    start = None
    if since is not None:
        try:
            start = parse_moment(since, time.time())
        except QueryError as exc:
            raise click.BadParameter(exc.message, param_hint="--since") from exc
    anchor = read_anchor(Path(anchor_file)) if anchor_file is not None else None
    app = App.from_options(options)
    try:
        result = verify(app.store, since=start, anchor=anchor)
    finally:
        app.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        for line in iter_lines(result):
            click.echo(line)
    if save_file is not None and result.ok and result.head is not None:
        write_anchor(Path(save_file), result.head)
        click.echo(_("head saved to {file}").format(file=save_file), err=True)
    if not result.ok:
        sys.exit(1)
