"""How a worker process builds its own stages: parsers, enrichers and compiled rules.

Compiled rules do not pickle (they are closures), so a worker gets a recipe instead: a
picklable callable that it calls once at start. ``ConfiguredStages`` builds what ``siem run``
builds from the configuration; ``PickledStages`` ships stages that pickle as they are
(a module-level parser factory, plain enrichers), without rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collectors.base import Parser
from siem.config import Config
from siem.enrich.base import Enricher
from siem.pipeline.processing import RecordProcessor
from siem.pipeline.protocols import Matcher

if TYPE_CHECKING:
    from siem.app import App


@dataclass(slots=True)
class WorkerStages:
    """What a worker runs on each batch: parse, normalize, enrich, then (optionally) match rules."""

    records: RecordProcessor
    matcher: Matcher | None = None


#: A picklable callable a worker calls once to build its stages.
WorkerSetup = Callable[[], WorkerStages]


@dataclass(frozen=True, slots=True)
class ConfiguredStages:
    """The stages of a configuration, built in the worker as ``siem run`` builds them."""

    config: Config
    #: Compile the configured rules (off for a ward forwarder, which does not detect).
    detect: bool = True

    def __call__(self) -> WorkerStages:
        """Parsers, enrichers and labels of the configuration, and its rules compiled once."""
        from siem.app import App
        from siem.pipeline.sources import source_labels

        app = App(config=self.config)
        processor = RecordProcessor(app.create_parser, app.enrichers(), source_labels(self.config))
        return WorkerStages(processor, self._matcher(app) if self.detect else None)

    def _matcher(self, app: App) -> Matcher | None:
        from siem.detect.engine import Detector
        from siem.detect.loader import load_configured_rules

        # The main process loaded the same rules and warned of their problems: not again here.
        ruleset = load_configured_rules(self.config.detection, app.rule_paths())
        if not ruleset.rules:
            return None
        return Detector(ruleset, logsource=self.config.detection.logsource, correlate=False)


@dataclass(frozen=True, slots=True)
class PickledStages:
    """Stages sent to the worker as they are (each must pickle); no rule matching."""

    parser_factory: Callable[[str], Parser]
    enrichers: Sequence[Enricher] = ()
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __call__(self) -> WorkerStages:
        """A record processor of these parts."""
        return WorkerStages(RecordProcessor(self.parser_factory, self.enrichers, self.labels))
