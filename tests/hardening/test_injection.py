"""SQL injection through every CLI filter and the search language: each payload is taken as a
literal value (it matches nothing here), and the store is intact afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import root
from siem.errors import ExitCode, SiemError, StoreError
from tests.conftest import PROJECT_ROOT

POSITIVE = next((PROJECT_ROOT / "rules/regression_data/auth_camera_brute_force").glob("*_positive.json"))

PAYLOADS = (
    "' OR '1'='1",
    "x' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE events; --",
    "'); DROP TABLE alerts; --",
    "ward-3' --",
    'ward-3" --',
    "1; DELETE FROM incidents",
    "%",
    "_",
    "%%%",
    "\\",
    "' UNION SELECT * FROM checkpoints --",
    "admin'/*",
)

#: Search-language queries that must run as literal searches (or fail as a syntax error).
QUERIES = (
    "message:\"' OR '1'='1\"",
    "user.name:\"admin' --\"",
    "user.name:admin' OR '1'='1",
    "\"'; DROP TABLE events; --\"",
    "'; DROP TABLE events; --",
    "source.ip:\"203.0.113.9' OR '1'='1\"",
    "user.name:*' OR '*'='*",
    "user.name:%",
    "user.name:_dmin",
    "event.action:\"logon-failed\\\" OR 1=1 --\"",
    "labels.site:(\"x') OR 1=1 --\" OR \"%\")",
    "NEAR(DROP TABLE)",
    "destination.port:[0 TO 1) OR 1=1 --]",
)


def cli(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(root, ["--data-dir", str(data_dir), *args])


def clean(result: Result) -> bool:
    """Ran, or stopped with a user error (never a store error: malformed SQL would show as one)."""
    error = result.exception
    if error is None or isinstance(error, SystemExit):
        return result.exit_code != ExitCode.STORE
    return isinstance(error, SiemError) and not isinstance(error, StoreError)


def json_lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with the camera brute-force events, their alerts and incident, and one more incident."""
    path = tmp_path_factory.mktemp("injection") / "siem-data"
    ingest = cli(path, "ingest", "--format", "ecs-json", str(POSITIVE))
    assert ingest.exit_code == 0, ingest.output
    opened = cli(path, "incidents", "open", "Manual case", "--site", "ward-5", "--severity", "high")
    assert opened.exit_code == 0, opened.output
    yield path


def snapshot(data_dir: Path) -> tuple[list[str], ...]:
    events = cli(data_dir, "search", "--json", "-n", "100000")
    alerts = cli(data_dir, "alerts", "list", "--all", "--json")
    incidents = cli(data_dir, "incidents", "list", "--all", "--json")
    for result in (events, alerts, incidents):
        assert result.exit_code == 0, result.output
    drop = ("sla", "age", "overdue")  # depend on the clock
    return (
        sorted(json.dumps(item, sort_keys=True) for item in json_lines(events)),
        sorted(json.dumps(item, sort_keys=True) for item in json_lines(alerts)),
        sorted(json.dumps({k: v for k, v in item.items() if k not in drop}, sort_keys=True)
               for item in json_lines(incidents)),
    )


def test_the_filters_find_the_real_rows(data_dir: Path) -> None:
    """Positive controls: without them, 'nothing found' below would prove nothing."""
    events, alerts, incidents = snapshot(data_dir)
    assert len(events) == POSITIVE.read_text().count("\n") and alerts and len(incidents) >= 2
    assert json_lines(cli(data_dir, "alerts", "list", "--all", "--json", "--site", "ward-3"))
    assert json_lines(cli(data_dir, "alerts", "list", "--all", "--json", "--rule", "Brute Force*"))
    assert json_lines(cli(data_dir, "incidents", "list", "--all", "--json", "--site", "ward-5"))
    assert json_lines(cli(data_dir, "search", "--json", "user.name:admin AND source.ip:203.0.113.9"))
    assert json_lines(cli(data_dir, "search", "--json", "--field", "user.name=admin"))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_in_any_filter_matches_nothing(data_dir: Path, payload: str) -> None:
    before = snapshot(data_dir)
    runs = {
        "alerts --site": cli(data_dir, "alerts", "list", "--all", "--json", "--site", payload),
        "alerts --zone": cli(data_dir, "alerts", "list", "--all", "--json", "--zone", payload),
        "alerts --rule": cli(data_dir, "alerts", "list", "--all", "--json", "--rule", payload),
        "incidents --site": cli(data_dir, "incidents", "list", "--all", "--json", "--site", payload),
        "incidents --zone": cli(data_dir, "incidents", "list", "--all", "--json", "--zone", payload),
        "incidents --assignee": cli(data_dir, "incidents", "list", "--all", "--json", "--assignee", payload),
        "search --field value": cli(data_dir, "search", "--json", "--field", f"user.name={payload}"),
        "search --field source.ip": cli(data_dir, "search", "--json", "--field", f"source.ip={payload}"),
    }
    for name, result in runs.items():
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert json_lines(result) == [], f"{name} with {payload!r} returned rows"
    for args in (("alerts", "show", payload), ("incidents", "show", payload), ("incidents", "export", payload)):
        shown = cli(data_dir, *args)
        assert shown.exit_code != 0 and clean(shown), (args, shown.exception, shown.output)
    bad_key = cli(data_dir, "search", "--json", "--field", f"user.name{payload}=x")
    assert clean(bad_key) and json_lines(bad_key) == [], (bad_key.exception, bad_key.output)
    assert snapshot(data_dir) == before


@pytest.mark.parametrize("query", QUERIES)
def test_the_search_language_takes_payloads_literally(data_dir: Path, query: str) -> None:
    before = snapshot(data_dir)
    result = cli(data_dir, "search", "--json", query)
    assert clean(result), (result.exception, result.output)  # found nothing, or a syntax error
    assert json_lines(result) == []
    assert snapshot(data_dir) == before


def test_a_payload_written_as_a_value_reads_back_as_itself(data_dir: Path) -> None:
    incidents = json_lines(cli(data_dir, "incidents", "list", "--all", "--json", "--site", "ward-5"))
    ident = str(incidents[0]["id"])
    payload = "o'brien\"; DROP TABLE incidents; --"
    assert cli(data_dir, "incidents", "assign", ident, payload).exit_code == 0
    assert cli(data_dir, "incidents", "note", ident, payload).exit_code == 0
    found = json_lines(cli(data_dir, "incidents", "list", "--all", "--json", "--assignee", payload))
    assert [item["id"] for item in found] == [ident]
    assert json_lines(cli(data_dir, "incidents", "list", "--all", "--json", "--assignee", "o'brien")) == []
    case = json.loads(cli(data_dir, "incidents", "show", ident, "--json").stdout)
    assert case["incident"]["assignee"] == payload
    assert payload in json.dumps(case, ensure_ascii=False).replace('\\"', '"')
