"""Numbers, dates and durations written the way each report language expects.

English: ``12,345``, ``1.5``, ``Mon 23 Nov``, ``23 Nov 2026``. Vietnamese (TCVN conventions
as used in government documents): ``12.345``, ``1,5``, ``T2 23/11``, ``23/11/2026``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Thứ hai ... Chủ nhật, abbreviated as on Vietnamese calendars.
_WEEKDAYS_VI = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats values for one language (``en`` or ``vi``) and time zone."""

    language: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        """The report's time zone."""
        return ZoneInfo(self.timezone)

    def number(self, value: float, decimals: int = 0) -> str:
        """A number with thousands separators (and ``decimals`` digits after the point)."""
        text = f"{value:,.{decimals}f}"
        if self.language == "vi":
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def percent(self, value: float) -> str:
        """``value`` (0..1) as a whole percentage, e.g. ``85%``."""
        return f"{self.number(value * 100)}%"

    def local(self, moment: float) -> datetime:
        """Epoch seconds as a time in the report's zone."""
        return datetime.fromtimestamp(moment, self.zone)

    def day(self, moment: float) -> str:
        """A short day label for chart axes: ``Mon 23 Nov`` / ``T2 23/11``."""
        local = self.local(moment)
        if self.language == "vi":
            return f"{_WEEKDAYS_VI[local.weekday()]} {local.day:02d}/{local.month:02d}"
        return f"{_WEEKDAYS_EN[local.weekday()]} {local.day} {_MONTHS_EN[local.month - 1]}"

    def date(self, moment: float) -> str:
        """A full date: ``23 Nov 2026`` / ``23/11/2026``."""
        local = self.local(moment)
        if self.language == "vi":
            return f"{local.day:02d}/{local.month:02d}/{local.year}"
        return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}"

    def datetime(self, moment: float | None) -> str:
        """A date and time to the minute, or ``-`` for none."""
        if moment is None:
            return "-"
        return f"{self.date(moment)} {self.local(moment):%H:%M}"

    def in_hours(self, hours: float) -> str:
        """A duration in hours only (chart axes): ``12.5 h`` / ``12,5 giờ``."""
        return f"{self.number(hours, 1)} {'giờ' if self.language == 'vi' else 'h'}"

    def hours(self, hours: float | None) -> str:
        """A duration given in hours: ``45 min``, ``3.5 h``, ``2.1 d`` (``phút``/``giờ``/``ngày``)."""
        if hours is None:
            return "-"
        vi = self.language == "vi"
        if hours < 1:
            return f"{self.number(hours * 60)} {'phút' if vi else 'min'}"
        if hours < 48:
            return f"{self.number(hours, 1)} {'giờ' if vi else 'h'}"
        return f"{self.number(hours / 24, 1)} {'ngày' if vi else 'd'}"
