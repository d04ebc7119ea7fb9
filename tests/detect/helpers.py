"""Small helpers for the detection tests: rules from inline YAML, through the real loader."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from siem.detect.engine import Detector
from siem.detect.loader import RuleSet, load_rules

_HEADER = """\
title: {title}
id: {rule_id}
status: {status}
level: {level}
logsource:
    product: {product}
    category: {category}
detection:
"""


def rule_text(detection: str, *, title: str = "Test rule",
              rule_id: str = "11111111-1111-4111-8111-111111111111", status: str = "test",
              level: str = "medium", product: str = "windows",
              category: str = "process_creation") -> str:
    """A complete Sigma rule around an indented ``detection`` body."""
    header = _HEADER.format(title=title, rule_id=rule_id, status=status, level=level,
                            product=product, category=category)
    return header + textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ") + "\n"


def load_text(tmp_path: Path, *texts: str, **options: Any) -> RuleSet:
    """Write each text to its own file under tmp_path and load them all."""
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for number, text in enumerate(texts):
        (folder / f"rule_{number}.yml").write_text(text, encoding="utf-8")
    return load_rules([folder], **options)


def detector(tmp_path: Path, detection: str, **rule_options: Any) -> Detector:
    """A Detector (logsource any) over one rule with the given detection body."""
    ruleset = load_text(tmp_path, rule_text(detection, **rule_options))
    assert not ruleset.problems, [str(p) for p in ruleset.problems]
    return Detector(ruleset, logsource="any", correlate=False)


def matches(engine: Detector, event: dict[str, Any]) -> bool:
    """Whether the single rule matches, checked both through the index and directly."""
    via_index = bool(engine.match_event(event))
    direct = engine.rules[0].compiled.matcher(event)
    assert via_index == direct, f"index and matcher disagree on {event}"
    return direct
