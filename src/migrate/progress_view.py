"""Executor events for people: a live table on a terminal, plain timestamped lines otherwise."""
from __future__ import annotations

import time

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from .console import console
from .execute.events import Event

OUTCOME_STYLE = {"done": "green", "noop": "cyan", "skipped": "dim", "failed": "bold red", "reverted": "magenta",
                 "interrupted": "yellow", "deferred": "yellow", "would": "blue"}


class PlainProgress:
    """One line per event that matters; fit for logs and CI."""

    def __init__(self, out=console):
        self.out = out

    def __call__(self, event: Event) -> None:
        if event.kind == "step-started":
            return
        stamp = time.strftime("%H:%M:%S")
        what = event.step or event.kind
        outcome = f" [{OUTCOME_STYLE.get(event.outcome, '')}]{event.outcome}[/]" if event.outcome else ""
        message = event.message
        if event.outcome == "would" and message.startswith("would "):
            message = message[len("would "):]  # "node/w1/cordon would cordon w1", not "would would"
        self.out.print(f"{stamp} {escape(what)}{outcome} {escape(message)}", soft_wrap=True, highlight=False)

    def close(self) -> None:
        pass


class LiveProgress:
    """Phase, wave, per-node state, the current step, elapsed time and an ETA, redrawn on each event."""

    def __init__(self, plan, out=console):
        self.plan, self.out = plan, out
        self.total = len(plan.steps)
        self.finished = 0
        self.started_at = time.monotonic()
        self.nodes: dict[str, tuple[str, str]] = {}
        self.current = ""
        self.wave = ""
        self.last = ""
        self.live = Live(self._render(), console=out, refresh_per_second=4, transient=False)
        self.live.start()

    def __call__(self, event: Event) -> None:
        if event.kind == "wave-started":
            self.wave = event.message
        if event.kind == "step-started":
            self.current = event.step or ""
            if event.node:
                self.nodes[event.node] = (event.step.rsplit("/", 1)[-1], "running")
        if event.kind == "step-finished":
            self.finished += 1
            if event.node:
                self.nodes[event.node] = (event.step.rsplit("/", 1)[-1], event.outcome or "")
            if event.outcome == "failed":
                self.last = event.message
        if event.kind in ("retry", "progress"):
            self.last = event.message
        self.live.update(self._render())

    def _render(self) -> Table:
        elapsed = time.monotonic() - self.started_at
        eta = elapsed / self.finished * (self.total - self.finished) if self.finished else 0
        table = Table(title=f"{self.finished}/{self.total} steps · elapsed {elapsed:.0f}s · ETA {eta:.0f}s",
                      title_justify="left", expand=False)
        table.add_column("node")
        table.add_column("step")
        table.add_column("state")
        for node, (step, state) in list(self.nodes.items())[-12:]:
            table.add_row(escape(node), escape(step), f"[{OUTCOME_STYLE.get(state, 'yellow')}]{state}[/]")
        table.caption = escape(f"{self.wave}\nnow: {self.current}\n{self.last}")
        return table

    def close(self) -> None:
        self.live.stop()


def progress_for(plan, out=console):
    return LiveProgress(plan, out) if out.is_terminal else PlainProgress(out)
