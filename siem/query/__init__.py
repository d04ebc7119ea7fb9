"""One search language for every store: Lucene/KQL-like text parsed into a small syntax tree.

Examples::

    source.ip:10.2.0.0/16 AND event.action:deny AND NOT destination.port:(80 OR 443)
    user.name:"Nguyễn Văn A"            quoted: the whole value, * and ? are plain characters
    host.name:cam-* OR host.name:nvr-??  wildcards; \\* \\? \\\\ for the characters themselves
    destination.port:[1 TO 1023]        inclusive range; {a TO b} exclusive; [10 TO *] open
    destination.port:>=1024             also >, <, <=
    @timestamp:[2026-11-25T10:00:00Z TO 2026-11-25T11:00:00Z]
    source.ip:2001:db8::/32             blocks and addresses on address fields (*.ip)
    user.name:*                         the field is present
    "authentication failure" OR fail*   free text in the raw message (event.original, message)
    ssh -user.name:root                 terms side by side mean AND; NOT, ! and - negate

Rules:

- Operators are upper case: ``AND`` ``OR`` ``NOT`` (also ``&&`` ``||`` ``!`` ``-``). NOT binds
  tighter than AND, AND tighter than OR; parentheses group. ``field:(a OR b)`` applies the
  field to each value (``-`` inside such a group is part of a value, so ``-5`` works).
- A value is the whole field value, not a word in it: ``event.action:deny`` does not match
  ``"deny all"``; use ``event.action:*deny*`` or free text for words.
- Text values match case-insensitively, as Sigma does (Elasticsearch keyword fields are
  case-sensitive, so its queries set ``case_insensitive``). ``event.id`` is exact. Values with
  no letters (numbers, addresses) are compared as they are. A numeric value also matches the
  number (``destination.port:443`` finds 443 and "443").
- Ranges with numeric ends compare numbers (and match numeric values only); on
  ``@timestamp`` they compare times, on address fields addresses, elsewhere text
  (case-sensitive, by code point).
- Free text searches the words of ``event.original`` and ``message`` as a phrase, case- and
  accent-insensitively; ``fail*`` makes the last word a prefix. Quote free text containing
  ``:`` (``"sshd[42]:"``); a bare ``word:`` starts a field term.
- Errors are ``siem.errors.QueryError`` with ``column`` (1-based); ``format_error`` draws a
  caret under it.

Translations: ``siem.store.sqlite.querylang.to_sql`` and ``siem.store.elasticsearch.query.to_dsl``.
"""

from siem.query.ast import And, Bounds, FreeText, Kind, Node, Not, Or, Term
from siem.query.errors import format_error
from siem.query.parser import parse_query
from siem.query.printer import to_text

__all__ = [
    "And",
    "Bounds",
    "FreeText",
    "Kind",
    "Node",
    "Not",
    "Or",
    "Term",
    "format_error",
    "parse_query",
    "to_text",
]
