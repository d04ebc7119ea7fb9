"""Sigma regular expressions translated to Lucene regexps (``siem.hunt.regex``): each
pattern, run as a hunting query on the Elasticsearch store, finds exactly the values that
Python's ``re.search`` finds; what cannot be said the same way is refused with a reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from siem import event as ecs
from siem.hunt.regex import Untranslatable, to_lucene
from siem.store.elasticsearch.store import ElasticsearchStore
from tests.store import es_cluster
from tests.store.conftest import BASE, open_backend

VALUES = [
    "curl -k https://10.0.0.1/a.exe", "curl --insecure x", "curl\t-k\tx", "CURL -K X",
    "wsass.exe 'C:\\Windows\\werfaultsecure.exe' 612", "a.EXE \"werfaultsecure.exe\" 12",
    "C:\\Users\\bob\\NTUSER.DAT", "C:\\Users\\bob\\x\\NTUSER.DAT", "c:\\users\\bob\\ntuser.dat",
    "http://192.168.1.10/p.ps1", "http://example.com/p", "-u : x", "--USER:", "a/b/c", "a+b",
    "line1\nline2", "Đăng nhập admin", "x{3}", "[brackets] (parens)", "tab\there", "",
]

PATTERNS = [
    (r"\s-k\s", False), (r"\s-K\s", False), (r"://[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", False),
    (r"(?i)\.exe[\"']?\s+[^\"]{0,64}werfaultsecure\.exe[\"']?\s+\d{2,10}", False),
    (r"^C:\\Users\\[^\\]+\\NTUSER\.DAT$", True), (r"(?i)\s*(-u|--user)\s*:", False),
    (r"a/b", False), (r"a\+b", False), (r"^line1.line2$", False), (r"\w+\s\w+$", False),
    (r"nhập", True), (r"x\{3\}", False), (r"\[[a-z]+\]", False), (r"t[^ ]b", False),
    (r"^$", False), (r"(?:ab|cd)+?x", False), (r"\Wb", False), (r"[\d.]{4,}", False),
]


def test_refused_with_reasons() -> None:
    for pattern, reason in [
        (r"(^|\.)x", "'^' that is not at the start"), (r"a(?=b)", "group with (?"),
        (r"\bword", "escape \\b"), (r"(a)\1", "escape \\1"), (r"a$b", "'$'"),
        (r"a++", "possessive"), (r"[\S]", "inside a class"),
    ]:
        with pytest.raises(Untranslatable, match=re.escape(reason)):
            to_lucene(pattern)


def test_translations_match_python(es_test_cluster: es_cluster.Cluster, data_dir: Path) -> None:
    store = open_backend("elasticsearch", data_dir)
    try:
        assert isinstance(store, ElasticsearchStore)
        store.write([
            {ecs.ID: f"v{n}", ecs.TIMESTAMP: ecs.format_timestamp(BASE + n),
             ecs.DATASET: "regex", "CommandLine": value}
            for n, value in enumerate(VALUES)
        ])
        for pattern, fold in PATTERNS:
            flags = re.IGNORECASE if fold else 0
            wanted = {f"v{n}" for n, value in enumerate(VALUES) if re.search(pattern, value, flags)}
            query = f"CommandLine:/{to_lucene(pattern, ignore_case=fold)}/"
            found = {str(event[ecs.ID]) for event in store.search_lucene(query)}
            assert found == wanted, (pattern, query)
    finally:
        store.close()
        es_cluster.delete_indices(es_test_cluster, data_dir)
