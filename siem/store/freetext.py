"""What a user typed as free text, split into words, operators and parentheses.

Both stores quote each word as a phrase in their own syntax (FTS5 on SQLite, ``query_string``
on Elasticsearch); this module decides, once for both, what is a word and what is syntax.
"""

from __future__ import annotations

from collections.abc import Callable

OPERATORS = frozenset({"AND", "OR", "NOT"})


def rewrite_words(text: str, phrase: Callable[[str], str]) -> str:
    """``text`` with each word replaced by ``phrase(word)``.

    Text with a double quote is taken as the store's own syntax and returned as it is. When
    AND, OR or NOT appear as words they keep their meaning, and so do parentheses at the start
    or end of words; otherwise parentheses are part of the words.
    """
    if '"' in text:
        return text
    words = text.split()
    grouping = any(word in OPERATORS for word in words)
    parts: list[str] = []
    for word in words:
        if grouping and word in OPERATORS:
            parts.append(word)
            continue
        opening = closing = ""
        if grouping:
            core = word.lstrip("(")
            opening = "(" * (len(word) - len(core))
            word = core.rstrip(")")
            closing = ")" * (len(core) - len(word))
        part = f"{opening}{phrase(word) if word else ''}{closing}"
        if part:
            parts.append(part)
    return " ".join(parts)
