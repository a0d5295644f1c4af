"""A step kind: how to tell a step is already done, how to do it, how to undo it.

Undo is, by default, the journal's mutations replayed backwards: a create is deleted, a patch is
patched back with its pre-image, a delete is re-created from its before-image. Every undo is
idempotent, so a rollback interrupted half-way can simply run again.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

from ...kube import AlreadyExists, NotFound

KINDS: dict[str, "StepKind"] = {}


def kind(name: str):
    """Register a StepKind subclass under the plan's kind name."""
    def register(cls):
        cls.name = name
        KINDS[name] = cls()
        return cls
    return register


class StepKind(ABC):
    name = ""
    always_run = False  # gates that look at the live cluster every time a run starts or resumes

    def check(self, ctx, step) -> str | None:
        """Why the step is already done, or None when it has work to do."""
        return None

    @abstractmethod
    def apply(self, ctx, step) -> None:
        """Do the step's work (writes through ctx, so they are journaled)."""

    def verify(self, ctx, step) -> None:
        """After apply: by default nothing more than apply's own waits."""

    def revert(self, ctx, step, mutations: list[dict]) -> None:
        undo_mutations(ctx, mutations)


_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")


def restorable(obj: dict) -> dict:
    """An object as it can be created again: without the fields the server sets."""
    clean = {k: v for k, v in obj.items() if k != "status"}
    clean["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_FIELDS}
    return clean


def undo_mutations(ctx, mutations: list[dict]) -> None:
    for mutation in reversed(mutations):
        path, before = mutation["path"], mutation.get("before")
        if mutation["action"] == "create":
            ctx.delete(path)
        elif mutation["action"] == "patch":
            try:
                ctx.patch(path, before)
            except NotFound:
                pass  # gone since: nothing left to put back
        elif mutation["action"] == "delete":
            if before.get("kind") == "Namespace":  # a namespace takes a while to go; re-create it once gone
                ctx.wait_for(lambda: ctx.kube.get_optional(path) is None or not _terminating(ctx, path),
                             timeout=300, what=f"namespace {before['metadata']['name']} to finish terminating",
                             hint="look for finalizers that hold it (kubectl get ns NAME -o yaml)")
            if ctx.kube.get_optional(path) is None:
                try:
                    ctx.create(path.rsplit("/", 1)[0], restorable(before))
                except AlreadyExists:
                    pass


def _terminating(ctx, path: str) -> bool:
    current = ctx.kube.get_optional(path)
    return bool(current and current["metadata"].get("deletionTimestamp"))
