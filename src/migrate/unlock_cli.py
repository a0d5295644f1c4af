"""`migrate unlock PLAN`: break the cluster lock a dead run left behind, as terraform's force-unlock does, but
never while its holder still renews it, and journaled in the plan's journal."""
from __future__ import annotations

import click
from rich.markup import escape

from .apply_cli import with_cluster_flags
from .console import err_console
from .execute import clock as clocks
from .execute.journal import JournalRecord, iso_time
from .execute.lease import PLAN_ANNOTATION, break_lock, describe_holder
from .execute.session import check_cluster, cluster_lock, journal_path, open_journal
from .kube import NotFound, connect
from .plan import load_plan
from .prompts import confirm


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@with_cluster_flags
@click.option("--yes", is_flag=True, help="Unlock without asking.")
def unlock(plan_file, kubeconfig, context, journal_file, yes):
    """Break the cluster lock (the Lease) a run left when it died on another machine. A lock whose holder's
    process on this machine is gone, or that lapsed, needs no unlock: resume takes it over. Asks first, refuses
    with exit 4 while its holder still renews it (it watches for a renewal interval), and journals who broke it.

    Exit codes: 0 unlocked (or nothing to unlock), 2 bad input (no --yes without a terminal), 4 the holder renewed
    it: its run is alive, 5 not confirmed."""
    plan = load_plan(plan_file)
    kube = connect(kubeconfig, context)
    check_cluster(kube, plan)
    journal = open_journal(kube, plan, journal_path(plan_file, journal_file))
    clock = clocks.cli_clock()
    lock = cluster_lock(kube, clock)
    lease = kube.get_optional(lock.path)
    if lease is None:
        err_console.print("the cluster lock is free: nothing to unlock", soft_wrap=True)
        return
    spec = lease.get("spec") or {}
    holder, _ = describe_holder(lease, clock.now())
    owner = ((lease.get("metadata") or {}).get("annotations") or {}).get(PLAN_ANNOTATION, "(unknown)")
    if not yes:
        confirm(f"the cluster lock is {holder}, since {spec.get('acquireTime')}, for plan {owner}; break it?")
    if "live" in holder:
        err_console.print("watching the lock for a renewal interval: a holder that renews it is alive", soft_wrap=True)
    try:
        broken = break_lock(kube, lock)
    except NotFound:
        err_console.print("the cluster lock is free now: nothing to unlock", soft_wrap=True)
        return
    who = (broken.get("spec") or {}).get("holderIdentity")
    message = f"{kube.user} broke the cluster lock held by {who} since {spec.get('acquireTime')} (plan {owner})"
    journal.append(JournalRecord(type="lock", plan=plan.digest, time=iso_time(clock.now()), outcome="broken",
                                 message=message))
    err_console.print(f"unlocked: {escape(message)}", soft_wrap=True)
