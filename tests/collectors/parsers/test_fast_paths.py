"""The shortcuts on the ingest hot path give what the plain code gives, character for character.

Each shortcut is checked against the slow form it replaces: ``format_epoch`` against
``format_timestamp``, a record's id against ``make_event_id``, the literal pre-tests against
running every regex, the syslog tag pre-test against ``_TAG``, the literal-first iptables
regexes against their ``\\b`` forms; on generated texts and on the real corpus.
"""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.base import RawRecord
from collectors.parsers import auto, checkpoint, iptables, keyvalue, linux_auth, syslog
from collectors.parsers.literals import required_literals
from collectors.parsers.stamps import format_epoch
from siem.errors import ParseError
from siem.event import format_timestamp, make_event_id

# -- format_epoch -------------------------------------------------------------------------


def _same_or_same_error(moment: float) -> None:
    try:
        expected = format_timestamp(moment)
    except (ValueError, OverflowError, OSError) as exc:
        with pytest.raises(type(exc)):
            format_epoch(moment)
        return
    assert format_epoch(moment) == expected, repr(moment)


@given(st.floats(min_value=-1e10, max_value=3e11, allow_nan=False))
def test_format_epoch_is_format_timestamp(moment: float) -> None:
    _same_or_same_error(moment)


@given(st.integers(min_value=0, max_value=4_000_000_000), st.integers(min_value=0, max_value=999))
def test_format_epoch_at_rounding_edges(second: int, milli: int) -> None:
    # half a millisecond, the last microsecond of a second (which rounds into the next one)
    for fraction in (milli / 1000, (milli + 0.5) / 1000, milli / 1000 + 0.0005, 0.9999995, 0.99999949, 0.9999996):
        _same_or_same_error(second + fraction)
    _same_or_same_error(second)  # an int


def test_format_epoch_edges() -> None:
    for moment in (
        0.0,
        -0.0,
        1e-7,
        0.4999995,
        253_402_300_799.0,
        253_402_300_799.9999,
        253_402_300_800.0,
        -1.5,
        1_764_064_800.0005,
        1_764_064_800.9995,
        math.inf,
        -math.inf,
        math.nan,
    ):
        _same_or_same_error(moment)
    assert format_epoch(1_700_000_000.123) == "2023-11-14T22:13:20.123Z"


def test_format_epoch_repeated_and_alternating() -> None:
    moments = [1_764_064_800.25, 1_764_064_800.25, 1_764_064_800.2505, 5, 5.0, -0.0, 0.0, 1_764_064_800.25]
    assert [format_epoch(moment) for moment in moments] == [format_timestamp(moment) for moment in moments]


# -- record ids ---------------------------------------------------------------------------


@given(st.text(), st.text(), st.text())
def test_record_id_is_make_event_id(origin: str, key: str, text: str) -> None:
    record = RawRecord(text, origin, 1.0, key)
    assert record.record_id() == make_event_id(origin, key, text)


def test_record_id_of_surrogates_and_nul() -> None:
    record = RawRecord("a\udcff\x00b", "udp://[::1]:5", 1.0, "0\x00")
    assert record.record_id() == make_event_id("udp://[::1]:5", "0\x00", "a\udcff\x00b")


# -- required literals --------------------------------------------------------------------


def test_required_literals_of_known_shapes() -> None:
    assert required_literals(re.compile(r"\bRT_FLOW_(?:A|B)|\bKMD_\w+")) == ("RT_FLOW_", "KMD_")
    assert required_literals(re.compile(r"(?:Connection closed|Disconnected) by")) == (
        "Connection closed",
        "Disconnected",
    )
    assert required_literals(re.compile(r"^#sep \\x09|^\s*\{.*\"id\":")) == ("#sep \\x09", '"id":')
    assert required_literals(re.compile(r"a.*bcd")) == ("bcd",)
    assert required_literals(re.compile(r"IN(?<=\bIN)=\S* OUT=")) == (" OUT=",)
    assert required_literals(re.compile(r"(?i)abc")) is None
    assert required_literals(re.compile(r"x|.*")) is None
    assert required_literals(re.compile(r"(?:ab)?c+")) == ("c",)
    assert required_literals(re.compile(r"\d+")) is None


_SHAPES = [
    r"\bRT_FLOW_SESSION_(?:CREATE|CLOSE)|\bKMD_[A-Z_]+\b|\bFW: \S+",
    r"(?:Connection closed|Disconnected) (?:by|from)(?: user (\S+))? (\S+)",
    r"^(?:Removed session|Session \S+ logged out)",
    r"x(?:ab|cd)+y|z{2,}w",
    r"(?:a|b(?i:C))d",
    r"IN(?<=\bIN)=[^\s=]* OUT=\S* ",
]


@given(st.sampled_from(_SHAPES), st.text(alphabet="abcdxyzwCINOUT=RT_FLOWSESIONKMDA: \t[]", max_size=40))
def test_a_text_without_the_literals_does_not_match(shape: str, text: str) -> None:
    pattern = re.compile(shape)
    literals = required_literals(pattern)
    if literals is not None and not any(literal in text for literal in literals):
        assert pattern.search(text) is None


def _corpus_lines(corpus: Path) -> list[str]:
    files = sorted((corpus / "elastic-pipeline-tests").glob("*/*/*.log")) + sorted((corpus / "loghub").glob("*/*.log"))
    return [line for path in files for line in path.read_text(errors="replace").splitlines()]


def test_literal_pretests_hold_on_the_corpus(corpus_dir: Path) -> None:
    lines = _corpus_lines(corpus_dir)
    patterns = [pattern for pattern, *_ in linux_auth.RULES]
    patterns += [d for _, d in auto.DETECTORS if isinstance(d, re.Pattern)]
    from collectors.parsers.catalog import DETECTORS

    patterns += [pattern for _, pattern in DETECTORS]
    checked = 0
    for pattern in patterns:
        literals = required_literals(pattern)
        for line in lines:
            if pattern.search(line) is not None:
                checked += 1
                assert literals is None or any(literal in line for literal in literals), (pattern.pattern, line)
    assert checked > 1000


def test_auto_detection_is_the_first_detector_that_matches(corpus_dir: Path) -> None:
    parser = auto.AutoParser()
    lines = _corpus_lines(corpus_dir)
    messages = []
    envelope = syslog.SyslogParser()
    for line in lines:
        with contextlib.suppress(ParseError):
            messages.append(envelope.parse(RawRecord(line, "f", 1.7e9, "k"))[0]["message"])
    found = 0
    for text in lines + messages:
        window = text[: auto.DETECT_WINDOW]
        expected = next((d.name for d in parser._detectors
                         if (d.detector.search(window) if isinstance(d.detector, re.Pattern) else d.detector(window))),
                        None)  # fmt: skip
        assert parser._detect(text) == expected, text
        found += expected is not None
    assert found > 500


# -- syslog tag pre-test, iptables regexes -----------------------------------------------


@given(st.text(alphabet="ab1_./-[]: \t\nCEFL%", max_size=30), st.integers(min_value=0, max_value=5))
def test_tag_pretest_is_tag_regex(text: str, position: int) -> None:
    position = min(position, len(text))
    fast = syslog._tag(text, position, text.find(" ", position))
    slow = syslog._TAG.match(text, position)
    assert (fast and (fast.span(), fast.groups())) == (slow and (slow.span(), slow.groups()))


_WORDY = st.text(alphabet="PROTMAC=xé_ :0a1f\t", max_size=60)


@given(_WORDY)
def test_literal_first_iptables_regexes_are_the_word_boundary_ones(text: str) -> None:
    for fast, slow in ((iptables._PAIR_PROTO, re.compile(r"\bPROTO=(\S+)")),
                       (iptables._MAC, re.compile(r"\bMAC=((?:[0-9a-f]{2}:){12}[0-9a-f]{2})")),
                       (auto.DETECTORS[3][1], re.compile(r"\bIN=[^\s=]* OUT=\S* "))):  # fmt: skip
        a, b = fast.search(text), slow.search(text)  # type: ignore[union-attr]
        assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups()))


def test_mac_and_proto_found_as_before() -> None:
    mac = "MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00"
    assert iptables._MAC.search(f"xMAC=1 {mac}") is not None
    assert iptables._PAIR_PROTO.search("xPROTO=UDP PROTO=TCP").group(1) == "TCP"  # type: ignore[union-attr]


def test_observer_ip_cache_gives_the_computed_address() -> None:
    origins = [f"udp://192.0.2.{n % 256}:{n}" for n in range(5000)] + ["tcp://[2001:db8::1]:514", "file:///x"]
    for origin in origins + origins[:10]:
        assert syslog.observer_ip(origin) == syslog._observer_ip(origin)
    assert len(syslog._OBSERVERS) <= syslog._CACHE_SIZE


# -- the usual RFC 3164 header in one regex ------------------------------------------------


def _envelopes(lines: list[str]) -> list[object]:
    parser = syslog.SyslogParser()
    out: list[object] = []
    for n, line in enumerate(lines):
        for timezone, received in (("UTC", 1_764_064_800.0), ("Europe/Berlin", 1_735_646_400.5)):
            try:
                out.append(
                    list(
                        parser.envelope(
                            RawRecord(line, "udp://192.0.2.7:514", received, str(n), timezone=timezone)
                        ).items()
                    )
                )
            except ParseError as exc:
                out.append(("error", exc.message))
    return out


_HEADERS = st.builds(
    lambda pri, month, day, clock, host, tag, rest: f"{pri}{month} {day} {clock} {host}{tag}{rest}",
    st.sampled_from(["", "<13>", "<38>", "<191>", "<192>"]),
    st.sampled_from(["Nov", "Feb", "Foo", "nov", "*Mar", "Nov "]),
    st.sampled_from(["25", " 5", "29", "31", "2026", "5"]),
    st.sampled_from(["10:00:00", "23:59:59", "10:00:00.123", "10:00:00:", "25:00:00"]),
    st.sampled_from(["host ", "cam-w3-001 ", "%ASA ", "a=b ", "h: ", "2001:db8::1 ", "", "h\t", "h:x "]),
    st.sampled_from(
        ["sshd[12]: ", "app: ", "CEF: ", "su(pam_unix)[²4]: ", "kernel:", "x[1 2]: ", "no tag ", "a/b.c-d: "]
    ),
    st.text(alphabet="ab :[]\n", max_size=8),
)


@given(st.lists(_HEADERS, min_size=1, max_size=20))
def test_fast_header_path_is_the_general_one(lines: list[str]) -> None:
    fast = _envelopes(lines)
    saved = syslog._FAST_3164
    syslog._FAST_3164 = re.compile(r"(?!)")  # never matches: the general path for every line
    try:
        assert _envelopes(lines) == fast
    finally:
        syslog._FAST_3164 = saved


def test_fast_header_path_on_the_corpus(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _corpus_lines(corpus_dir)
    fast = _envelopes(lines)
    taken = sum(
        1 for line in lines if syslog._FAST_3164.match(line.partition(">")[2] if line.startswith("<") else line)
    )
    monkeypatch.setattr(syslog, "_FAST_3164", re.compile(r"(?!)"))
    assert _envelopes(lines) == fast
    assert taken > 3000  # the loghub Linux and OpenSSH samples take the fast path


# -- key=value pairs ----------------------------------------------------------------------

_CHAR_AT_A_TIME = re.compile(r'(?<![\w.-])(?:[^\W_A-Za-z]|[.-])*([A-Za-z_][\w.-]*)=(?:"((?:[^"\\]|\\.)*)"|([^ ]*))')


@given(st.text(alphabet='ab_1.-= "\\\n\té', max_size=60))
def test_unrolled_quoted_values_are_the_char_at_a_time_ones(text: str) -> None:
    assert keyvalue._PAIR.findall(text) == _CHAR_AT_A_TIME.findall(text)


def test_unrolled_quoted_values_on_the_corpus(corpus_dir: Path) -> None:
    lines = _corpus_lines(corpus_dir)
    assert [keyvalue._PAIR.findall(line) for line in lines] == [_CHAR_AT_A_TIME.findall(line) for line in lines]
    assert keyvalue.pairs('a="x \\" y" b=2') == {"a": 'x " y', "b": "2"}


_CHECKPOINT_CHAR_AT_A_TIME = re.compile(r'(?<!\w)(\w+)[:=]"((?:[^"\\]|\\.)*)"')


@given(st.text(alphabet='ab_1:= "\\\n]é;', max_size=60))
def test_checkpoint_pairs_are_the_char_at_a_time_ones(text: str) -> None:
    assert checkpoint._PAIR.findall(text) == _CHECKPOINT_CHAR_AT_A_TIME.findall(text)


def test_iso_stamps_kept_per_zone_are_the_computed_ones() -> None:
    parser = syslog.SyslogParser()
    stamps = ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00", "2026-11-25 10:00:00.5+02:00", "2026-02-29T10:00:00"]
    for _ in range(2):  # computed, then kept
        for timezone in ("UTC", "Europe/Berlin", "America/New_York"):
            for stamp in stamps:
                for line in (f"<13>{stamp} host app: x", f"<13>1 {stamp.replace(' ', 'T')} host app - - - x"):
                    record = RawRecord(line, "udp://192.0.2.7:514", 1_764_064_800.0, "k", timezone=timezone)
                    match = syslog._RFC3339.match(line, line.index(">") + 1 + line.startswith("<13>1 ") * 2)
                    assert match is not None
                    try:
                        expected = format_timestamp(syslog.parse_rfc3339(match, syslog.zone(timezone)))
                    except ParseError as exc:  # 29 February 2026
                        with pytest.raises(ParseError, match="invalid timestamp"):
                            parser.envelope(record)
                        assert "day is out of range" in exc.message
                        continue
                    assert parser.envelope(record)["@timestamp"] == expected
