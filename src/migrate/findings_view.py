"""Findings for people: one block per finding, since their messages name many pods and nodes."""
from __future__ import annotations

from rich.markup import escape
from rich.padding import Padding

from .console import console, err_console

SEVERITY_STYLE = {"blocker": "bold red", "warning": "yellow", "info": "cyan"}


def print_findings(findings: list[dict], *, to_stderr: bool = False) -> None:
    out = err_console if to_stderr else console
    for f in findings:
        out.print(f"\n[{SEVERITY_STYLE[f['severity']]}]{f['severity'].upper():<8}[/] [bold]{f['code']}[/bold]")
        out.print(Padding(escape(f["message"]), (0, 0, 0, 2)))
        out.print(Padding(f"[dim]fix:[/dim] {escape(f['fix'])}", (0, 0, 0, 2)))


def counts_line(findings: list[dict]) -> str:
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITY_STYLE}
    return f"{counts['blocker']} blockers, {counts['warning']} warnings, {counts['info']} info"
