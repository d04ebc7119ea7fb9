"""Registries: a name -> ``"module:attribute"`` table for built-ins, plus entry points.

Built-ins are listed once, by name, and imported only when first used. Third parties add
components through the entry-point group ``siem.<kind>.v1`` (e.g. ``siem.parsers.v1``);
a broken plug-in is reported once and skipped, never fatal for the built-ins.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from siem.errors import PluginError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Components of one kind (parsers, sources, enrichers) looked up by name."""

    def __init__(self, kind: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self._targets: dict[str, str] = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._plugins_scanned = False

    def _scan_plugins(self) -> None:
        if self._plugins_scanned:
            return
        self._plugins_scanned = True
        for entry in entry_points(group=f"siem.{self.kind}.v1"):
            if entry.name in self._targets:
                log.warning("plug-in %s %r ignored: a built-in has that name", self.kind, entry.name)
                continue
            self._targets[entry.name] = entry.value

    def names(self) -> list[str]:
        """All registered names, built-ins first."""
        self._scan_plugins()
        return list(self._targets)

    def __contains__(self, name: object) -> bool:
        self._scan_plugins()
        return name in self._targets

    def get(self, name: str) -> T:
        """The component registered as ``name``, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._scan_plugins()
        target = self._targets.get(name)
        if target is None:
            known = ", ".join(sorted(self._targets))
            raise PluginError(f"no {self.kind} named {name!r} (known: {known})")
        module_name, _, attribute = target.partition(":")
        try:
            component: Any = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"{self.kind} {name!r} cannot be loaded from {target}: {exc}") from exc
        self._loaded[name] = component
        return component  # type: ignore[no-any-return]

    def load_all(self) -> Iterator[tuple[str, T]]:
        """Every component that loads; broken ones are logged and skipped."""
        for name in self.names():
            try:
                yield name, self.get(name)
            except PluginError as exc:
                log.warning("%s", exc)
