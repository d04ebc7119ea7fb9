"""linux.auth on loghub's 2,000 real OpenSSH lines and 2,000 Linux syslog lines.

loghub's structured CSV names the template of every line (``EventTemplate`` with ``<*>``
for each variable). For the templates that carry a login fact, the user, address and port are
read from the line through the template (independently of our regexes) and compared with our
event. Measured with this test: every such line agrees (ratio 1.0).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from collectors.base import RawRecord
from collectors.parsers.linux_auth import LinuxAuthParser
from siem.errors import ParseError
from siem.event import parse_timestamp

pytestmark = pytest.mark.corpus

RECEIVED = parse_timestamp("2017-12-31T00:00:00Z")
#: loghub template -> (names of its <*> slots, expected event.outcome).
TEMPLATES: dict[str, tuple[tuple[str, ...], str]] = {
    "Accepted password for <*> from <*> port <*> ssh2": (("user", "ip", "port"), "success"),
    "Failed password for <*> from <*> port <*> ssh2": (("user", "ip", "port"), "failure"),
    "Failed password for invalid user <*> from <*> port <*> ssh2": (
        ("user", "ip", "port"),
        "failure",
    ),
    "Failed none for invalid user <*> from <*> port <*> ssh2": (("user", "ip", "port"), "failure"),
    "Invalid user <*> from <*>": (("user", "ip"), "failure"),
    "pam_unix(sshd:auth): authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= "
    "rhost=<*> user=<*>": (("uid", "euid", "ip", "user"), "failure"),
}
FIELDS = {"user": "user.name", "ip": "source.ip", "port": "source.port"}


def _ours(event: dict[str, object], name: str) -> str:
    # A host name in rhost= is kept as source.domain (source.ip holds addresses only).
    value = event.get(FIELDS[name]) or (event.get("source.domain") if name == "ip" else None)
    return str(value).strip()


def _slots(template: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in template.split("<*>")]
    return re.compile("(.*?)".join(parts) + "$")


def test_openssh_templates_agree(corpus_dir: Path) -> None:
    base = corpus_dir / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    lines = base.read_text().splitlines()
    rows = list(csv.DictReader(base.with_name(base.name + "_structured.csv").open()))
    parser = LinuxAuthParser()
    compared = agreed = 0
    for line, row in zip(lines, rows, strict=True):
        template = TEMPLATES.get(row["EventTemplate"])
        if template is None:
            continue
        names, outcome = template
        match = _slots(row["EventTemplate"]).match(row["Content"])
        assert match is not None, row["Content"]
        expected = dict(zip(names, match.groups(), strict=True))
        (event,) = parser.parse(RawRecord(line, "file:///OpenSSH_2k.log", RECEIVED, row["LineId"]))
        compared += 1
        agreed += (
            event.get("event.outcome") == outcome
            and event["event.dataset"] == "linux.auth"
            and all(
                _ours(event, name) == expected[name].strip() for name in FIELDS if name in expected
            )
        )
    assert compared > 1000
    assert agreed / compared == 1.0, f"{agreed}/{compared}"


def test_every_sshd_line_is_linux_auth(corpus_dir: Path) -> None:
    parser = LinuxAuthParser()
    path = corpus_dir / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    datasets = {
        parser.parse(RawRecord(line, "file:///x", RECEIVED, str(n)))[0]["event.dataset"]
        for n, line in enumerate(path.read_text().splitlines())
    }
    assert datasets == {"linux.auth"}


def test_linux_syslog_auth_lines(corpus_dir: Path) -> None:
    """RHEL-4 style ``sshd(pam_unix)``/``su(pam_unix)`` lines are auth; others are refused."""
    parser = LinuxAuthParser()
    path = corpus_dir / "loghub" / "Linux" / "Linux_2k.log"
    auth = refused = 0
    for n, line in enumerate(path.read_text(errors="replace").splitlines()):
        program = line.split()[4] if len(line.split()) > 4 else ""
        try:
            (event,) = parser.parse(RawRecord(line, "file:///Linux_2k.log", RECEIVED, str(n)))
        except ParseError:
            refused += 1
            assert not program.startswith(("sshd(pam_unix)", "su(pam_unix)")), line
            continue
        if program.startswith("sshd(pam_unix)") and "authentication failure" in line:
            assert event["event.outcome"] == "failure"
            assert event.get("source.ip") or event.get("source.domain")
            auth += 1
    assert auth > 300
    assert refused > 0
