"""The vendor and format parsers of this package, by name, and how to recognise their lines.

``PARSERS`` is merged into ``collectors/registry.py``; ``DETECTORS`` is used by
``collectors/parsers/auto.py`` (and by ``siem parse --format auto`` without it): the first
detector that matches the message text names the parser, so the list goes from the most
specific pattern to the least.
"""

from __future__ import annotations

import importlib
import re
from typing import cast

from collectors.base import Parser

#: parser name -> "module:class"; the class takes no arguments.
PARSERS: dict[str, str] = {
    "cef": "collectors.parsers.cef:CefParser",
    "leef": "collectors.parsers.leef:LeefParser",
    "linux.auth": "collectors.parsers.linux_auth:LinuxAuthParser",
    "iptables": "collectors.parsers.iptables:IptablesParser",
    "ufw": "collectors.parsers.iptables:IptablesParser",
    "pfsense": "collectors.parsers.filterlog:PfsenseParser",
    "opnsense": "collectors.parsers.filterlog:OpnsenseParser",
    "filterlog": "collectors.parsers.filterlog:PfsenseParser",
    "cisco.asa": "collectors.parsers.cisco_asa:CiscoAsaParser",
    "cisco.ftd": "collectors.parsers.cisco_asa:CiscoAsaParser",
    "fortinet.fortigate": "collectors.parsers.fortigate:FortigateParser",
    "panw.panos": "collectors.parsers.panos:PanosParser",
    "sophos.xg": "collectors.parsers.sophos_xg:SophosXgParser",
    "juniper.srx": "collectors.parsers.juniper_srx:JuniperSrxParser",
    "checkpoint": "collectors.parsers.checkpoint:CheckpointParser",
    "mikrotik.routeros": "collectors.parsers.mikrotik:MikrotikParser",
    "ubiquiti.unifi": "collectors.parsers.iptables:UnifiParser",
    "suricata.eve": "collectors.parsers.suricata:SuricataEveParser",
    "zeek": "collectors.parsers.zeek:ZeekParser",
    "json": "collectors.parsers.generic_json:JsonParser",
}

#: (parser name, pattern searched in the whole line), most specific first.
DETECTORS: list[tuple[str, re.Pattern[str]]] = [
    ("cef", re.compile(r"CEF:\d+\|")),
    ("leef", re.compile(r"LEEF:[12](?:\.0)?\|")),
    ("cisco.asa", re.compile(r"%(?:ASA|FTD|FWSM|PIX)-(?:\w+-)?[0-7]-\d{6}")),
    ("fortinet.fortigate", re.compile(r"\blogid=\"?\d{10}\"? .*\btype=\"?\w")),
    ("sophos.xg", re.compile(r'\bdevice="?SF(?:W|OS)"? .*\blog_id=')),
    (
        "panw.panos",
        re.compile(
            r",\d{9,20},(?:TRAFFIC|THREAT|SYSTEM|CONFIG|AUTHENTICATION|GLOBALPROTECT|USERID),"
        ),
    ),
    (
        "juniper.srx",
        re.compile(
            r"\bRT_FLOW_SESSION_(?:CREATE|CLOSE|DENY)|\bPFE_FW_SYSLOG_IP\b"
            r"|\bRT_SYSTEM: RTLOG_|\bKMD_[A-Z_]+\b"
            r"|\bFW: \S+ +[ADR] \S+ [0-9A-Fa-f.:]+ [0-9A-Fa-f.:]+ \d+ \d+"
        ),
    ),
    ("checkpoint", re.compile(r'\borigin[:=]"[^"]*"; .*\bproduct[:=]"|\bCheckPoint \d+ ')),
    (
        "pfsense",
        re.compile(
            r"filterlog(?:\[\d+\])?: \d*,"
            r"|^\d*,[^,]*,[^,]*,[^,]*,[\w.]+,\w+,(?:pass|block|reject),(?:in|out),[46],"
        ),
    ),
    (
        "mikrotik.routeros",
        re.compile(r"\bfirewall,\w+ .*?\w+: in:\S* out:|\b\w+,info,account user "),
    ),
    ("iptables", re.compile(r"\bIN=[^\s=]* OUT=\S* .*\bSRC=")),
    ("suricata.eve", re.compile(r'^\s*\{.*"event_type":\s*"')),
    ("zeek", re.compile(r'^#separator \\x09|^\s*\{.*"id\.orig_h":')),
    (
        "linux.auth",
        re.compile(
            r"\b(?:sshd|sudo|su|login|systemd-logind|passwd|useradd|userdel|usermod|groupadd)"
            r"(?:\(pam_unix\))?(?:\[\d+\])?: "
        ),
    ),
    ("json", re.compile(r"^\s*\{")),
]


def load_parser(name: str) -> Parser:
    """An instance of the parser called ``name``; KeyError when there is none."""
    module_name, _, attribute = PARSERS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return cast(Parser, factory())


#: Detectors read the start of a line only: vendor markers come early, and a detector of the
#: shape ``A .* B`` costs time quadratic in the text when B is missing (found by bench/fuzz.py).
DETECT_WINDOW = 4096


def detect(text: str) -> str | None:
    """The name of the first parser whose detector matches ``text`` (its first
    ``DETECT_WINDOW`` characters), else None."""
    text = text[:DETECT_WINDOW]
    for name, pattern in DETECTORS:
        if pattern.search(text):
            return name
    return None
