"""Parity, measured: the same events and rules through (a) the streaming engine over the
events in memory, (b) ``hunt_stream`` over a SQLite store and (c) ``hunt_lucene`` over an
Elasticsearch store (osmem-server, or SIEM_TEST_ES_URL) must give the same hits (rule id ->
event ids) for every rule each backend can express; the rules (c) cannot express are
printed with the reason.

Events: SigmaHQ's regression events (EVTX JSON flattened by our Windows parser), our rules'
regression events (flat ECS) and 2,000 OpenSSH syslog lines through ``siem ingest``.
Rules: ours plus each SigmaHQ rule that has regression events. All three run with logsource
``any``: a Lucene query carries no logsource condition, so the engine must not route either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import root
from siem import event as ecs
from siem.commands.detect import load_event_file
from siem.config import Config, StoreConfig
from siem.detect.engine import Detector
from siem.detect.loader import RuleSet, load_rules
from siem.detect.regression import find_cases
from siem.event import Event
from siem.hunt.lucene import default_pipeline, hit_sets, hunt_lucene, routed
from siem.hunt.stream import hunt_stream, time_query
from siem.store.elasticsearch.store import ElasticsearchStore
from siem.store.factory import open_store
from siem.store.sqlite.store import SqliteStore
from tests.conftest import PROJECT_ROOT
from tests.store import es_cluster

pytestmark = pytest.mark.corpus

RULES = PROJECT_ROOT / "rules"
SIGMA_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
_RULE_ID = re.compile(r"^id:\s*([0-9a-fA-F-]{36})\s*$", re.MULTILINE)


@dataclass
class Setup:
    ruleset: RuleSet
    events: list[Event]
    sqlite: SqliteStore
    es: ElasticsearchStore


def sigma_rule_files(corpus: Path, wanted: set[str]) -> dict[str, Path]:
    """The SigmaHQ rule file of each wanted id."""
    found: dict[str, Path] = {}
    for folder in SIGMA_DIRS:
        for path in sorted((corpus / "sigmahq" / folder).rglob("*.yml")):
            match = _RULE_ID.search(path.read_text(encoding="utf-8"))
            if match and match.group(1) in wanted:
                found[match.group(1)] = path
    return found


def regression_events(root: Path) -> list[Event]:
    """The events of every regression case under ``root`` (raw text cases left out: they
    have no time or id), each once."""
    events: dict[str, Event] = {}
    for case in find_cases(root):
        for case_file in case.files:
            if case_file.kind == "raw" or not case_file.path.is_file():
                continue
            for event in load_event_file(case_file.path, case_file.kind):
                events.setdefault(str(event[ecs.ID]), event)
    return list(events.values())


@pytest.fixture(scope="module")
def setup(
    corpus_dir: Path, es_test_cluster: es_cluster.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    sigma_cases = find_cases(corpus_dir / "sigmahq" / "regression_data")
    files = sigma_rule_files(corpus_dir, {case.rule_id for case in sigma_cases})
    ruleset = load_rules([RULES, *sorted(files.values())], pipeline=default_pipeline())
    data_dir = tmp_path_factory.mktemp("hunt-parity")
    sqlite = SqliteStore(data_dir / "siem.db")
    sqlite.write(regression_events(corpus_dir / "sigmahq" / "regression_data")
                 + regression_events(RULES / "regression_data"))
    sqlite.close()
    log = corpus_dir / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
    result = CliRunner().invoke(root, ["--data-dir", str(data_dir), "ingest", str(log)])
    assert result.exit_code == 0, result.output
    sqlite = SqliteStore(data_dir / "siem.db")
    events = list(sqlite.scan(time_query(None, None, None)))
    es_config = es_test_cluster.config(data_dir)
    es = open_store(Config(store=StoreConfig(backend="elasticsearch", elasticsearch=es_config)),
                    data_dir)
    assert isinstance(es, ElasticsearchStore)
    try:
        for start in range(0, len(events), 500):
            es.write(events[start : start + 500])
        yield Setup(ruleset, events, sqlite, es)
    finally:
        sqlite.close()
        es.close()
        es_cluster.delete_indices(es_test_cluster, data_dir)


def engine_hits(ruleset: RuleSet, events: list[Event]) -> dict[str, set[str]]:
    detector = Detector(ruleset, logsource="any")
    found = detector.detect(events)
    correlations = [*found.correlations, *detector.finish()]
    hits = hit_sets(found.matches)
    for match in correlations:
        hits.setdefault(match.rule.id, set()).update(
            str(m.event.get(ecs.ID)) for m in match.matches)
    return hits


def engine_hits_strict(ruleset: RuleSet, events: list[Event]) -> dict[str, set[str]]:
    return hit_sets(Detector(ruleset, logsource="strict", correlate=False).detect(events).matches)


def test_three_backends_agree(setup: Setup) -> None:
    ruleset, events = setup.ruleset, setup.events
    assert len(events) >= 2500, "regression events plus 2,000 syslog lines"
    assert setup.es.count(time_query(None, None, None)) == len(events)

    expected = engine_hits(ruleset, events)
    streamed = hunt_stream(setup.sqlite, ruleset, logsource="any")
    on_sqlite = hit_sets(streamed.matches)
    for match in streamed.correlations:
        on_sqlite.setdefault(match.rule.id, set()).update(
            str(m.event.get(ecs.ID)) for m in match.matches)
    assert streamed.events == len(events)
    assert on_sqlite == expected

    lucene = hunt_lucene(setup.es, ruleset, pipeline=default_pipeline())
    on_es = hit_sets(lucene.matches)
    generating = {loaded.info.id for loaded in ruleset.rules if loaded.info.generate}
    differing = {
        rule: (expected.get(rule, set()), on_es.get(rule, set()))
        for rule in lucene.queries
        if expected.get(rule, set()) != on_es.get(rule, set())
    }
    total_rules = len(generating) + len(ruleset.correlations)
    print(f"\nrules {total_rules} (base {len(generating)}, correlations"
          f" {len(ruleset.correlations)}), events {len(events)}")
    print(f"hits: engine {sum(map(len, expected.values()))},"
          f" sqlite hunt {sum(map(len, on_sqlite.values()))},"
          f" es lucene {sum(map(len, on_es.values()))}"
          f" (engine on the same rules: {sum(len(expected.get(r, ())) for r in lucene.queries)})")
    print(f"lucene: expressible {len(lucene.queries)}, agree {len(lucene.queries) - len(differing)},"
          f" not expressible {len(lucene.not_expressible)}")
    for rule, reason in sorted(lucene.not_expressible.items()):
        print(f"  not expressible {rule}: {reason}")
    for rule, (want, got) in sorted(differing.items()):
        print(f"  DIFFERS {rule}: engine {len(want)} es {len(got)} query {lucene.queries[rule]}")
    assert not differing
    # Measured on this corpus (SigmaHQ 8eaafff regression data, our rules): 180 rules, 168
    # expressible as Lucene queries, all agreeing; the 12 others are 7 correlations, 2 field
    # references, 1 time part, 1 keyword search, 1 regexp with lookahead.
    assert total_rules >= 175
    assert len(lucene.queries) >= 165
    assert sum(len(expected.get(rule, ())) for rule in lucene.queries) >= 250
    assert set(lucene.queries) | set(lucene.not_expressible) == generating | {
        info.id for info in ruleset.infos.values() if info.id not in generating
        and any(info.id == str(c.id) for c in ruleset.correlations)}
    assert all(reason for reason in lucene.not_expressible.values())


    # Strict routing: the engine routes events to rules by logsource; Lucene hits are routed
    # afterwards (the query has no logsource) and must agree too.
    strict = engine_hits_strict(ruleset, events)
    strict_es = hit_sets(routed(lucene.matches))
    assert {rule: strict_es.get(rule, set()) for rule in lucene.queries} == {
        rule: strict.get(rule, set()) for rule in lucene.queries}
    print(f"strict routing: engine {sum(len(strict.get(r, ())) for r in lucene.queries)} hits,"
          f" es {sum(map(len, strict_es.values()))} hits on the expressible rules")
