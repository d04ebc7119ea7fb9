"""Flattening evtx_dump JSON and Winlogbeat documents to Sigma's Windows field names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.parsers.windows import WindowsParser, flatten_windows, iter_json_documents
from siem.errors import ParseError

EVTX = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                                         "Guid": "{54849625}"}},
            "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 4624},
            "Level": 0, "Task": 12544, "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-11-25T10:00:00.123456Z"}},
            "Channel": "Security", "Computer": "dc1.ward3.local",
        },
        "EventData": {"TargetUserName": "admin", "LogonType": 10, "Threat Name": "x"},
    }
}


def test_evtx_record_is_flattened() -> None:
    event = flatten_windows(EVTX)
    assert event["EventID"] == 4624 and event["EventID_Qualifiers"] == 0
    assert event["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert event["TimeCreated_SystemTime"] == "2026-11-25T10:00:00.123456Z"
    assert event["TargetUserName"] == "admin" and event["LogonType"] == 10
    assert event["ThreatName"] == "x" and event["Threat Name"] == "x"
    assert event["@timestamp"] == "2026-11-25T10:00:00.123Z"
    assert event["event.dataset"] == "windows.security" and event["event.code"] == "4624"
    assert event["host.name"] == "dc1.ward3.local"
    assert json.loads(event["event.original"]) == EVTX


def test_userdata_and_data_list_forms() -> None:
    record = {"Event": {"System": {"EventID": 5858, "Channel": "Microsoft-Windows-WMI-Activity/Operational"},
                        "UserData": {"Operation_ClientFailure": {"#attributes": {"xmlns": "x"},
                                                                 "User": "bob", "ResultCode": "0x1"}}}}
    event = flatten_windows(record)
    assert event["User"] == "bob" and event["ResultCode"] == "0x1"
    assert event["event.dataset"] == "windows.microsoft-windows-wmi-activity/operational"
    record = {"Event": {"System": {"EventID": 1}, "EventData": {"Data": [
        {"#attributes": {"Name": "Image"}, "#text": "c:\\a.exe"}, "loose"]}}}
    event = flatten_windows(record)
    assert event["Image"] == "c:\\a.exe" and event["Data_1"] == "loose"


def test_winlogbeat_document() -> None:
    document = {"@timestamp": "2026-11-25T10:00:00.000Z", "host": {"name": "pc1"},
                "winlog": {"event_id": "4688", "channel": "Security", "computer_name": "pc1",
                           "provider_name": "Microsoft-Windows-Security-Auditing",
                           "event_data": {"NewProcessName": "C:\\cmd.exe"}}}
    event = flatten_windows(document)
    assert event["EventID"] == 4688 and event["Channel"] == "Security"
    assert event["Computer"] == "pc1" and event["NewProcessName"] == "C:\\cmd.exe"
    assert event["host.name"] == "pc1" and event["event.dataset"] == "windows.security"


def test_parser_reads_documents_back_to_back() -> None:
    text = json.dumps(EVTX, indent=1) + json.dumps(EVTX)
    record = RawRecord(text=text, origin="file:///x.json", received=0.0, key="0")
    events = WindowsParser().parse(record)
    assert len(events) == 2 and events[0]["siem.input"] == "file:///x.json"
    with pytest.raises(ParseError) as error:
        list(iter_json_documents(json.dumps(EVTX) + "\n{broken"))
    assert error.value.line == 2
    with pytest.raises(ParseError):
        WindowsParser().parse(RawRecord(text='{"a": 1}', origin="x", received=0.0, key="0"))


def test_regression_corpus_files_flatten(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "sigmahq" / "regression_data").rglob("*.json"))[:20]
    assert files
    for path in files:
        for document, _ in iter_json_documents(path.read_text(encoding="utf-8")):
            event = flatten_windows(document)
            assert "EventID" in event and "Channel" in event, path
