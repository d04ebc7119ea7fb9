"""``siem detect`` and ``siem rules`` as a user runs them (real processes, real files)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.detect.helpers import rule_text

CMD_RULE = rule_text("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel",
                     rule_id="22222222-2222-4222-8222-222222222222", title="Cmd")
LINUX_RULE = rule_text("sel:\n    Image|endswith: '\\cmd.exe'\ncondition: sel", product="linux",
                       rule_id="33333333-3333-4333-8333-333333333333", title="Linux cmd")

SYSMON_EVENT = {
    "Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "pc1",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-11-25T10:00:00.000Z"}},
        },
        "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c dir"},
    }
}


def siem(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "--data-dir", str(tmp_path / "data"), *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )


def _rules(tmp_path: Path, *texts: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for number, text in enumerate(texts):
        (folder / f"r{number}.yml").write_text(text, encoding="utf-8")
    return folder


def test_detect_streams_documents_back_to_back_with_indexes(tmp_path: Path) -> None:
    rules = _rules(tmp_path, CMD_RULE, LINUX_RULE)
    other = json.loads(json.dumps(SYSMON_EVENT))
    other["Event"]["EventData"]["Image"] = "C:\\notepad.exe"
    text = json.dumps(SYSMON_EVENT, indent=2) + json.dumps(other) + "\n" + json.dumps(SYSMON_EVENT)
    result = siem(tmp_path, "detect", "--rules", str(rules), "--logsource", "strict", stdin=text)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["rule_id"], o["event_index"]) for o in out] == [
        ("22222222-2222-4222-8222-222222222222", 0), ("22222222-2222-4222-8222-222222222222", 2)]
    assert out[0]["rule_title"] == "Cmd" and out[0]["level"] == "medium"
    # with logsource any the linux rule applies too
    result = siem(tmp_path, "detect", "--rules", str(rules), "--logsource", "any", stdin=text)
    ids = [json.loads(line)["rule_id"] for line in result.stdout.splitlines()]
    assert ids.count("33333333-3333-4333-8333-333333333333") == 2


def test_detect_reports_a_malformed_line_and_goes_on(tmp_path: Path) -> None:
    rules = _rules(tmp_path, CMD_RULE)
    flat = {"Image": "c:\\x\\cmd.exe", "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1}
    text = "{not json\n" + json.dumps(flat) + "\n"
    result = siem(tmp_path, "detect", "--rules", str(rules), "--input-format", "flat",
                  "--logsource", "any", "--output", "jsonl", stdin=text)
    assert result.returncode == 0, result.stderr
    assert ":1: invalid JSON" in result.stderr
    assert [json.loads(line)["event_index"] for line in result.stdout.splitlines()] == [1]


def test_detect_table_output(tmp_path: Path) -> None:
    rules = _rules(tmp_path, CMD_RULE)
    events = tmp_path / "events.json"
    events.write_text(json.dumps(SYSMON_EVENT), encoding="utf-8")
    result = siem(tmp_path, "detect", "--rules", str(rules), "--input", str(events),
                  "--output", "table")
    assert result.returncode == 0, result.stderr
    assert "2222222" in result.stdout and "medium" in result.stdout


def test_validate_reports_file_line_and_reason(tmp_path: Path) -> None:
    bad_yaml = "title: broken\ndetection:\n  sel: [unclosed\n"
    bad_rule = rule_text("sel:\n    F|nosuchmodifier: x\ncondition: sel")
    rules = _rules(tmp_path, CMD_RULE, bad_yaml, bad_rule)
    result = siem(tmp_path, "rules", "validate", str(rules))
    assert result.returncode == 4
    assert "r1.yml:" in result.stdout and "r2.yml" in result.stdout
    assert "nosuchmodifier" in result.stdout
    assert "1 rules valid" in result.stderr
    good = siem(tmp_path, "rules", "validate", str(rules / "r0.yml"))
    assert good.returncode == 0


def test_list_and_convert(tmp_path: Path) -> None:
    rules = _rules(tmp_path, CMD_RULE)
    listed = siem(tmp_path, "rules", "list", "--json", "--rules", str(rules))
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout.splitlines()[0])
    assert row["id"] == "22222222-2222-4222-8222-222222222222"
    assert row["logsource"]["product"] == "windows"
    converted = siem(tmp_path, "rules", "convert", "--target", "lucene", str(rules))
    assert converted.returncode == 0, converted.stderr
    assert "process.executable" in converted.stdout and "cmd.exe" in converted.stdout


def test_rules_test_runs_a_rule_folder_with_its_regression_data(tmp_path: Path) -> None:
    rules = _rules(tmp_path, CMD_RULE)
    case = rules / "regression_data" / "cmd"
    case.mkdir(parents=True)
    (case / "info.yml").write_text(
        "rule_metadata:\n  - id: 22222222-2222-4222-8222-222222222222\n"
        "regression_tests_info:\n"
        "  - {name: positive, type: evtx, match_count: 1, path: x/cmd.json}\n"
        "  - {name: negative, type: evtx, match_count: 0, path: x/notepad.json}\n",
        encoding="utf-8")
    (case / "cmd.json").write_text(json.dumps(SYSMON_EVENT), encoding="utf-8")
    other = json.loads(json.dumps(SYSMON_EVENT))
    other["Event"]["EventData"]["Image"] = "C:\\notepad.exe"
    (case / "notepad.json").write_text(json.dumps(other), encoding="utf-8")
    result = siem(tmp_path, "rules", "test", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2/2 passed" in result.stdout
    (case / "notepad.json").write_text(json.dumps(SYSMON_EVENT), encoding="utf-8")
    result = siem(tmp_path, "rules", "test", str(rules))
    assert result.returncode == 7
    assert "FAIL" in result.stdout and "1/2 passed" in result.stdout


def test_detect_prints_correlation_matches_with_event_indexes(tmp_path: Path) -> None:
    base = rule_text("sel:\n    event.action: deny\ncondition: sel", product="linux",
                     category="firewall", rule_id="88888888-8888-4888-8888-888888888888",
                     title="Denied").replace("status: test", "name: denied\nstatus: test")
    correlation = (
        "title: Deny burst\nid: 99999999-9999-4999-8999-999999999999\nlevel: high\n"
        "correlation:\n  type: event_count\n  rules: [denied]\n  group-by: [source.ip]\n"
        "  timespan: 1m\n  condition: {gte: 2}\n"
    )
    rules = _rules(tmp_path, base, correlation)
    lines = [{"event.action": "deny", "source.ip": "10.0.0.1",
              "@timestamp": f"2026-11-25T10:00:0{n}Z"} for n in range(2)]
    lines.insert(1, {"event.action": "allow", "source.ip": "10.0.0.1",
                     "@timestamp": "2026-11-25T10:00:00Z"})
    text = "\n".join(json.dumps(line) for line in lines)
    result = siem(tmp_path, "detect", "--rules", str(rules), "--input-format", "flat",
                  "--logsource", "any", stdin=text)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    correlations = [o for o in out if "event_indexes" in o]
    assert len(correlations) == 1
    assert correlations[0]["rule_id"] == "99999999-9999-4999-8999-999999999999"
    assert correlations[0]["event_indexes"] == [0, 2]
    assert correlations[0]["correlation_type"] == "event_count"
