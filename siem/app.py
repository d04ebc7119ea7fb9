"""The App: configuration, store, registries and console, built once per process.

Commands receive AppOptions from click (``ctx.obj``) and build the App from them; tests build
their own App with a temporary data directory. This is the one place in ``siem`` that names
the collectors' registry.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from siem.config import Config, load_config
from siem.errors import ConfigError
from siem.i18n import set_language

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from collectors.base import Parser
    from collectors.sources.contract import BatchSource, SourceOptions
    from siem.alerts.stage import AlertStage
    from siem.detect.engine import Detector
    from siem.enrich.base import Enricher
    from siem.notify.dispatcher import EmailDispatcher
    from siem.store.base import Store


log = logging.getLogger(__name__)

#: The source checkout (where ``rules/`` lives in a development install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class AppOptions:
    """What the root command line says about the environment."""

    config_file: str | None = None
    data_dir: str | None = None
    language: str | None = None
    debug: bool = False


@dataclass
class App:
    """Everything a command needs, created lazily and closed once."""

    config: Config
    debug: bool = False
    _store: Store | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_options(cls, options: AppOptions) -> App:
        """Load the configuration the options point at."""
        config = load_config(options.config_file, data_dir=options.data_dir, language=options.language)
        set_language(config.language)
        return cls(config=config, debug=options.debug)

    @property
    def data_path(self) -> Path:
        """The data directory, created (mode 0700) on first use."""
        path = self.config.data_path
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create data directory {path}: {exc.strerror}", path=self.config.source_file
            ) from exc
        return path

    @property
    def store(self) -> Store:
        """The configured store, opened (and migrated) on first use."""
        if self._store is None:
            from siem.store.factory import open_store

            self._store = open_store(self.config, self.data_path)
        return self._store

    @cached_property
    def console(self) -> Console:
        """Rich console for results (stdout)."""
        from rich.console import Console

        return Console()

    @cached_property
    def err_console(self) -> Console:
        """Rich console for progress and status (stderr)."""
        from rich.console import Console

        return Console(stderr=True)

    @property
    def officer(self) -> str:
        """Who is acting, for the audit log: the configured officer or the OS user."""
        if self.config.officer:
            return self.config.officer
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return os.environ.get("USER", "unknown")

    def create_parser(self, name: str) -> Parser:
        """A parser by its registered name (built-in or plug-in)."""
        from collectors.registry import create_parser

        return create_parser(name)

    def create_source(self, options: SourceOptions) -> BatchSource:
        """The source ``options.kind`` from the collectors' registry, ready to run."""
        from collectors.registry import SOURCES

        factory: Callable[[SourceOptions], BatchSource] = SOURCES.get(options.kind)
        return factory(options)

    def enrichers(self) -> list[Enricher]:
        """The enrichers every event passes: the asset inventory (site, zone, owner), then GeoIP."""
        from siem.enrich.inventory import Inventory, InventoryEnricher

        inventory = Inventory.load(self.config.inventory) if self.config.inventory else Inventory()
        enrichers: list[Enricher] = [InventoryEnricher(inventory, default_site=self.config.site)]
        if self.config.geoip.enabled:
            from siem.enrich.geoip import GeoIpEnricher

            enrichers.append(GeoIpEnricher(self.config.geoip))
        return enrichers

    def rule_paths(self) -> list[str]:
        """The configured rule paths; a relative one missing here is taken from the checkout."""
        paths = []
        for name in self.config.detection.rules:
            path = Path(name)
            if not path.exists() and not path.is_absolute() and (PROJECT_ROOT / path).exists():
                path = PROJECT_ROOT / path
            paths.append(str(path))
        return paths

    def load_detector(self, logsource: str | None = None) -> Detector | None:
        """The Sigma engine with the configured rules (None when no rule loads); problems warned."""
        from siem.detect.engine import Detector
        from siem.detect.loader import load_configured_rules

        ruleset = load_configured_rules(self.config.detection, self.rule_paths())
        for problem in ruleset.problems:
            log.warning("rule not loaded: %s", problem)
        if not ruleset.rules:
            return None
        return Detector(ruleset, logsource=logsource or self.config.detection.logsource)

    @cached_property
    def email(self) -> EmailDispatcher | None:
        """The e-mail dispatcher, when ``email.enabled`` is set."""
        if not self.config.email.enabled:
            return None
        from siem.notify.dispatcher import OUTBOX_DIR, EmailDispatcher

        return EmailDispatcher(self.config.email, self.data_path / OUTBOX_DIR, language=self.config.language)

    def alert_stage(self) -> AlertStage:
        """Grouping, suppression, incidents and e-mail for the alerts of stored batches."""
        from siem.alerts.service import AlertService
        from siem.alerts.stage import AlertStage

        return AlertStage(AlertService(self.store, self.config), self.email)

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def interactive(self) -> bool:
        """Whether stderr is a terminal (live status lines, progress bars)."""
        return sys.stderr.isatty()
