"""Translations: the .po reader, the in-memory .mo compiler, language choice, and catalogue coverage."""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siem import i18n
from siem.errors import ConfigError

PO = r'''
# A comment
msgid ""
msgstr ""
"Language: vi\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: somewhere.py:1
msgid "Severity"
msgstr "Mức độ"

msgid ""
"A long message "
"on two lines"
msgstr ""
"Một thông điệp dài "
"trên hai dòng"

msgid "Say \"hi\"\tnow\n"
msgstr "Nói \"chào\"\tngay\n"

#, fuzzy
msgid "Fuzzy one"
msgstr "Chưa chắc"

msgid "Untranslated"
msgstr ""

msgid "{count} file"
msgid_plural "{count} files"
msgstr[0] "{count} tệp (một)"
msgstr[1] "{count} tệp (nhiều)"
#~ msgid "Obsolete"
#~ msgstr "Cũ"
'''


@pytest.fixture
def english() -> Iterator[None]:
    yield
    i18n.set_language("en")


def compiled(text: str) -> gettext.GNUTranslations:
    return gettext.GNUTranslations(io.BytesIO(i18n.compile_mo(i18n.parse_po(text))))


def test_po_entries_are_read_and_compiled_for_gnu_gettext() -> None:
    translations = compiled(PO)
    assert translations.gettext("Severity") == "Mức độ"
    assert translations.gettext("A long message on two lines") == "Một thông điệp dài trên hai dòng"
    assert translations.gettext('Say "hi"\tnow\n') == 'Nói "chào"\tngay\n'
    assert translations.ngettext("{count} file", "{count} files", 1) == "{count} tệp (một)"
    assert translations.ngettext("{count} file", "{count} files", 5) == "{count} tệp (nhiều)"
    # Fuzzy, untranslated and obsolete entries fall back to English.
    assert translations.gettext("Fuzzy one") == "Fuzzy one"
    assert translations.gettext("Untranslated") == "Untranslated"
    assert translations.gettext("Obsolete") == "Obsolete"
    assert translations.info()["language"] == "vi"


def test_broken_po_names_the_line() -> None:
    with pytest.raises(ConfigError) as raised:
        i18n.parse_po('msgid "a"\nmsgstr "b"\n\nmsgid "c"\nmsgstrr "d"\n', "x.po")
    assert raised.value.line == 5 and raised.value.path == "x.po"
    with pytest.raises(ConfigError, match="quoted"):
        i18n.parse_po('msgid "a\nmsgstr "b"\n')


def test_vietnamese_catalogue_and_language_switch(english: None) -> None:
    assert i18n.gettext("Severity") == "Severity"
    i18n.set_language("vi")
    assert i18n.get_language() == "vi"
    assert i18n.gettext("Severity") == "Mức độ"
    assert i18n._("critical") == "nghiêm trọng"
    subject = i18n.ngettext(
        "[SIEM] Digest: {count} alert ({route})", "[SIEM] Digest: {count} alerts ({route})", 3
    )
    assert subject.format(count=3, route="it") == "[SIEM] Tổng hợp: 3 cảnh báo (it)"
    assert i18n.gettext("A text nobody translated") == "A text nobody translated"
    i18n.set_language("en")
    assert i18n.ngettext("{n} alert", "{n} alerts", 1) == "{n} alert"
    assert i18n.ngettext("{n} alert", "{n} alerts", 2) == "{n} alerts"


def test_language_choice_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert i18n.resolve_language() == "en"
    assert i18n.resolve_language(configured="vi") == "vi"
    monkeypatch.setenv(i18n.LANG_ENV, "en")
    assert i18n.resolve_language(configured="vi") == "en"
    assert i18n.resolve_language("vi", configured="en") == "vi"
    with pytest.raises(ConfigError, match="en, vi"):
        i18n.resolve_language("fr")
    with pytest.raises(ConfigError):
        i18n.set_language("de")


_CALLS = re.compile(r'\b(?:_|gettext)\(\s*"((?:[^"\\]|\\.)*)"')
_PLURALS = re.compile(r'\bngettext\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"')


def used_messages(*roots: Path) -> set[str]:
    """Every literal passed to _(), gettext() or ngettext() under ``roots`` (code and templates)."""
    found: set[str] = set()
    for path in (path for root in roots for path in ([root] if root.is_file() else root.rglob("*"))):
        if path.suffix not in (".py", ".txt", ".html") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        found.update(match.encode().decode("unicode_escape") for match in _CALLS.findall(text))
        found.update(f"{one}\0{many}" for one, many in _PLURALS.findall(text))
    return found


def test_every_notify_text_has_a_vietnamese_translation() -> None:
    catalog = i18n.read_po(i18n.LOCALE_DIR / "vi" / "LC_MESSAGES" / "siem.po")
    package = Path(i18n.__file__).parent
    used = used_messages(package / "notify", package / "commands" / "email.py")
    assert len(used) > 30
    missing = sorted(message for message in used if message not in catalog.messages)
    assert missing == []


def po_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\0")
    | st.sampled_from("\n\t\u2028\u0085"),
    min_size=1,
    max_size=40,
)


@given(st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=8))
def test_any_catalogue_round_trips_through_po_and_mo(messages: dict[str, str]) -> None:
    po = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n' + "".join(
        f"msgid {po_quote(key)}\nmsgstr {po_quote(value)}\n\n" for key, value in messages.items()
    )
    translations = compiled(po)
    for key, value in messages.items():
        assert translations.gettext(key) == value


def test_every_translatable_text_in_siem_has_a_vietnamese_entry() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "siem"
    catalogue = (root / "locale" / "vi" / "LC_MESSAGES" / "siem.po").read_text(encoding="utf-8")
    known = set(re.findall(r'^msgid "(.*)"$', catalogue, re.MULTILINE))
    missing = [
        f"{path.relative_to(root)}: {text}"
        for path in sorted(root.rglob("*.py"))
        for text in re.findall(r'\b_\(\s*"((?:[^"\\]|\\.)*)"\s*\)', path.read_text(encoding="utf-8"))
        if text not in known
    ]
    assert missing == []
