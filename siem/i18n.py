"""Translations of user-facing text (English source text, Vietnamese catalogue).

Catalogues are GNU gettext ``.po`` files in ``siem/locale/<lang>/LC_MESSAGES/siem.po``
(format: GNU gettext manual, "The Format of PO Files"). No compiled ``.mo`` file is shipped
or generated on disk: the ``.po`` file is parsed at first use and compiled in memory into the
``.mo`` layout that :class:`gettext.GNUTranslations` reads, so plural forms come from the
catalogue's own ``Plural-Forms`` header.

The language is chosen by ``--lang``, then ``$SIEM_LANG``, then the configuration's
``language``, then English.
"""

from __future__ import annotations

import ast
import gettext as _gettext
import io
import os
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from siem.errors import ConfigError

LANGUAGES = ("en", "vi")
DEFAULT_LANGUAGE = "en"
LANG_ENV = "SIEM_LANG"
DOMAIN = "siem"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current = DEFAULT_LANGUAGE


def resolve_language(explicit: str | None = None, configured: str | None = None) -> str:
    """The language to use: ``explicit`` (``--lang``), then $SIEM_LANG, then ``configured``."""
    for candidate in (explicit, os.environ.get(LANG_ENV), configured):
        if candidate:
            return check_language(candidate)
    return DEFAULT_LANGUAGE


def check_language(lang: str) -> str:
    """``lang`` if supported, else a ConfigError naming the choices."""
    if lang not in LANGUAGES:
        raise ConfigError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    return lang


def set_language(lang: str) -> None:
    """Make ``lang`` the language of :func:`gettext` and :func:`ngettext` in this process."""
    global _current
    translations(check_language(lang))  # load now, so a broken catalogue fails early
    _current = lang


def get_language() -> str:
    """The language set by :func:`set_language` (English by default)."""
    return _current


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(_current).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for ``count`` in the current language."""
    return translations(_current).ngettext(singular, plural, count)


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The translations for ``lang``; English (the source text) needs no catalogue."""
    check_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    catalog = read_po(path)
    return _gettext.GNUTranslations(io.BytesIO(compile_mo(catalog)))


@dataclass
class Catalog:
    """Messages of one ``.po`` file: msgid (or msgid + NUL + plural) -> translation(s)."""

    header: str = ""
    messages: dict[str, list[str]] = field(default_factory=dict)


def read_po(path: Path) -> Catalog:
    """Parse a ``.po`` file. Fuzzy and untranslated entries are left out (English is used)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read translations: {exc.strerror}", path=path) from exc
    return parse_po(text, str(path))


def parse_po(text: str, path: str = "<string>") -> Catalog:
    """Parse ``.po`` text (msgctxt is not used by this project and is rejected)."""
    catalog = Catalog()
    entry: dict[str, list[str]] = {}
    current: list[str] | None = None
    fuzzy = False

    def finish() -> None:
        nonlocal entry, fuzzy, current
        if "msgid" in entry:
            _add_entry(catalog, entry, fuzzy)
        entry, fuzzy, current = {}, False, None

    # Only \n ends a line: str.splitlines() would also split at U+2028 inside a string.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if _complete(entry):
                finish()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            continue
        if line.startswith('"'):
            if current is None:
                raise ConfigError("text outside an entry", path=path, line=number)
            current.append(_unquote(line, path, number))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword not in ("msgid", "msgid_plural", "msgstr") and not keyword.startswith("msgstr["):
            raise ConfigError(f"unknown keyword {keyword!r}", path=path, line=number)
        if keyword == "msgid" and _complete(entry):
            finish()
        current = [_unquote(rest.strip(), path, number)]
        entry[keyword] = current
    finish()
    return catalog


def _complete(entry: dict[str, list[str]]) -> bool:
    return any(key.startswith("msgstr") for key in entry)


def _add_entry(catalog: Catalog, entry: dict[str, list[str]], fuzzy: bool) -> None:
    msgid = "".join(entry["msgid"])
    if "msgid_plural" in entry:
        forms = ["".join(value) for key, value in sorted(entry.items()) if key.startswith("msgstr[")]
        key = msgid + "\0" + "".join(entry["msgid_plural"])
    else:
        forms = ["".join(entry.get("msgstr", []))]
        key = msgid
    if msgid == "":
        catalog.header = forms[0]
        return
    if fuzzy or not all(forms):
        return
    catalog.messages[key] = forms


def _unquote(token: str, path: str, line: int) -> str:
    if len(token) < 2 or not (token.startswith('"') and token.endswith('"')):
        raise ConfigError(f"expected a quoted string, got {token!r}", path=path, line=line)
    try:
        value = ast.literal_eval(token)
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(f"bad string {token!r}", path=path, line=line) from exc
    if not isinstance(value, str):
        raise ConfigError(f"bad string {token!r}", path=path, line=line)
    return value


def compile_mo(catalog: Catalog) -> bytes:
    """The GNU ``.mo`` bytes of ``catalog`` (little-endian, no hash table), as msgfmt writes."""
    header = catalog.header
    if "content-type:" not in header.lower():
        header += "Content-Type: text/plain; charset=UTF-8\n"  # the bytes below are UTF-8
    entries = {"": header} | {key: "\0".join(forms) for key, forms in catalog.messages.items()}
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets: list[tuple[int, int, int, int]] = []
    for key in keys:
        key_bytes = key.encode("utf-8")
        value_bytes = entries[key].encode("utf-8")
        offsets.append((len(ids), len(key_bytes), len(strs), len(value_bytes)))
        ids += key_bytes + b"\0"
        strs += value_bytes + b"\0"
    count = len(keys)
    key_start = 7 * 4 + 16 * count
    value_start = key_start + len(ids)
    key_table: list[int] = []
    value_table: list[int] = []
    for id_offset, id_length, str_offset, str_length in offsets:
        key_table += [id_length, key_start + id_offset]
        value_table += [str_length, value_start + str_offset]
    magic = struct.pack("<7I", 0x950412DE, 0, count, 7 * 4, 7 * 4 + count * 8, 0, 0)
    tables = struct.pack(f"<{len(key_table)}I", *key_table) + struct.pack(f"<{len(value_table)}I", *value_table)
    return magic + tables + ids + strs
