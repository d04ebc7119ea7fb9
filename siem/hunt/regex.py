"""Sigma regular expressions (Python ``re`` syntax, searched anywhere in the value) as Lucene
regexps (matched against the whole value), for the hunting queries.

Lucene syntax: https://www.elastic.co/guide/en/elasticsearch/reference/current/regexp-syntax.html
(and org.apache.lucene.util.automaton.RegExp). Lucene has no ``\\s``/``\\d``/``\\w`` before
Lucene 9, no anchors, flags, lookaround or backreferences; a ``\\`` before any character
makes it literal. Only a subset is translated: literals, ``.``, classes (``[...]``, ``\\d``,
``\\s``, ``\\w`` and their negations, ASCII as written out here), groups, alternation,
quantifiers (lazy ones match the same values), ``^`` at the start, ``$`` at the end and a
leading ``(?i)`` or the ``i`` flag. Anything else raises ``Untranslatable`` with the reason.
"""

from __future__ import annotations

#: Python's ``\s`` (every character ``str.isspace`` accepts) as raw characters: Lucene
#: reads ``\t`` as a literal ``t``.
_SPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
_CLASSES = {"d": ("0-9", False), "D": ("0-9", True), "s": (_SPACE, False),
            "S": (_SPACE, True), "w": ("a-zA-Z0-9_", False), "W": ("a-zA-Z0-9_", True)}
_QUANTIFIERS = "*+?"


class Untranslatable(ValueError):
    """The regular expression uses something Lucene regexps cannot say the same way."""


def _literal(char: str, fold: bool) -> str:
    lower, upper = char.lower(), char.upper()
    if fold and lower != upper and len(lower) == 1 and len(upper) == 1:
        return f"[{lower}{upper}]"
    if char.isalnum():
        return char
    if char in _SPACE:
        return char
    return "\\" + char


def _class_char(char: str) -> str:
    return char if char.isalnum() or char in _SPACE else "\\" + char


class _Translator:
    def __init__(self, pattern: str, fold: bool) -> None:
        self.text = pattern
        self.fold = fold
        self.pos = 0
        self.out: list[str] = []
        self.depth = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def run(self) -> str:
        if self.text.startswith("(?i)"):
            self.fold = True
            self.pos = 4
        start_anchor = self.peek() == "^"
        if start_anchor:
            self.pos += 1
        end_anchor = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "$":
                if self.pos != len(self.text) - 1 or self.depth:
                    raise Untranslatable("'$' that is not at the end")
                end_anchor = True
                self.pos += 1
            elif char == "^":
                raise Untranslatable("'^' that is not at the start")
            elif char == "\\":
                self.escape()
            elif char == "[":
                self.out.append(self.char_class())
            elif char == "(":
                self.group()
            elif char == ")":
                if not self.depth:
                    raise Untranslatable("unbalanced ')'")
                self.depth -= 1
                self.out.append(")")
                self.pos += 1
            elif char == "|":
                self.out.append("|")
                self.pos += 1
            elif char in _QUANTIFIERS or char == "{":
                self.quantifier()
            elif char == ".":
                self.out.append("[^\n]")
                self.pos += 1
            else:
                self.out.append(_literal(char, self.fold))
                self.pos += 1
        if self.depth:
            raise Untranslatable("unbalanced '('")
        body = "".join(self.out)
        return f"{'' if start_anchor else '.*'}({body}){'' if end_anchor else '.*'}"

    def escape(self) -> None:
        char = self.peek(1)
        if not char:
            raise Untranslatable("trailing backslash")
        self.pos += 2
        if char in _CLASSES:
            members, negated = _CLASSES[char]
            self.out.append(f"[{'^' if negated else ''}{members}]")
        elif char.isalnum():
            raise Untranslatable(f"escape \\{char}")
        else:
            self.out.append(_literal(char, False))

    def char_class(self) -> str:
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        items: list[str] = []
        first = True
        while True:
            char = self.peek()
            if not char:
                raise Untranslatable("unterminated '['")
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "\\":
                escaped = self.peek(1)
                self.pos += 2
                if escaped in _CLASSES:
                    members, inner_negated = _CLASSES[escaped]
                    if inner_negated:
                        raise Untranslatable(f"\\{escaped} inside a class")
                    items.append(members)
                    continue
                if escaped.isalnum() or not escaped:
                    raise Untranslatable(f"escape \\{escaped} inside a class")
                char = escaped
            else:
                self.pos += 1
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                end = self.peek(1)
                if end == "\\":
                    raise Untranslatable("escaped range end")
                self.pos += 2
                items.append(self.range(char, end))
            else:
                items.append(self.member(char))
        return f"[{'^' if negated else ''}{''.join(items)}]"

    def member(self, char: str) -> str:
        lower, upper = char.lower(), char.upper()
        if self.fold and lower != upper and len(lower) == 1 and len(upper) == 1:
            return lower + upper
        return _class_char(char)

    def range(self, low: str, high: str) -> str:
        text = f"{_class_char(low)}-{_class_char(high)}"
        if not self.fold:
            return text
        if low.islower() and high.islower() and low.isascii() and high.isascii():
            return f"{text}{low.upper()}-{high.upper()}"
        if low.isupper() and high.isupper() and low.isascii() and high.isascii():
            return f"{text}{low.lower()}-{high.lower()}"
        if any(c.isalpha() for c in map(chr, range(ord(low), ord(high) + 1))):
            raise Untranslatable(f"range {low}-{high} with letters under the i flag")
        return text

    def group(self) -> None:
        if self.peek(1) == "?":
            if self.peek(2) != ":":
                raise Untranslatable("group with (? (lookaround, flags or names)")
            self.pos += 3
        else:
            self.pos += 1
        self.depth += 1
        self.out.append("(")

    def quantifier(self) -> None:
        if not self.out or self.out[-1] in ("(", "|"):
            raise Untranslatable("quantifier with nothing to repeat")
        char = self.peek()
        if char == "{":
            end = self.text.find("}", self.pos)
            inner = self.text[self.pos + 1 : end] if end > 0 else ""
            low, _, high = inner.partition(",")
            if not low.isdigit() or (high and not high.isdigit()):
                raise Untranslatable("'{' that is not a repetition count")
            self.out.append("{" + inner + "}")
            self.pos = end + 1
        else:
            self.out.append(char)
            self.pos += 1
        if self.peek() == "?":  # lazy: matches the same values
            self.pos += 1
        elif self.peek() == "+":
            raise Untranslatable("possessive quantifier")


def to_lucene(pattern: str, *, ignore_case: bool = False) -> str:
    """The Lucene regexp (without the slashes) that matches a whole value exactly when
    ``re.search(pattern, value)`` finds something in it."""
    return _Translator(pattern, ignore_case).run()
