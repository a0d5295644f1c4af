"""`migrate show PLAN`: the plan for people (a tree by phase and wave), as a runbook, or as JSON."""
from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.tree import Tree

from .console import console
from .findings_view import counts_line, print_findings
from .plan import load_plan
from .plan.model import WAVES
from .plan.runbook import PHASE_TITLES, plan_to_markdown


def _tree(plan) -> Tree:
    o = plan.options
    root = Tree(f"[bold]plan[/bold] {plan.digest[:19]} for cluster {escape(plan.cluster_id)}: Calico "
                f"{escape(o['calicoVersion'])}, IPAM {o['ipam']}, then {o['encapsulation']}; "
                f"{o['maxUnavailableNodes']} node(s) at a time")
    phases: dict = {}
    waves = {w.index: w for w in plan.waves}
    wave_branches: dict = {}
    node_branches: dict = {}
    for step in plan.steps:
        if step.phase not in phases:
            phases[step.phase] = root.add(f"[bold]{PHASE_TITLES[step.phase]}[/bold]")
        parent = phases[step.phase]
        if step.phase == WAVES and step.wave is not None:  # waves/joined-nodes belongs to no planned wave
            if step.wave not in wave_branches:
                wave = waves[step.wave]
                wave_branches[step.wave] = parent.add(f"[bold cyan]wave {wave.index}: {wave.name}[/] "
                                                      f"({escape(', '.join(wave.nodes))})")
            parent = wave_branches[step.wave]
            if step.node:
                if step.node not in node_branches:
                    node_branches[step.node] = parent.add(f"[bold]{escape(step.node)}[/bold]")
                parent = node_branches[step.node]
        mark = "" if step.reversible else " [red](not reversible)[/red]"
        parent.add(f"[green]{escape(step.id)}[/green] [dim]{step.kind}[/dim]{mark}: {escape(step.changes)}")
    return root


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="table: a tree by phase and wave; markdown: a runbook with kubectl commands; "
                                      "json: the plan for tools.")
def show(plan_file: str, output_format: str) -> None:
    """Show a plan file: findings first, then every step grouped by phase and wave. Reads no cluster.

    Exit codes: 0 shown, 2 bad input (no such plan, an edited one)."""
    plan = load_plan(plan_file)
    if output_format == "json":
        console.print(json.dumps({"digest": plan.digest, **plan.body()}, indent=2), markup=False, highlight=False,
                      soft_wrap=True)
    elif output_format == "markdown":
        console.print(plan_to_markdown(plan), end="", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(f"[bold]findings[/bold]: {counts_line(list(plan.findings))}")
        print_findings([f for f in plan.findings if f["severity"] != "info"])
        console.print()
        console.print(_tree(plan))
