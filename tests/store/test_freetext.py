"""Free text as typed: words become each store's phrases, operators and parentheses stay."""

from __future__ import annotations

from siem.store.elasticsearch.search import query_string
from siem.store.freetext import rewrite_words
from siem.store.sqlite.query import fts_match


def test_words_operators_and_parentheses() -> None:
    def bracket(word: str) -> str:
        return f"<{word}>"

    assert rewrite_words("failed password", bracket) == "<failed> <password>"
    assert rewrite_words("(failed OR denied) AND root", bracket) == "(<failed> OR <denied>) AND <root>"
    assert rewrite_words("( a OR b )", bracket) == "( <a> OR <b> )"
    # Without an operator, parentheses belong to the word (e.g. a log's "sshd(pam_unix)").
    assert rewrite_words("sshd(pam_unix)", bracket) == "<sshd(pam_unix)>"
    assert rewrite_words('"already quoted" x', bracket) == '"already quoted" x'


def test_both_stores_quote_the_same_words() -> None:
    assert fts_match("10.0.0.1 OR fail*") == '"10.0.0.1" OR "fail"*'
    assert query_string("10.0.0.1 OR fail*") == '"10.0.0.1" OR fail*'
    assert query_string("a/b*") == "a\\/b*"
