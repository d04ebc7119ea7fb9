"""``hunt_lucene`` on Elasticsearch against ``hunt_stream`` on the same store, for rules
written to probe the conversion: letter case, a trailing backslash, a Sigma filter file, a
keyword rule and a correlation (both listed as not expressible, with the reason)."""

from __future__ import annotations

from pathlib import Path

from siem import event as ecs
from siem.detect.loader import load_rules
from siem.hunt.lucene import default_pipeline, hit_sets, hunt_lucene
from siem.hunt.stream import hunt_stream
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.store import es_cluster
from tests.store.conftest import BASE, open_backend

RULES = {
    "admin.yml": """
title: Admin user
id: 6c8b1f7e-0000-4000-8000-000000000001
status: test
logsource: {category: hunttest}
detection:
    selection:
        user.name|contains: ADMIN
        process.executable|endswith: '\\\\cmd.exe'
    condition: selection
level: high
""",
    "trailing.yml": """
title: Folder path
id: 6c8b1f7e-0000-4000-8000-000000000002
status: test
logsource: {category: hunttest}
detection:
    selection:
        file.directory|endswith: '\\\\Temp\\\\'
    condition: selection
level: low
""",
    "filter.yml": """
title: Not from the jump host
id: 6c8b1f7e-0000-4000-8000-000000000003
logsource: {category: hunttest}
filter:
    rules:
        - 6c8b1f7e-0000-4000-8000-000000000001
    selection:
        source.ip: 10.0.0.1
    condition: not selection
""",
    "keywords.yml": """
title: Keyword
id: 6c8b1f7e-0000-4000-8000-000000000004
status: test
logsource: {category: hunttest}
detection:
    keywords:
        - mimikatz
    condition: keywords
level: high
""",
    "burst.yml": """
title: Admin burst
id: 6c8b1f7e-0000-4000-8000-000000000005
status: test
correlation:
    type: event_count
    rules:
        - 6c8b1f7e-0000-4000-8000-000000000001
    group-by:
        - host.name
    timespan: 10m
    generate: true
    condition:
        gte: 2
level: critical
""",
}


def event(n: int, **fields: str) -> dict[str, object]:
    made: dict[str, object] = {ecs.ID: f"e{n}", ecs.TIMESTAMP: ecs.format_timestamp(BASE + n),
                               ecs.DATASET: "hunttest", ecs.HOST_NAME: "h1"}
    made.update({key.replace("__", "."): value for key, value in fields.items()})
    return made


EVENTS = [
    event(1, user__name="administrator", process__executable="C:\\Windows\\System32\\CMD.EXE",
          source__ip="10.0.0.9"),
    event(2, user__name="Admin", process__executable="c:\\windows\\cmd.exe", source__ip="10.0.0.1"),
    event(3, user__name="guest", process__executable="C:\\cmd.exe"),
    event(4, user__name="SYSADMIN", process__executable="C:\\x\\cmd.exe.bak"),
    event(5, user__name="sysadmin", process__executable="D:\\Tools\\Cmd.Exe"),
    event(6, file__directory="C:\\Users\\a\\AppData\\Local\\temp\\"),
    event(7, file__directory="C:\\Temp\\x"),
    event(8, message="running mimikatz now"),
]


def test_lucene_hunt_matches_stream_hunt(
    es_test_cluster: es_cluster.Cluster, data_dir: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in RULES.items():
        (rules / name).write_text(text, encoding="utf-8")
    ruleset = load_rules([rules], pipeline=default_pipeline())
    assert not ruleset.problems, ruleset.problems
    store = open_backend("elasticsearch", data_dir)
    try:
        assert isinstance(store, ElasticsearchStore)
        store.write(EVENTS)
        lucene = hunt_lucene(store, ruleset, pipeline=default_pipeline())
        streamed = hunt_stream(store, ruleset, logsource="any")
    finally:
        store.close()
        es_cluster.delete_indices(es_test_cluster, data_dir)
    on_es = hit_sets(lucene.matches)
    assert on_es == {"6c8b1f7e-0000-4000-8000-000000000001": {"e1", "e5"},
                     "6c8b1f7e-0000-4000-8000-000000000002": {"e6"}}
    stream_hits = hit_sets(streamed.matches)
    assert {rule: stream_hits[rule] for rule in on_es} == on_es
    assert set(lucene.not_expressible) == {"6c8b1f7e-0000-4000-8000-000000000004",
                                           "6c8b1f7e-0000-4000-8000-000000000005"}
    assert "keyword" in lucene.not_expressible["6c8b1f7e-0000-4000-8000-000000000004"]
    assert "correlation" in lucene.not_expressible["6c8b1f7e-0000-4000-8000-000000000005"]
    assert [len(match.matches) for match in streamed.correlations] == [2]
