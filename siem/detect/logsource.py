"""Logsource routing: which Sigma logsources (product/category/service) an event belongs to.

Windows events flattened to Sigma's names (``Channel``, ``EventID``) follow the Sigma taxonomy
(https://sigmahq.io/docs/basics/log-sources.html and SigmaHQ's ``tests/logsource.json``): the
service -> channel table is pySigma's ``windows_logsource_mapping`` from
``sigma/pipelines/common.py`` (pySigma 1.5.1), and the Sysmon EventID -> category table is the
taxonomy's Sysmon section. ECS events are routed by ``event.dataset`` (see the dataset names in
the project's conventions); the Zeek categories follow pysigma-backend-elasticsearch's
``ecs_zeek_beats_category_service_mapping`` (firewall -> conn, dns -> dns, proxy/webserver -> http).

Our own facets (used by the rules in ``rules/``):
- category ``authentication``: any event whose ``event.category`` holds ``authentication``
  (SSH, sudo, camera/NVR web logins, VPN logins), so one rule covers every login source;
- category ``camera``: events of camera/NVR datasets (products ``hikvision``, ``dahua``);
- product ``network``: packet metadata from pcaps/live capture (services ``flow``, ``dns``,
  ``http``, ``tls``, ``ssh``, ``dhcp``, ``arp``); flows also carry category ``firewall`` as Zeek
  ``conn`` does, so connection rules see firewall logs and flows alike;
- category ``firewall`` for any event with ``observer.type: firewall`` (CEF, LEEF, JSON).

Everything is a table; ``event_logsources`` is a pure function of the event, cached by the few
fields it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from siem.detect.model import Logsource

# Sigma service -> Windows channel(s): pySigma sigma/pipelines/common.py windows_logsource_mapping.
WINDOWS_SERVICE_CHANNELS: dict[str, str | tuple[str, ...]] = {
    "security": "Security",
    "application": "Application",
    "system": "System",
    "sysmon": "Microsoft-Windows-Sysmon/Operational",
    "powershell": ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational"),
    "powershell-classic": "Windows PowerShell",
    "taskscheduler": "Microsoft-Windows-TaskScheduler/Operational",
    "wmi": "Microsoft-Windows-WMI-Activity/Operational",
    "dns-server": "DNS Server",
    "dns-server-audit": "Microsoft-Windows-DNS-Server/Audit",
    "dns-server-analytic": "Microsoft-Windows-DNS-Server/Analytical",
    "driver-framework": "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
    "ntlm": "Microsoft-Windows-NTLM/Operational",
    "dhcp": "Microsoft-Windows-DHCP-Server/Operational",
    "msexchange-management": "MSExchange Management",
    "applocker": (
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    ),
    "printservice-admin": "Microsoft-Windows-PrintService/Admin",
    "printservice-operational": "Microsoft-Windows-PrintService/Operational",
    "codeintegrity-operational": "Microsoft-Windows-CodeIntegrity/Operational",
    "smbclient-security": "Microsoft-Windows-SmbClient/Security",
    "firewall-as": "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
    "bits-client": "Microsoft-Windows-Bits-Client/Operational",
    "windefend": "Microsoft-Windows-Windows Defender/Operational",
    "terminalservices-localsessionmanager": ("Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"),
    "microsoft-servicebus-client": "Microsoft-ServiceBus-Client",
    "ldap_debug": "Microsoft-Windows-LDAP-Client/Debug",
    "security-mitigations": (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    ),
    "diagnosis-scripted": "Microsoft-Windows-Diagnosis-Scripted/Operational",
    "shell-core": "Microsoft-Windows-Shell-Core/Operational",
    "openssh": "OpenSSH/Operational",
    "bitlocker": "Microsoft-Windows-BitLocker/BitLocker Management",
    "vhdmp": "Microsoft-Windows-VHDMP/Operational",
    "appxdeployment-server": "Microsoft-Windows-AppXDeploymentServer/Operational",
    "lsa-server": "Microsoft-Windows-LSA/Operational",
    "appxpackaging-om": "Microsoft-Windows-AppxPackaging/Operational",
    "dns-client": "Microsoft-Windows-DNS Client Events/Operational",
    "appmodel-runtime": "Microsoft-Windows-AppModel-Runtime/Admin",
    "capi2": "Microsoft-Windows-CAPI2/Operational",
    "certificateservicesclient-lifecycle-system": (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"
    ),
}


def _channel_services() -> dict[str, str]:
    table: dict[str, str] = {}
    for service, channels in WINDOWS_SERVICE_CHANNELS.items():
        for channel in (channels,) if isinstance(channels, str) else channels:
            table[channel.lower()] = service
    return table


#: Lower-cased Windows channel -> Sigma service.
CHANNEL_SERVICE: dict[str, str] = _channel_services()

#: Channels of Sysmon for Linux (SigmaHQ rules/linux/process_creation etc. target it): same
#: EventIDs as Sysmon for Windows, product linux.
LINUX_SYSMON_CHANNELS: frozenset[str] = frozenset({"linux-sysmon/operational"})

#: Sysmon EventID -> Sigma categories (Sigma taxonomy, Sysmon section).
SYSMON_CATEGORIES: dict[int, tuple[str, ...]] = {
    1: ("process_creation",),
    2: ("file_change",),
    3: ("network_connection",),
    4: ("sysmon_status",),
    5: ("process_termination",),
    6: ("driver_load",),
    7: ("image_load",),
    8: ("create_remote_thread",),
    9: ("raw_access_thread",),
    10: ("process_access",),
    11: ("file_event",),
    12: ("registry_add", "registry_delete", "registry_event"),
    13: ("registry_set", "registry_event"),
    14: ("registry_rename", "registry_event"),
    15: ("create_stream_hash",),
    16: ("sysmon_status",),
    17: ("pipe_created",),
    18: ("pipe_created",),
    19: ("wmi_event",),
    20: ("wmi_event",),
    21: ("wmi_event",),
    22: ("dns_query",),
    23: ("file_delete",),
    24: ("clipboard_capture",),
    25: ("process_tampering",),
    26: ("file_delete_detected",),
    27: ("file_block_executable",),
    28: ("file_block_shredding",),
    29: ("file_executable_detected",),
    255: ("sysmon_error",),
}

#: Sysmon EventID 12 splits by EventType into add (CreateKey) and delete (DeleteKey/DeleteValue).
SYSMON_EVENTTYPE_CATEGORIES: dict[tuple[int, str], tuple[str, ...]] = {
    (12, "createkey"): ("registry_add", "registry_event"),
    (12, "deletekey"): ("registry_delete", "registry_event"),
    (12, "deletevalue"): ("registry_delete", "registry_event"),
}

#: (service, EventID) -> categories for non-Sysmon channels (Sigma taxonomy).
WINDOWS_EVENT_CATEGORIES: dict[tuple[str, int], tuple[str, ...]] = {
    ("security", 4688): ("process_creation",),
    ("powershell", 4103): ("ps_module",),
    ("powershell", 4104): ("ps_script",),
    ("powershell-classic", 400): ("ps_classic_start",),
    ("powershell-classic", 600): ("ps_classic_provider_start",),
    ("powershell-classic", 800): ("ps_classic_script",),
}

_FIREWALL = "firewall"

#: event.dataset -> facets. Firewalls: category firewall plus the vendor as product (the names
#: SigmaHQ uses where it has rules: fortigate, paloalto, cisco, juniper, huawei).
DATASET_LOGSOURCES: dict[str, tuple[Logsource, ...]] = {
    "syslog": (Logsource(service="syslog"),),
    "linux.auth": (Logsource("linux", None, "auth"),),
    "linux.syslog": (Logsource("linux", None, "syslog"),),
    "iptables": (Logsource("linux", _FIREWALL, "iptables"),),
    "ufw": (Logsource("linux", _FIREWALL, "ufw"),),
    "pfsense": (Logsource("pfsense", _FIREWALL, None),),
    "opnsense": (Logsource("opnsense", _FIREWALL, None),),
    "cisco.asa": (Logsource("cisco", _FIREWALL, "asa"),),
    "cisco.ftd": (Logsource("cisco", _FIREWALL, "ftd"),),
    "fortinet.fortigate": (Logsource("fortigate", _FIREWALL, None),),
    "panw.panos": (Logsource("paloalto", _FIREWALL, "panos"),),
    "sophos.xg": (Logsource("sophos", _FIREWALL, "xg"),),
    "mikrotik.routeros": (Logsource("mikrotik", _FIREWALL, "routeros"),),
    "juniper.srx": (Logsource("juniper", _FIREWALL, "srx"),),
    "checkpoint": (Logsource("checkpoint", _FIREWALL, None),),
    "huawei.usg": (Logsource("huawei", _FIREWALL, "usg"),),
    "ubiquiti.unifi": (Logsource("ubiquiti", _FIREWALL, "unifi"),),
    "hikvision": (Logsource("hikvision", "camera", None),),
    "dahua": (Logsource("dahua", "camera", None),),
    "cef": (Logsource("cef", None, None),),
    "leef": (Logsource("leef", None, None),),
    "json": (Logsource("json", None, None),),
    "suricata.eve": (Logsource("suricata", None, "eve"),),
    "zeek.conn": (Logsource("zeek", _FIREWALL, "conn"),),
    "zeek.dns": (Logsource("zeek", "dns", "dns"),),
    "zeek.http": (Logsource("zeek", "proxy", "http"), Logsource("zeek", "webserver", "http")),
    "network.flow": (Logsource("network", _FIREWALL, "flow"),),
    "network.dns": (Logsource("network", "dns", "dns"),),
    "network.http": (Logsource("network", "proxy", "http"), Logsource("network", "webserver", "http")),
    "network.tls": (Logsource("network", None, "tls"),),
    "network.ssh": (Logsource("network", None, "ssh"),),
    "network.dhcp": (Logsource("network", None, "dhcp"),),
    "network.arp": (Logsource("network", None, "arp"),),
    "web.access": (Logsource(None, "webserver", "access"),),
}

#: Suricata eve ``event_type`` (kept by the parser as ``suricata.eve.event_type``) -> facets.
SURICATA_EVENT_TYPES: dict[str, tuple[Logsource, ...]] = {
    "dns": (Logsource("suricata", "dns", "eve"),),
    "http": (Logsource("suricata", "proxy", "eve"),),
    "flow": (Logsource("suricata", _FIREWALL, "eve"),),
}

#: Linux programs with their own Sigma service (SigmaHQ rules/linux/builtin/<service>).
LINUX_PROGRAM_SERVICES: dict[str, str] = {
    "sshd": "sshd",
    "sudo": "sudo",
    "cron": "cron",
    "crond": "cron",
    "CRON": "cron",
    "vsftpd": "vsftpd",
    "clamd": "clamav",
    "freshclam": "clamav",
    "guacd": "guacamole",
    "auditd": "auditd",
}

#: ECS event.category values that add one of our own facets.
ECS_CATEGORY_FACETS: dict[str, Logsource] = {
    "authentication": Logsource(category="authentication"),
}

#: ECS observer.type -> facet: a firewall log of any format (CEF, JSON, ...) is a firewall log.
OBSERVER_TYPE_FACETS: dict[str, Logsource] = {
    "firewall": Logsource(category=_FIREWALL),
}

_WINDOWS_DATASET_PREFIX = "windows."
#: Datasets whose process.name selects a Linux service (LINUX_PROGRAM_SERVICES).
_PROGRAM_DATASETS = frozenset({"linux.auth", "linux.syslog", "syslog"})


def _first(event: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = event.get(name)
        if value is not None:
            return value
    return None


def _text(value: Any, *, lower: bool = False) -> str | None:
    if not isinstance(value, str):
        return None
    return value.lower() if lower else value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _categories(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value in ECS_CATEGORY_FACETS else ()
    if isinstance(value, list | tuple):
        return tuple(item for item in value if isinstance(item, str) and item in ECS_CATEGORY_FACETS)
    return ()


def event_logsources(event: Mapping[str, Any]) -> tuple[Logsource, ...]:
    """The logsource facets an event has (usually one; empty when nothing is known).

    Sysmon EventID 1 gives ``Logsource("windows", "process_creation", "sysmon")``;
    ``event.dataset: linux.auth`` from sshd gives ``(linux, -, auth)`` and ``(linux, -, sshd)``.
    """
    channel = _first(event, "Channel", "winlog.channel")
    dataset = _text(event.get("event.dataset"))
    # only the fields that matter for this kind of event go into the cache key
    event_log = isinstance(channel, str) or (dataset is not None and dataset.startswith(_WINDOWS_DATASET_PREFIX))
    return _logsources_for(
        dataset,
        channel.lower() if isinstance(channel, str) else None,
        _as_int(_first(event, "EventID", "winlog.event_id", "event.code")) if event_log else None,
        _text(event.get("EventType"), lower=True) if event_log else None,
        _text(event.get("process.name")) if dataset in _PROGRAM_DATASETS else None,
        _text(event.get("suricata.eve.event_type")),
        _categories(event.get("event.category")),
        _text(event.get("observer.type")),
    )


@lru_cache(maxsize=4096)
def _logsources_for(
    dataset: str | None,
    channel: str | None,
    event_id: int | None,
    event_type: str | None,
    program: str | None,
    suricata_type: str | None,
    ecs_categories: tuple[str, ...],
    observer_type: str | None,
) -> tuple[Logsource, ...]:
    facets: list[Logsource] = []
    service: str | None = None
    product = "windows"
    if channel in LINUX_SYSMON_CHANNELS:
        product, service = "linux", "sysmon"
    elif channel is not None:
        service = CHANNEL_SERVICE.get(channel)
    elif dataset is not None and dataset.startswith(_WINDOWS_DATASET_PREFIX):
        service = dataset[len(_WINDOWS_DATASET_PREFIX) :]
    if channel is not None or service is not None:
        facets.extend(_windows(product, service, event_id, event_type))
    elif dataset is not None:
        facets.extend(_ecs(dataset, program, suricata_type))
    facets.extend(ECS_CATEGORY_FACETS[c] for c in ecs_categories if c in ECS_CATEGORY_FACETS)
    if observer_type in OBSERVER_TYPE_FACETS and not any(f.category == _FIREWALL for f in facets):
        facets.append(OBSERVER_TYPE_FACETS[observer_type])
    return tuple(dict.fromkeys(facets))


def _windows(product: str, service: str | None, event_id: int | None, event_type: str | None) -> list[Logsource]:
    """Facets of an event-log record (Windows, or Sysmon for Linux which shares the EventIDs)."""
    categories: tuple[str, ...] = ()
    if event_id is not None and service is not None:
        if service == "sysmon":
            categories = SYSMON_EVENTTYPE_CATEGORIES.get((event_id, event_type or ""), ())
            categories = categories or SYSMON_CATEGORIES.get(event_id, ())
        else:
            categories = WINDOWS_EVENT_CATEGORIES.get((service, event_id), ())
    if not categories:
        return [Logsource(product, None, service)]
    return [Logsource(product, category, service) for category in categories]


def _ecs(dataset: str, program: str | None, suricata_type: str | None) -> list[Logsource]:
    facets = list(DATASET_LOGSOURCES.get(dataset, ()))
    if not facets:
        module, _, rest = dataset.partition(".")
        if module == "zeek" and rest:
            facets.append(Logsource("zeek", None, rest))
    if dataset == "suricata.eve" and suricata_type is not None:
        facets.extend(SURICATA_EVENT_TYPES.get(suricata_type, ()))
    if program is not None and dataset in _PROGRAM_DATASETS:
        service = LINUX_PROGRAM_SERVICES.get(program)
        if service is not None:
            facets.append(Logsource("linux", None, service))
    return facets


def rule_applies(rule: Logsource, event: Logsource) -> bool:
    """True when every facet the rule names equals the event's (the rule may name fewer)."""
    return (
        (rule.product is None or rule.product == event.product)
        and (rule.category is None or rule.category == event.category)
        and (rule.service is None or rule.service == event.service)
    )
