"""What a dry run says instead of "done": the step's change as a preview ("would create IPPool ..."), and in a
server dry run the API server's verdict on each write the step sent with dryRun=All."""
from __future__ import annotations

import re
import threading

from ..kube import NotFound
from .events import Event, Emit


def would(changes: str) -> str:
    """A plan step's `changes` ("creates IPPool x", "nothing: reads the cluster") as "would create IPPool x"."""
    first, _, rest = changes.partition(" ")
    if first.rstrip(":") == "nothing":
        return f"would change nothing{': ' + rest if rest else ''}"
    if re.fullmatch(r"[a-z]+ies", first):
        verb = first[:-3] + "y"        # copies, applies
    elif re.fullmatch(r"[a-z]+(sh|ch|ss|x)es", first):
        verb = first[:-2]              # pushes, patches
    elif re.fullmatch(r"[a-z]+s", first):
        verb = first[:-1]              # creates, marks, evicts
    else:
        return f"would: {changes}"
    return f"would {verb}{' ' + rest if rest else ''}"


def _write_name(verb: str, path: str) -> str:
    if verb == "create" and path.endswith("/eviction"):
        return f"evict {path[:-len('/eviction')]}"
    return f"{verb} {path}"


class ServerVerdicts:
    """Collects, per thread (a wave runs its nodes' steps side by side), the verdicts on the current step's
    dryRun writes, and emits one progress line per write as the answer comes."""

    def __init__(self, emit: Emit):
        self.emit = emit
        self._local = threading.local()

    def start(self, step) -> None:
        self._local.step, self._local.verdicts = step, []

    def __call__(self, verb: str, path: str, error: Exception | None) -> None:
        step = getattr(self._local, "step", None)
        write = _write_name(verb, path)
        if error is None:
            verdict, line = "accepted", f"server accepted {write}"
        elif isinstance(error, NotFound):  # it needs what an earlier step would have created
            verdict, line = "unchecked", f"server cannot check {write}: what it needs does not exist yet"
        else:
            reason = getattr(error, "message", None) or str(error)
            verdict, line = f"refused ({reason})", f"server refused {write}: {reason}"
        if step is not None:
            self._local.verdicts.append((write, verdict))
        self.emit(Event("progress", line + " (dry run)", step=step.id if step else None,
                        node=step.node if step else None))

    def summary(self) -> str:
        """The current step's verdicts in a clause: writes the server accepted, refused (which, why), could not
        check (they need an object an earlier step would create)."""
        verdicts = getattr(self._local, "verdicts", [])
        if not verdicts:
            return "no write sent to the API server"
        accepted = sum(1 for _, verdict in verdicts if verdict == "accepted")
        unchecked = sum(1 for _, verdict in verdicts if verdict == "unchecked")
        refused = [f"{write} {verdict}" for write, verdict in verdicts if verdict.startswith("refused")]
        parts = [f"the API server accepted {accepted} write(s)"]
        if refused:
            parts.append(f"refused {len(refused)}: " + "; ".join(refused))
        if unchecked:
            parts.append(f"could not check {unchecked} (an earlier step would create what they need)")
        return ", ".join(parts)
