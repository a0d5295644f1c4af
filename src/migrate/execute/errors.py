"""What can stop a run. Each is one line for the user and an exit code; the journal says where."""
from __future__ import annotations

from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, UserError


class StepFailed(UserError):
    """A step could not do its job (a drain that timed out, a pod that never got Ready)."""
    exit_code = EXIT_FAILED


class Interrupted(UserError):
    """Ctrl-C or SIGTERM: the current step stopped at a safe point and was journaled."""
    exit_code = EXIT_INTERRUPTED


class LockHeld(UserError):
    """Another executor holds the cluster's migration Lease."""
    exit_code = EXIT_LOCKED


class JournalError(UserError):
    """A journal that cannot be trusted: of another plan, or corrupted before its last line."""
