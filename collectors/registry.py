"""Built-in sources and parsers by name (plug-ins add theirs through entry points).

Parsers: ``siem.parsers.v1``; sources: ``siem.sources.v1``. A registered parser is a class
(instantiated without arguments) or an object with ``name`` and ``parse``; a source is a
factory taking ``collectors.sources.options.SourceOptions``.
"""

from __future__ import annotations

from typing import Any

from collectors.base import Parser
from collectors.parsers import catalog
from siem.registry import Registry

_BUILTIN_PARSERS: dict[str, str] = {
    "syslog": "collectors.parsers.syslog:SyslogParser",
    "auto": "collectors.parsers.auto:AutoParser",
    "windows": "collectors.parsers.windows:WindowsParser",
    "ecs-json": "collectors.parsers.ecs_json:EcsJsonParser",
}

#: The vendor parsers' own table (collectors/parsers/catalog.py) merged with the built-ins.
PARSERS: Registry[Any] = Registry("parsers", {**catalog.PARSERS, **_BUILTIN_PARSERS})

SOURCES: Registry[Any] = Registry(
    "sources",
    {
        "syslog": "collectors.sources.syslog:create_source",
        "file": "collectors.sources.file:create_source",
        "pcap": "collectors.sources.pcap:create_source",
        "capture": "collectors.sources.capture:create_source",
        "forwarder": "collectors.sources.forwarded:create_source",
    },
)


def create_parser(name: str) -> Parser:
    """A parser instance of the registered ``name`` (PluginError when unknown or broken)."""
    component = PARSERS.get(name)
    parser: Parser = component() if isinstance(component, type) else component
    return parser
