"""Errors a user can cause. The CLI prints them as one line and exits with their code."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_LOCKED = 4
EXIT_STOPPED = 5  # the operator said no, or chose abort (or rollback) in guided mode; resumable
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user can fix; `hint` says how."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message
