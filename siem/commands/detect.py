"""``siem detect``: stream JSON events through the Sigma engine and print the matches.

Input is JSON documents one after another (one per line, or pretty-printed evtx_dump records
back to back). ``event_index`` is the 0-based position of the document in the input (for JSON
lines, its line number); a document that is not valid JSON is reported on stderr with its line
and skipped, and it still counts as one position.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import click
import orjson

from siem.errors import ParseError, RuleError
from siem.i18n import _

INPUT_FORMATS = ("auto", "evtx-json", "ecs", "flat")
_CHUNK = 1 << 16
#: Largest incomplete document kept waiting for more input before it is declared broken.
_MAX_PENDING = 16 << 20
_LONG_DIGITS = re.compile(r"\d{19}")


def to_flat(document: Any, input_format: str) -> dict[str, Any]:
    """A flat event from one decoded document in the given input format."""
    from collectors.parsers.windows import flatten_windows
    from siem.event import from_nested

    if not isinstance(document, Mapping):
        raise ParseError(_("an event must be a JSON object"))
    if input_format == "evtx-json" or (
        input_format == "auto" and ("Event" in document or "winlog" in document)
    ):
        return flatten_windows(document, json.dumps(document, ensure_ascii=False))
    if input_format == "ecs" or (
        input_format == "auto" and any(isinstance(v, Mapping) for v in document.values())
    ):
        return from_nested(document)
    return dict(document)


def iter_documents(stream: IO[str]) -> Iterator[tuple[int, Any, str | None]]:
    """(line, document, error) for each JSON document of a stream, read incrementally."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0
    line = 1
    eof = False
    while True:
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n\ufeff":
                if buffer[position] == "\n":
                    line += 1
                position += 1
            if position < len(buffer) or eof:
                break
            chunk = stream.read(_CHUNK)
            buffer, position = buffer[position:] + chunk, 0
            eof = not chunk
        if position >= len(buffer):
            return
        # the usual case, a whole JSON line: orjson (twice as fast); anything else (a pretty-printed
        # or second document on the line, NaN) takes json's path below, and so does a line with
        # 19 digits in a row: an integer past 64 bits, which orjson would make a float
        newline = buffer.find("\n", position)
        if newline >= 0 and buffer[position] == "{" and not _LONG_DIGITS.search(buffer, position, newline):
            try:
                document = orjson.loads(buffer[position:newline])
            except orjson.JSONDecodeError:
                pass
            else:
                yield line, document, None
                position = newline
                continue
        try:
            document, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as exc:
            # Truncated by the chunk end (nothing but the last partial line after the error):
            # read on. A newline after the error means the text itself is broken.
            if not eof and "\n" not in buffer[exc.pos:] and len(buffer) - position < _MAX_PENDING:
                chunk = stream.read(_CHUNK)
                buffer, position = buffer[position:] + chunk, 0
                eof = not chunk
                continue
            newline = buffer.find("\n", position)
            end = len(buffer) if newline < 0 else newline
            yield line, None, f"invalid JSON: {exc.msg}"
            line += buffer.count("\n", position, end)
            position = end
            continue
        yield line, document, None
        line += buffer.count("\n", position, end)
        position = end


def load_event_file(path: Path, kind: str) -> list[dict[str, Any]]:
    """Events of a regression file: evtx/ecs JSON documents, or ``raw`` text lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(_("cannot read events: {reason}").format(reason=exc), path=path) from exc
    if kind == "raw":
        return [{"message": line} for line in text.splitlines() if line.strip()]
    from collectors.parsers.windows import iter_json_documents

    fmt = "evtx-json" if kind == "evtx" else "auto"
    try:
        return [to_flat(document, fmt) for document, _line in iter_json_documents(text)]
    except ParseError as exc:
        raise RuleError(_("bad event file: {reason}").format(reason=exc.message), path=path, line=exc.line) from exc


def build_detector(
    rule_paths: Sequence[str], logsource: str, *, app: Any, pipeline: bool = True
) -> Any:
    """Load rules (config's selection and placeholders) and build a Detector."""
    from siem.detect.engine import Detector
    from siem.detect.loader import load_configured_rules

    ruleset = load_configured_rules(app.config.detection, rule_paths, field_mapping=pipeline)
    for problem in ruleset.problems:
        click.echo(_("warning: rule not loaded: {problem}").format(problem=problem), err=True)
    if ruleset.problems:
        click.echo(_("{count} rule(s) unsupported or invalid").format(count=len(ruleset.problems)), err=True)
    return Detector(ruleset, logsource=logsource)


def correlation_record(match: Any, types: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object printed for a correlation match."""
    rule = match.rule
    return {
        "rule_id": rule.id,
        "rule_title": rule.title,
        "level": rule.level,
        "correlation_type": types.get(rule.id),
        "event_indexes": [m.event_index for m in match.matches],
        "group": match.group,
        "value": match.value,
        "first_time": match.first_time,
        "last_time": match.last_time,
    }


def correlation_types(detector: Any) -> dict[str, str]:
    """Correlation rule id -> its type (event_count, temporal ...)."""
    types: dict[str, str] = {}
    for rule in detector.ruleset.correlations:
        key = str(rule.id) if rule.id else (rule.name or rule.title)
        types[key] = str(rule.type)
    return types


Row = tuple[int | None, str, str, str]


def _emit_correlation(record: dict[str, Any], output: str, rows: list[Row]) -> None:
    if output == "jsonl":
        click.echo(json.dumps(record, ensure_ascii=False, default=str))
    else:
        rows.append((None, record["level"], record["rule_id"],
                     f"{record['rule_title']} (events {record['event_indexes']})"))


@click.command("detect")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Rule file or folder (repeatable; default: the configured rules).")
@click.option("--input", "input_path", default="-", show_default=True,
              help="Events file (JSON lines or JSON documents back to back), or - for stdin.")
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default="auto",
              show_default=True, help="evtx-json (evtx_dump/Winlogbeat), ecs (nested), flat.")
@click.option("--logsource", type=click.Choice(["any", "strict"]), default="strict",
              show_default=True, help="strict routes events by logsource; any applies every rule.")
@click.option("--output", type=click.Choice(["jsonl", "table"]), default="jsonl",
              show_default=True)
@click.pass_context
def detect_command(ctx: click.Context, rule_paths: tuple[str, ...], input_path: str,
                   input_format: str, logsource: str, output: str) -> None:
    """Stream JSON events through the Sigma rules and print one line per match."""
    from siem.app import App

    app = App.from_options(ctx.obj)
    try:
        detector = build_detector(rule_paths, logsource, app=app)
        click.echo(_("{count} rules loaded").format(count=detector.rule_count), err=True)
        stream: IO[str]
        if input_path == "-":
            stream = sys.stdin
        else:
            try:
                stream = open(input_path, encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError as exc:
                raise RuleError(_("cannot open input: {reason}").format(reason=exc.strerror), path=input_path) from exc
        rows: list[Row] = []
        types = correlation_types(detector)
        events = 0
        with stream:
            for index, (line, document, error) in enumerate(iter_documents(stream)):
                events += 1
                if error is not None:
                    click.echo(_("warning: {input}:{line}: {error}; skipped").format(
                        input=input_path, line=line, error=error), err=True)
                    continue
                try:
                    event = to_flat(document, input_format)
                except ParseError as exc:
                    click.echo(_("warning: {input}:{line}: {error}; skipped").format(
                        input=input_path, line=line, error=exc.message), err=True)
                    continue
                found = detector.detect([event], start_index=index)
                for match in found.matches:
                    if output == "jsonl":
                        click.echo(json.dumps({
                            "rule_id": match.rule.id,
                            "rule_title": match.rule.title,
                            "level": match.rule.level,
                            "event_index": match.event_index,
                            "tags": list(match.rule.tags),
                            "matched_fields": match.matched_fields,
                        }, ensure_ascii=False, default=str))
                    else:
                        rows.append((match.event_index, match.rule.level, match.rule.id,
                                     match.rule.title))
                for correlation in found.correlations:
                    _emit_correlation(correlation_record(correlation, types), output, rows)
        for correlation in detector.finish():  # windows still open at the end of the input
            _emit_correlation(correlation_record(correlation, types), output, rows)
        if output == "table":
            from rich.table import Table

            table = Table(_("event"), _("level"), _("rule id"), _("title"))
            for event_index, level, rule_id, title in rows:
                table.add_row("" if event_index is None else str(event_index), level, rule_id,
                              title)
            app.console.print(table)
        click.echo(_("{count} events read").format(count=events), err=True)
    finally:
        app.close()
