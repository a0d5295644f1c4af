"""Questions to the person at the terminal, answered on stdin. No answer (stdin closed or not a terminal) is bad
usage, exit 2, with the flag that makes the question unnecessary; "no" is the operator stopping, exit 5."""
from __future__ import annotations

import sys

from .console import err_console
from .errors import EXIT_STOPPED, UserError


class OperatorStopped(UserError):
    """The person running the tool said no, or chose to stop."""
    exit_code = EXIT_STOPPED


def _answer(question: str, unattended: str) -> str:
    err_console.print(question, end="", soft_wrap=True, highlight=False, markup=False)
    line = sys.stdin.readline()
    if not line:
        err_console.print()
        raise UserError("no answer: stdin is closed or not a terminal", unattended)
    return line.strip().lower()


def confirm(question: str, *, unattended: str = "pass --yes to run without asking") -> None:
    """Go on when the answer is yes; OperatorStopped (exit 5) otherwise."""
    if _answer(f"{question} [y/N]: ", unattended) not in ("y", "yes"):
        raise OperatorStopped("not confirmed: nothing was changed")


def choose(question: str, choices: dict[str, str], default: str, *, unattended: str) -> str:
    """One of `choices` (answer -> value); an empty answer is `default`; anything else asks again."""
    while True:
        answer = _answer(f"{question} ({', '.join(choices)}) [{default}]: ", unattended) or default
        if answer in choices:
            return choices[answer]
        err_console.print(f"answer one of {', '.join(choices)}", soft_wrap=True)
