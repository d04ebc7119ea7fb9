"""The report as Markdown: the same headline figures and tables as the HTML, without charts."""

from __future__ import annotations

from siem.i18n import gettext as _
from siem.report import tables
from siem.report.collect import ReportData
from siem.report.formatting import Formatter


def render(data: ReportData) -> str:
    """A Markdown document (GitHub tables) for ``data`` in the current language."""
    fmt = Formatter(data.language, data.timezone)
    lines = [f"# {tables.title(data, fmt)}", "",
             _("Generated {when} ({zone}) by siem").format(when=fmt.datetime(data.generated_at), zone=data.timezone),
             ""]
    lines += [f"- **{label}:** {value}" for label, value in tables.summary(data, fmt)]
    for table in tables.tables(data, fmt):
        lines += ["", f"## {table.caption}", ""]
        if not table.rows:
            lines.append(f"_{table.empty}_")
            continue
        lines.append("| " + " | ".join(_cell(column) for column in table.columns) + " |")
        lines.append("|" + "|".join("---:" if numeric else "---" for numeric in table.numeric) + "|")
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
    head, advice = tables.seal_head(data, fmt)
    lines += ["", "---", "", f"**{head}**", "", advice]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Table cell text: pipes escaped, line breaks as spaces (titles come from the network)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
