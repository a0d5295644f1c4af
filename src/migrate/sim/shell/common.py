"""What the interpreter and every command share.

A command is a function ``(shell, io, argv) -> exit status``; each command
module lists its own in a ``CommandTable`` that the interpreter merges.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .interpreter import Shell


class ExitShell(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class StillRunning(Exception):
    """The container's command never ends (``sleep infinity``, ``tail -f``)."""


STDOUT, STDERR, NULL = "stdout", "stderr", "null"


class IO:
    """Where one command's standard streams go once its redirections apply."""

    def __init__(self, shell: Shell, fds: dict, stdin: str = ""):
        self.shell = shell
        self.fds = dict(fds)
        self.stdin = stdin

    def out(self, text: str) -> None:
        self.shell.emit(self.fds.get(1, NULL), text)

    def err(self, text: str) -> None:
        self.shell.emit(self.fds.get(2, NULL), text)


CommandFunction = Callable[["Shell", IO, list[str]], int]


class CommandTable(dict):
    """A module's commands by name: ``@COMMANDS.register("rm")`` adds one."""

    def register(self, *names: str):
        def register(function: CommandFunction) -> CommandFunction:
            for name in names:
                self[name] = function
            return function
        return register


# ------------------------------------------------------------ option parsing


class BadOption(Exception):
    def __init__(self, option: str, missing_argument: bool = False):
        super().__init__(option)
        self.option = option
        self.missing_argument = missing_argument


def getopt(args: list[str], flags: str = "", with_argument: str = "",
           long_flags: dict[str, str] | None = None,
           long_with_argument: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU-style option parsing: options may follow operands, ``--`` ends them."""
    long_flags = long_flags or {}
    long_with_argument = long_with_argument or {}
    options: list[tuple[str, str]] = []
    operands: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            operands.extend(args[index:])
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if name in long_flags:
                options.append((long_flags[name], ""))
                continue
            if name not in long_with_argument:
                raise BadOption(arg)
            if not has_value:
                if index >= len(args):
                    raise BadOption(arg, missing_argument=True)
                value, index = args[index], index + 1
            options.append((long_with_argument[name], value))
        elif arg.startswith("-") and arg != "-":
            index = _short_options(arg, args, index, flags, with_argument, options)
        else:
            operands.append(arg)
    return options, operands


def _short_options(arg, args, index, flags, with_argument, options) -> int:
    position = 1
    while position < len(arg):
        letter = arg[position]
        position += 1
        if letter in flags:
            options.append((letter, ""))
            continue
        if letter not in with_argument:
            raise BadOption("-" + letter)
        value = arg[position:]
        if not value:
            if index >= len(args):
                raise BadOption("-" + letter, missing_argument=True)
            value, index = args[index], index + 1
        options.append((letter, value))
        break
    return index


def gnu_usage_error(io: IO, tool: str, error: BadOption) -> None:
    option = error.option
    if error.missing_argument:
        what = (f"option '{option}' requires an argument" if option.startswith("--")
                else f"option requires an argument -- '{option[1:]}'")
    elif option.startswith("--"):
        what = f"unrecognized option '{option}'"
    else:
        what = f"invalid option -- '{option[1:]}'"
    io.err(f"{tool}: {what}\nTry '{tool} --help' for more information.\n")


def option_letters(options: list[tuple[str, str]]) -> set[str]:
    return {letter for letter, _ in options}


def last_value(options: list[tuple[str, str]], letter: str, default=None):
    values = [value for name, value in options if name == letter]
    return values[-1] if values else default


# ------------------------------------------------------------ text


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\",
            "e": "\x1b"}


def backslash_escapes(text: str) -> tuple[str, bool]:
    """Interpret echo -e / printf escapes; True when \\c asked to stop output."""
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        code = text[index + 1]
        if code == "c":
            return "".join(out), True
        if code == "0":
            digits = re.match(r"[0-7]{0,3}", text[index + 2:]).group(0)
            out.append(chr(int(digits or "0", 8)))
            index += 2 + len(digits)
            continue
        out.append(_ESCAPES.get(code, "\\" + code))
        index += 2
    return "".join(out), False


def c_time(moment: _dt.datetime, zone: str = "") -> str:
    """C's ctime()/date layout: 'Thu Jan  1 00:00:00 1970' (day padded with a space)."""
    zone_part = f" {zone}" if zone else ""
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S}{zone_part} {moment.year}"
