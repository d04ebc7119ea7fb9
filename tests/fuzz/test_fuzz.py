"""Bounded fuzzing of every input (issue 8): each target of ``tests/fuzz/targets.py`` keeps its
contract on mutated real data, NUL bytes and invalid UTF-8. The long run is ``bench/fuzz.py``.

Seeds come from the shared corpus when it is there (real lines, rules, captures), else from a
few built-in lines; the capture targets need the corpus and skip without it.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.registry import PARSERS
from tests.conftest import corpus_path
from tests.fuzz.targets import OP_KINDS, Target, all_targets, apply_ops

OPS = st.lists(st.tuples(st.integers(0, OP_KINDS - 1), st.integers(0, 1 << 20), st.integers(0, 1 << 20)),
               max_size=6)
#: Bytes every reader must survive anywhere in a line.
HOSTILE = st.sampled_from([b"\x00", b"\xff", b"\xfe", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                           b"\x00" * 64, b"\r", b"\x1b[2J", b"\\u0000", b"\\udc80"])
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])


@cache
def targets() -> dict[str, Target]:
    """Built once per test session (the seeds are read once too)."""
    return all_targets()


@cache
def seeds(name: str) -> list[bytes]:
    return targets()[name].seeds()


def mutated(data: st.DataObject, name: str) -> bytes:
    """A seed of the target changed by a few mutations, or now and then plain random bytes."""
    pool = seeds(name)
    if not pool or data.draw(st.integers(0, 19), label="random") == 0:
        return data.draw(st.binary(max_size=512), label="bytes")
    seed = pool[data.draw(st.integers(0, len(pool) - 1), label="seed")]
    return apply_ops(seed, data.draw(OPS, label="ops"), pool)


def needs_corpus() -> None:
    if not (corpus_path() / "pcaps").is_dir():
        pytest.skip(f"corpus captures not found at {corpus_path()} (set SIEM_CORPUS)")


@pytest.mark.parametrize("parser", sorted(PARSERS.names()))
@FUZZ
@given(data=st.data())
def test_parser_gives_events_or_a_parse_error(parser: str, data: st.DataObject) -> None:
    targets()[f"parser:{parser}"].run(mutated(data, f"parser:{parser}"))


@settings(FUZZ, max_examples=100)
@given(data=st.data(), inserts=st.lists(st.tuples(st.integers(0, 1 << 16), HOSTILE), min_size=1, max_size=4))
def test_nul_and_invalid_utf8_anywhere_in_any_parser(data: st.DataObject, inserts: list[tuple[int, bytes]]) -> None:
    line = mutated(data, "parser:auto")
    for position, chunk in inserts:
        cut = position % (len(line) + 1)
        line = line[:cut] + chunk + line[cut:]
    for name in sorted(PARSERS.names()):
        targets()[f"parser:{name}"].run(line)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_syslog_envelope_survives_mutated_lines(data: st.DataObject) -> None:
    targets()["syslog.envelope"].run(mutated(data, "syslog.envelope"))


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_tcp_framing_stays_within_its_limit(data: st.DataObject) -> None:
    targets()["framing"].run(mutated(data, "framing"))


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_search_language_raises_only_query_error(data: st.DataObject) -> None:
    targets()["query"].run(mutated(data, "query"))


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_windows_flattener_takes_any_json_object(data: st.DataObject) -> None:
    targets()["windows.flatten"].run(mutated(data, "windows.flatten"))


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_config_binder_raises_only_config_error(data: st.DataObject) -> None:
    targets()["config"].run(mutated(data, "config"))


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_packet_decoders_survive_mutated_real_packets(data: st.DataObject) -> None:
    needs_corpus()
    targets()["pcap.packet"].run(mutated(data, "pcap.packet"))


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_capture_reader_survives_mutated_real_captures(data: st.DataObject) -> None:
    needs_corpus()
    targets()["pcap.file"].run(mutated(data, "pcap.file"))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_rule_loading_collects_problems_from_mutated_rules(data: st.DataObject) -> None:
    targets()["rules"].run(mutated(data, "rules"))


@settings(FUZZ, max_examples=200)
@given(st.binary(max_size=2048), st.integers(1, 64))
def test_framer_never_holds_more_than_its_limit(stream: bytes, cut: int) -> None:
    from collectors.sources.framing import Framer

    framer = Framer(32)
    frames = []
    for start in range(0, len(stream), cut):
        frames += framer.feed(stream[start : start + cut])
        assert len(framer._buffer) <= 32 + 16
    frames += framer.finish()
    assert all(len(frame) <= 32 for frame, _ in frames)
