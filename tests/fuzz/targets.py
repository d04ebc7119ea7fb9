"""Fuzz targets shared by the bounded hypothesis tests (tests/fuzz/) and the long run (bench/fuzz.py).

A target takes one input as bytes, feeds it to one part of the project and checks its
contract: the exceptions that part may raise (``allowed``), anything else is a finding
(``run`` lets it escape). Inputs are real corpus data (``seeds``) changed by ``mutate``:
bit flips, inserted and deleted bytes, NUL and invalid UTF-8, numbers at the limits, repeated
chunks and splices of two seeds, so the parsers get past their first test of the format.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

from collectors.base import RawRecord
from siem.errors import ConfigError, ParseError, QueryError, SiemError
from tests.conftest import PROJECT_ROOT, corpus_path

# ---------------------------------------------------------------- mutations

#: Byte strings worth inserting: delimiters of the formats, NUL, invalid and partial UTF-8,
#: numbers at the limits, JSON escapes of lone surrogates and NUL.
TOKENS: tuple[bytes, ...] = (
    b"\x00", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf",
    b"\n", b"\r\n", b"\r", b" ", b"\t", b'"', b"'", b"\\", b"{", b"}", b"[", b"]", b"(", b")",
    b"|", b"=", b":", b",", b";", b"<", b">", b"%", b"#", b"*", b"?", b"/", b"-",
    b"-1", b"0", b"65535", b"65536", b"4294967296", b"18446744073709551616", b"99999999999999999999999",
    b"1e999", b"-0", b"NaN", b"\\u0000", b"\\ud800", b"\\udfff", b"null", b"true", b"[]", b"{}",
    b"<999>", b"<13>", b"<165>1 ", b"CEF:0|", b"LEEF:2.0|", b"Feb 29 ", b"2026-13-45T25:61:61Z",
    b"9999-12-31T23:59:59+14:00", b"%ASA-6-302013: ", b"IN=eth0 OUT= SRC=", b"\x1b[31m",
)
INTERESTING_BYTES = b"\x00\x01\x7f\x80\xbf\xc0\xc3\xe2\xed\xf0\xf4\xfe\xff 0:=|,\"\\\n\r{[<"

#: What a digit may become: limits, floats beyond range, 5,000 digits (over Python's 4,300 for
#: ``int``), digits ``isdigit`` accepts but ``int`` does not ("²"), other scripts' digits.
NUMBERS: tuple[bytes, ...] = (
    b"0", b"-1", b"4294967296", b"99999999999999999999", b"1e999", b"9" * 5000, "²".encode(), "١٢".encode(),
    b"NaN", b"0x1F",
)

#: A mutation: (kind, a, b); a and b are arbitrary numbers each kind reads modulo what it needs.
Op = tuple[int, int, int]
OP_KINDS = 9
MAX_INPUT = 1 << 16


def apply_ops(data: bytes, ops: Iterable[Op], seeds: Sequence[bytes]) -> bytes:
    """``data`` changed by each mutation in turn (deterministic: the same ops, the same bytes)."""
    out = bytearray(data)
    for kind, a, b in ops:
        size = len(out)
        pos = a % (size + 1)
        if kind == 0 and size:  # flip one bit
            out[pos % size] ^= 1 << (b % 8)
        elif kind == 1:  # insert a byte
            out[pos:pos] = bytes([b % 256])
        elif kind == 2 and size:  # delete a run
            del out[pos : pos + 1 + b % 16]
        elif kind == 3:  # insert a token
            out[pos:pos] = TOKENS[b % len(TOKENS)]
        elif kind == 4 and size:  # overwrite a byte with an interesting one
            out[pos % size] = INTERESTING_BYTES[b % len(INTERESTING_BYTES)]
        elif kind == 5 and size:  # repeat a chunk (long lines, deep nesting)
            start = b % size
            chunk = out[start : start + 1 + (b >> 8) % 32]
            out[pos:pos] = chunk * (1, 2, 16, 256, 2048)[(b >> 4) % 5]
        elif kind == 6 and seeds:  # splice: our head, another seed's tail
            other = seeds[b % len(seeds)]
            out = out[:pos] + other[(b >> 4) % (len(other) + 1) :]
        elif kind == 7 and size:  # truncate
            del out[pos:]
        elif kind == 8:  # a number at a limit where a digit was
            digit = next((i for i in range(pos, size) if 0x30 <= out[i] <= 0x39), None)
            if digit is not None:
                out[digit : digit + 1] = NUMBERS[b % len(NUMBERS)]
        if len(out) > MAX_INPUT:
            del out[MAX_INPUT:]
    return bytes(out)


def mutate(rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """One fuzz input: mostly a mutated seed, sometimes random bytes."""
    if not seeds or rng.random() < 0.04:
        return rng.randbytes(rng.randrange(0, 512))
    count = rng.choice((1, 1, 1, 2, 2, 3, 4, 8))
    ops = [(rng.randrange(OP_KINDS), rng.getrandbits(20), rng.getrandbits(20)) for _ in range(count)]
    return apply_ops(rng.choice(seeds), ops, seeds)


# ---------------------------------------------------------------- seeds from the corpus

NOW = 1_795_000_000.0


def _lines(paths: Iterable[Path], limit: int = 400) -> list[bytes]:
    out: list[bytes] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        out.extend(line for line in data.splitlines()[:limit] if line.strip())
    return out


@cache
def corpus_lines() -> dict[str, list[bytes]]:
    """Real log lines by the parser they are for (``*``: every line), empty without the corpus."""
    corpus = corpus_path()
    if not corpus.is_dir():
        return {}
    from tests.collectors.parsers.elastic_cases import FILES

    by_parser: dict[str, list[bytes]] = {}
    for spec in FILES:
        by_parser.setdefault(spec.parser, []).extend(_lines([corpus / "elastic-pipeline-tests" / spec.path]))
    loghub = corpus / "loghub"
    by_parser.setdefault("linux.auth", []).extend(_lines(loghub.glob("OpenSSH/*.log")))
    by_parser["syslog"] = _lines([*loghub.glob("Linux/*.log"), *loghub.glob("OpenSSH/*.log")], 300)
    network = corpus / "network-logs"
    by_parser["suricata.eve"] = _lines(network.glob("suricata/**/*.json"))
    by_parser.setdefault("zeek", []).extend(_lines(sorted(network.glob("zeek/**/*.log"))[:20], 40))
    by_parser["windows"] = windows_documents()
    by_parser["json"] = by_parser["suricata.eve"][:100] + by_parser["windows"][:100]
    by_parser["ecs-json"] = by_parser["json"]
    everything = sorted({line for lines in by_parser.values() for line in lines})
    by_parser["*"] = everything
    return by_parser


@cache
def windows_documents() -> list[bytes]:
    """The SigmaHQ regression events (EVTX records as JSON), one document each."""
    root = corpus_path() / "sigmahq" / "regression_data"
    documents: list[bytes] = []
    for path in sorted(root.rglob("*.json"))[:200]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        documents.extend(json.dumps(doc).encode() for doc, _ in _documents(text))
    return documents


def _documents(text: str) -> Iterable[tuple[Any, str]]:
    from collectors.parsers.windows import iter_json_documents

    try:
        yield from iter_json_documents(text)
    except ParseError:
        return


#: Seeds when the corpus is absent: one line of each kind of format we read.
BUILTIN_LINES: tuple[bytes, ...] = (
    b"<38>Nov 25 10:00:00 gw sshd[2211]: Failed password for root from 203.0.113.9 port 52144 ssh2",
    b"<165>1 2026-11-25T10:00:00.123+07:00 host app 42 ID47 [exampleSDID@32473 iut=\"3\"] hello",
    b"CEF:0|Vendor|Product|1.0|100|Blocked|5|src=10.0.0.1 dst=10.0.0.2 spt=1234 dpt=80 act=blocked",
    b"LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.0.1^dst=10.0.0.2^sev=5",
    b"<134>Jul  3 19:10:30 filterlog[72237]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,"
    b"198.51.100.7,10.0.0.5,51234,22,0,S,1,,64240,,mss",
    b"<166>Jan 05 2024 10:00:00: %ASA-6-302013: Built inbound TCP connection 1 for outside:198.51.100.7/5123 "
    b"(198.51.100.7/5123) to inside:10.0.0.5/22 (10.0.0.5/22)",
    b'date=2024-01-05 time=10:00:00 logid="0000000013" type="traffic" subtype="forward" srcip=10.0.0.1 '
    b'dstip=10.0.0.2 action="deny"',
    b"kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC=198.51.100.7 DST=10.0.0.5 LEN=60 PROTO=TCP SPT=5 DPT=22",
    b'{"timestamp":"2024-01-05T10:00:00.000+0000","event_type":"alert","src_ip":"10.0.0.1","dest_port":80}',
    b'{"_path":"conn","ts":1704448800.0,"id.orig_h":"10.0.0.1","id.orig_p":5,"id.resp_h":"10.0.0.2"}',
    b'{"Event":{"System":{"EventID":4625,"Channel":"Security","Computer":"dc1"},"EventData":{"TargetUserName":"x"}}}',
    b'time="1704448800" origin="10.0.0.1"; product="VPN-1 & FireWall-1"; action="Drop"; src="10.0.0.2"',
)


def seeds_for_parser(name: str) -> list[bytes]:
    """Seeds of one parser: its own real lines plus a share of every other kind."""
    lines = corpus_lines()
    own = lines.get(name, [])
    rest = lines.get("*", [])
    if not rest:
        return list(BUILTIN_LINES)
    return own + rest[:: max(1, len(rest) // 200)] if own else rest


# ---------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One thing to fuzz: its seeds and the call that checks its contract."""

    name: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes], None]


class ContractBroken(AssertionError):
    """The target returned something its contract rules out."""


def record(data: bytes, fmt: str = "auto") -> RawRecord:
    """A record as the sources make them: text decoded with replacement, the bytes kept when invalid."""
    text = data.decode("utf-8", "replace")
    raw = None if text.encode("utf-8", "surrogatepass") == data else data
    return RawRecord(text=text, origin="udp://192.0.2.7:514", received=NOW, key="0", raw_bytes=raw,
                     format=fmt, timezone="Europe/Berlin")


def check_events(events: Any) -> None:
    """A parser's result: a list of flat events with text keys."""
    if not isinstance(events, list):
        raise ContractBroken(f"parse returned {type(events).__name__}, not a list")
    for event in events:
        if not isinstance(event, dict) or not all(isinstance(key, str) for key in event):
            raise ContractBroken(f"not a flat event: {event!r:.200}")


@cache
def _parser(name: str) -> Any:
    from collectors.registry import create_parser

    return create_parser(name)


def parser_target(name: str) -> Target:
    """``Parser.parse``: events or ParseError (the pipeline turns that into an ``unknown`` event)."""

    def run(data: bytes) -> None:
        try:
            events = _parser(name).parse(record(data, name))
        except ParseError as exc:
            if not exc.message:
                raise ContractBroken("ParseError without a reason") from exc
            return
        check_events(events)

    return Target(f"parser:{name}", lambda: seeds_for_parser(name), run)


def _envelope(data: bytes) -> None:
    from collectors.parsers import envelope
    from collectors.parsers.syslog import SyslogParser

    rec = record(data)
    with contextlib.suppress(ParseError):  # a date that cannot be (no year fits, month 13)
        env = envelope.split(rec.text, UTC, NOW)
        if not isinstance(env.message, str):
            raise ContractBroken("envelope message is not text")
    with contextlib.suppress(ParseError):
        SyslogParser().envelope(rec)


def _framing(data: bytes) -> None:
    from collectors.sources.framing import Framer
    from collectors.sources.syslog import strip_octet_count

    strip_octet_count(data)
    limit = 8 + (data[0] if data else 0)
    rng = random.Random(data[:16])
    framer = Framer(limit)
    frames = []
    position = 0
    while position < len(data):
        size = rng.choice((1, 2, 7, 64, 4096))
        frames += framer.feed(data[position : position + size])
        position += size
        if len(framer._buffer) > limit + 16:
            raise ContractBroken(f"framer holds {len(framer._buffer)} bytes for a limit of {limit}")
    frames += framer.finish()
    if any(len(frame) > limit for frame, _ in frames):
        raise ContractBroken("a frame is longer than the limit")
    if sum(len(frame) for frame, _ in frames) > len(data):
        raise ContractBroken("the frames hold more bytes than came in")


def _query(data: bytes) -> None:
    from siem.query import parse_query, to_text
    from siem.store.elasticsearch.query import to_dsl
    from siem.store.sqlite.querylang import to_sql

    text = data.decode("utf-8", "surrogateescape")  # as the command line hands it over
    try:
        tree = parse_query(text)
        where, params = to_sql(tree)
        to_dsl(tree)
        to_text(tree)
    except QueryError:
        return
    if where.count("?") != len(params):
        raise ContractBroken("SQL placeholders and parameters differ")
    _query_db().execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()


@cache
def _query_db() -> sqlite3.Connection:
    """An empty real store, read-only with the search functions: the SQL must run, parameters bound."""
    from siem.store.sqlite.querylang import register_functions
    from siem.store.sqlite.store import SqliteStore

    path = _scratch() / "search.db"
    SqliteStore(path).close()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    register_functions(connection)
    return connection


def _config(data: bytes) -> None:
    from siem.config import Config, bind, validate
    from siem.yamlfile import load_yaml_text

    try:
        validate(bind(Config, load_yaml_text(data.decode("utf-8", "replace"), "fuzz.yaml"), path="fuzz.yaml"))
    except ConfigError as exc:
        if not exc.message:
            raise ContractBroken("ConfigError without a message") from exc


def _windows_flatten(data: bytes) -> None:
    from collectors.parsers.windows import flatten_evtx, flatten_windows, flatten_winlogbeat

    try:
        document = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    if not isinstance(document, dict):
        return
    for flatten in (flatten_windows, flatten_evtx, flatten_winlogbeat):
        with contextlib.suppress(ParseError):
            check_events([flatten(document)])


# ---------------------------------------------------------------- pcap


@cache
def pcap_files(max_bytes: int = 65_536) -> list[Path]:
    """Small real captures of the corpus (every protocol group), smallest first."""
    root = corpus_path() / "pcaps"
    files = [p for p in root.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap") and p.stat().st_size <= max_bytes]
    return sorted(files, key=lambda p: (p.stat().st_size, str(p)))


@cache
def pcap_packets(limit: int = 20_000) -> list[bytes]:
    """Packets of the corpus captures in file order, each as 2 bytes of link type + the frame."""
    from collectors.pcap.reader import read_packets

    packets: list[bytes] = []
    for path in pcap_files(2_000_000):
        try:
            for _, linktype, frame, _ in read_packets(path):
                packets.append(linktype.to_bytes(2, "big") + bytes(frame))
                if len(packets) >= limit:
                    return packets
        except SiemError:
            continue
    return packets


class PacketFeeder:
    """One extractor fed packet after packet (sessions build up across inputs), flushed now and then."""

    def __init__(self) -> None:
        from collectors.pcap.extractor import PacketMetadataExtractor

        self.extractor = PacketMetadataExtractor()
        self.clock = NOW
        self.fed = 0

    def __call__(self, data: bytes) -> None:
        if len(data) < 2:
            return
        self.clock += 0.01
        self.fed += 1
        linktype = int.from_bytes(data[:2], "big")
        events = self.extractor.feed(self.clock, linktype, data[2:], len(data) - 2)
        check_events(events)
        if self.fed % 5000 == 0:
            check_events(self.extractor.flush())


@cache
def _feeder() -> PacketFeeder:
    return PacketFeeder()


def _pcap_packet(data: bytes) -> None:
    _feeder()(data)


@cache
def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="siem-fuzz-"))


def _pcap_file(data: bytes) -> None:
    from collectors.pcap.pcapfile import read_pcap
    from collectors.pcap.reader import ReadStats

    path = _scratch() / "input.pcap"
    path.write_bytes(data)
    stats = ReadStats()
    try:
        check_events(list(read_pcap(path, read_stats=stats)))
    except ParseError:
        return


def _pcap_seeds() -> list[bytes]:
    return [path.read_bytes() for path in pcap_files()[:40]]


# ---------------------------------------------------------------- rules


@cache
def rule_seeds() -> list[bytes]:
    """Our rules and a sample of the SigmaHQ rules (every 25th), as YAML bytes."""
    paths = sorted((PROJECT_ROOT / "rules").rglob("*.yml"))
    sigma = sorted((corpus_path() / "sigmahq" / "rules").rglob("*.yml"))
    paths = [p for p in paths if "pipelines" not in p.parts and "compliance" not in p.parts]
    return [p.read_bytes() for p in [*paths, *sigma[::25]]]


@cache
def _sample_events() -> list[dict[str, Any]]:
    from collectors.parsers.windows import flatten_windows

    events: list[dict[str, Any]] = []
    for doc in windows_documents()[:20]:
        events.append(flatten_windows(json.loads(doc)))
    events.append({"CommandLine": "a" * 20_000 + "!", "Image": "C:\\" + "\\a" * 5000, "event.original": "x" * 5000})
    return events


#: A rule's matcher must answer well within this for one event.
RULE_EVENT_BUDGET_S = 0.5


def _rules(data: bytes) -> None:
    from siem.detect.loader import load_rules

    path = _scratch() / "rule.yml"
    path.write_bytes(data)
    rules = load_rules([path])
    for problem in rules.problems:
        if not problem.reason:
            raise ContractBroken("a rule problem without a reason")
    for loaded in rules.rules:
        for event in _sample_events():
            start = time.perf_counter()
            loaded.compiled.matcher(event)
            if time.perf_counter() - start > RULE_EVENT_BUDGET_S:
                raise ContractBroken(f"rule {loaded.info.id} took over {RULE_EVENT_BUDGET_S} s on one event")


def _config_seeds() -> list[bytes]:
    return [(PROJECT_ROOT / "examples" / "siem.yaml").read_bytes()]


def _query_seeds() -> list[bytes]:
    return [
        b"Failed password",
        b"source.ip:203.0.113.0/24 AND user.name:root",
        b"source.ip:10.2.0.0/16 AND event.action:deny AND NOT destination.port:(80 OR 443)",
        b'message:"a phrase" OR host.name:web-* AND destination.port:[1000 TO 2000]',
        b"@timestamp:>=2026-01-01 AND event.dataset:linux.auth AND NOT user.name:*",
        b'url.path:/adm?n* OR (process.name:"cmd.exe" && -process.args:"/c")',
        b"destination.port:>1024 OR source.bytes:<=500 OR event.severity:{1 TO 5}",
        b"source.ip:2001:db8::/32 OR client.ip:\\:\\:1",
    ]


def _framing_seeds() -> list[bytes]:
    lines = corpus_lines().get("*", [])[:200]
    newline = b"\n".join(lines)
    counted = b"".join(b"%d %s" % (len(line), line) for line in lines)
    return [newline[i : i + 3000] for i in range(0, len(newline), 3000)] + [
        counted[i : i + 3000] for i in range(0, len(counted), 3000)
    ] or [b"5 <13>a\n"]


def all_targets() -> dict[str, Target]:
    """Every target by name: each registered parser, then the other inputs."""
    from collectors.registry import PARSERS

    targets = {t.name: t for t in (parser_target(name) for name in sorted(PARSERS.names()))}
    for target in (
        Target("syslog.envelope", lambda: seeds_for_parser("syslog") + seeds_for_parser("*")[::10], _envelope),
        Target("framing", _framing_seeds, _framing),
        Target("pcap.packet", pcap_packets, _pcap_packet),
        Target("pcap.file", _pcap_seeds, _pcap_file),
        Target("query", _query_seeds, _query),
        Target("rules", rule_seeds, _rules),
        Target("windows.flatten", windows_documents, _windows_flatten),
        Target("config", _config_seeds, _config),
    ):
        targets[target.name] = target
    return targets
