"""Linux authentication messages (OpenSSH sshd, sudo, su, PAM, login, systemd-logind) to ECS.

References: OpenSSH ``auth.c`` / ``auth2.c`` / ``sshd.c`` log strings (auth_log: "Accepted %s
for %s%.100s from %.200s port %d ssh2", "Failed ...", "Invalid user %s from %s port %d"),
sudo(8) log format ("user : TTY=tty ; PWD=dir ; USER=target ; COMMAND=cmd"), Linux-PAM
``pam_unix`` and ``pam_faillock`` messages, shadow-utils ``su``/``login``, systemd-logind.
Tolerated deviations: old sshd without "port", the "(pam_unix)" suffix on the program name
(RHEL 4), "message repeated N times: [ ... ]" wrappers, IPv6 and host names as the source.
Messages of these programs that carry no login fact still become ``linux.auth`` events.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collectors.base import RawRecord
from collectors.parsers import envelope
from collectors.parsers.literals import required_literals
from siem import event as ecs
from siem.errors import ParseError
from siem.event import Event

AUTH_DATASET = "linux.auth"
SYSLOG_DATASET = "linux.syslog"
#: Programs whose messages belong to ``linux.auth``.
AUTH_PROGRAMS = frozenset(
    {
        "sshd",
        "sudo",
        "su",
        "login",
        "systemd-logind",
        "passwd",
        "useradd",
        "userdel",
        "usermod",
        "groupadd",
        "chpasswd",
        "chage",
        "polkitd",
        "unix_chkpwd",
        "gdm-password",
        "sshd-session",
    }
)

_USER = r"(?P<user>\S+?)"
# sshd writes the name as given (it may contain spaces); "from" always follows it.
_ANY_USER = r"(?P<user>.*?)"
_IP = r"(?P<ip>[0-9A-Fa-f:.]+|\S+)"
_PORT = r"(?: port (?P<port>\d+))?"

#: Kind of fact -> ``event.category``; logins, sessions and sudo all count as authentication.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "authentication": ("authentication",),
    "session": ("authentication", "session"),
    "process": ("authentication", "process"),
    "network": ("network",),
    "iam": ("iam",),
}

# (pattern, event.action, event.outcome, kind of fact, event.type). Most specific first.
RULES: list[tuple[re.Pattern[str], str, str | None, str, list[str]]] = [
    (
        re.compile(rf"Accepted (?P<method>\S+) for {_ANY_USER} from {_IP}{_PORT}"),
        "ssh_login",
        "success",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"Failed (?P<method>\S+) for (?:invalid user )?{_ANY_USER} from {_IP}{_PORT}"),
        "ssh_login",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"Invalid user {_ANY_USER} from {_IP}{_PORT}"),
        "invalid_user",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"User {_USER} from {_IP} not allowed"),
        "ssh_login",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            rf"maximum authentication attempts exceeded for (?:invalid user )?{_USER} "
            rf"from {_IP}{_PORT}"
        ),
        "ssh_login",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            rf"Disconnecting:? .*Too many authentication failures(?: for (?:invalid user )?"
            rf"{_USER}(?: from {_IP}{_PORT})?)?"
        ),
        "ssh_login",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            rf"(?:Connection closed|Disconnected) by (?:authenticating|invalid) user {_USER} "
            rf"{_IP}{_PORT}"
        ),
        "ssh_disconnect",
        "failure",
        "authentication",
        ["end"],
    ),
    (
        re.compile(
            rf"(?:Connection closed|Disconnected) (?:by|from)(?: user {_USER})? {_IP}{_PORT}"
        ),
        "ssh_disconnect",
        None,
        "session",
        ["end"],
    ),
    (
        re.compile(rf"Received disconnect from {_IP}{_PORT}"),
        "ssh_disconnect",
        None,
        "session",
        ["end"],
    ),
    (
        re.compile(rf"Did not receive identification string from {_IP}{_PORT}"),
        "ssh_scan",
        "failure",
        "network",
        ["connection"],
    ),
    (
        re.compile(rf"reverse mapping checking getaddrinfo for \S+ \[{_IP}\]"),
        "reverse_mapping_failed",
        None,
        "network",
        ["info"],
    ),
    (
        re.compile(rf"input_userauth_request: invalid user {_USER}(?: \[preauth\])?$"),
        "invalid_user",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            r"pam_faillock\([\w-]+:\w+\): Consecutive login failures for user "
            rf"{_USER} account temporarily locked"
        ),
        "account-locked",
        "failure",
        "authentication",
        ["info"],
    ),
    (
        re.compile(rf"authentication failures?; .*?rhost=(?P<ip>\S*)(?:\s+user={_USER})?\s*$"),
        "authentication_failure",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            rf"authentication failures?; .*?ruser=(?P<ruser>\S*).*?(?:\s+user={_USER})?\s*$"
        ),
        "authentication_failure",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(
            rf"session opened for user {_USER}(?:\(uid=\d+\))?"
            r"(?: by (?P<by>\S*?)(?:\(uid=\d+\))?)?\s*$"
        ),
        "logged-in",
        "success",
        "session",
        ["start"],
    ),
    (
        re.compile(rf"session closed for user {_USER}\s*$"),
        "logged-out",
        "success",
        "session",
        ["end"],
    ),
    (
        re.compile(
            rf"^{_USER} : (?:(?P<failures>\d+) incorrect password attempts?|user NOT in sudoers"
            r"|command not allowed) ; .*?(?:USER=(?P<euser>\S+) ; )?COMMAND=(?P<command>.*)$"
        ),
        "sudo",
        "failure",
        "process",
        ["start"],
    ),
    (
        re.compile(rf"^{_USER} : .*?(?:USER=(?P<euser>\S+) ; )?COMMAND=(?P<command>.*)$"),
        "sudo",
        "success",
        "process",
        ["start"],
    ),
    (
        re.compile(rf"^(?:Successful su|\+ \S+) for (?P<euser>\S+) by {_USER}$"),
        "su",
        "success",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^FAILED su for (?P<euser>\S+) by {_USER}$"),
        "su",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^FAILED SU \(to (?P<euser>\S+)\) {_USER} on"),
        "su",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^\(to (?P<euser>\S+)\) {_USER} on"),
        "su",
        "success",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^FAILED LOGIN \(\d+\) on '?\S+?'? FOR '?{_USER}'?,"),
        "login",
        "failure",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^ROOT LOGIN\s+on '?\S+?'?(?: FROM '?{_IP}'?)?$"),
        "login",
        "success",
        "authentication",
        ["start"],
    ),
    (
        re.compile(rf"^New session \S+ of user {_USER}\.$"),
        "logged-in",
        "success",
        "session",
        ["start"],
    ),
    (
        re.compile(r"^(?:Removed session|Session \S+ logged out)"),
        "logged-out",
        "success",
        "session",
        ["end"],
    ),
    (
        re.compile(rf"^new user: name={_USER},"),
        "user-created",
        "success",
        "iam",
        ["user", "creation"],
    ),
    (
        re.compile(rf"^delete user '{_USER}'"),
        "user-deleted",
        "success",
        "iam",
        ["user", "deletion"],
    ),
    (
        re.compile(rf"^(?:pam_unix\(passwd:chauthtok\): )?password changed for {_USER}$"),
        "password-changed",
        "success",
        "iam",
        ["user", "change"],
    ),
]
#: Longer messages are not auth messages (sudo splits its lines near 1000 characters); the
#: patterns' ``.*?`` would cost time quadratic in the length on a hostile line.
MAX_MESSAGE = 8192
#: RULES with each one's required literals (``collectors/parsers/literals.py``): most messages
#: skip most rules without running their regex. (Not a dict by pattern: hashing a compiled
#: pattern hashes its whole program, every time.)
_PRETESTED = [(required_literals(rule[0]), rule) for rule in RULES]
_REPEATED = re.compile(r"message repeated \d+ times: \[ ?(.*?) ?\]$")
_TAG = re.compile(r"^([\w.-]+)(?:\([\w:-]+\))?(?:\[(\d+)\])?: ")
_PAM_SERVICE = re.compile(r"pam_\w+\((?P<service>[\w-]+):")


def program_of(event: Event) -> str:
    """The program name without a ``(pam_unix)`` suffix, or an empty string."""
    name = event.get(ecs.PROCESS_NAME)
    return name.partition("(")[0] if isinstance(name, str) else ""


def parse_message(
    message: str, event: Event, *, tz: tzinfo = UTC, received: float | None = None
) -> None:
    """Add authentication fields of a Linux auth message; ParseError when none apply."""
    if not event.get(ecs.PROCESS_NAME):
        tag = _TAG.match(message)  # "sshd[12]: ..." when no envelope named the program
        if tag:
            event[ecs.PROCESS_NAME] = tag.group(1)
            pid = envelope.number(tag.group(2))
            if pid is not None:
                event[ecs.PROCESS_PID] = pid
            message = message[tag.end() :]
    if len(message) > MAX_MESSAGE:
        raise ParseError(f"message of {len(message)} characters is longer than a Linux auth message "
                         f"(at most {MAX_MESSAGE})")
    repeated = _REPEATED.search(message)
    text = (repeated.group(1) if repeated else message).strip()
    program = program_of(event)
    for literals, (pattern, action, outcome, category, types) in _PRETESTED:
        if literals is not None:  # none of the texts every match contains: no match
            for literal in literals:
                if literal in text:
                    break
            else:
                continue
        match = pattern.search(text)
        if match is None:
            continue
        groups = {key: value for key, value in match.groupdict().items() if value}
        event[ecs.DATASET] = AUTH_DATASET
        event[ecs.MODULE] = "linux"
        event[ecs.ACTION] = action
        event[ecs.CATEGORY] = list(CATEGORIES[category])
        event[ecs.TYPE] = types
        if outcome:
            event[ecs.OUTCOME] = outcome
        if "user" in groups:
            event[ecs.USER_NAME] = groups["user"]
        elif "ruser" in groups:
            event[ecs.USER_NAME] = groups["ruser"]
        if "euser" in groups:
            event["user.effective.name"] = groups["euser"]
        ip = groups.get("ip")
        if ip and ip != "UNKNOWN":
            event[ecs.SOURCE_IP if _looks_like_ip(ip) else "source.domain"] = ip
        port = envelope.number(groups.get("port"), 5)
        if port is not None:
            event[ecs.SOURCE_PORT] = port
        if "method" in groups:
            event["linux.auth.method"] = groups["method"]
        if "command" in groups:
            event["process.command_line"] = groups["command"].strip()
        service = _PAM_SERVICE.search(text)
        if service:
            event["linux.auth.pam_service"] = service.group("service")
        return
    if program in AUTH_PROGRAMS or text.startswith("pam_"):
        event[ecs.DATASET] = AUTH_DATASET
        event[ecs.MODULE] = "linux"
        return
    raise ParseError("not a Linux authentication message")


def _looks_like_ip(text: str) -> bool:
    return ":" in text or text.replace(".", "").isdigit()


class LinuxAuthParser:
    """``/var/log/auth.log`` / ``secure`` lines: sshd, sudo, su, PAM, login, logind."""

    name = "linux.auth"

    def parse(self, record: RawRecord) -> list[Event]:
        """One event per line."""
        return envelope.parse_line(record, AUTH_DATASET, parse_message)
