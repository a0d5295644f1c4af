"""``echo``, ``printf``, ``test``/``[``, ``sleep``, ``date`` and ``hostname`` (GNU coreutils)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .common import IO, CommandTable, StillRunning, backslash_escapes, c_time

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()


@COMMANDS.register("echo")
def _cmd_echo(sh: Shell, io: IO, argv: list[str]) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for letter in args.pop(0)[1:]:
            newline = newline and letter != "n"
            escapes = {"e": True, "E": False}.get(letter, escapes)
    text = " ".join(args)
    if escapes:
        text, stopped = backslash_escapes(text)
        newline = newline and not stopped
    io.out(text + ("\n" if newline else ""))
    return 0


_PRINTF_SPEC = re.compile(r"%([-+ 0#]*)(\d*)(?:\.(\d+))?([sbdiouxXcf%])")


@COMMANDS.register("printf")
def _cmd_printf(sh: Shell, io: IO, argv: list[str]) -> int:
    if len(argv) < 2:
        io.err("printf: missing operand\nTry 'printf --help' for more information.\n")
        return 1
    fmt, args = argv[1], argv[2:]
    status = 0
    while True:
        text, consumed, bad = _printf_once(fmt, args)
        output, stopped = backslash_escapes(text)
        io.out(output)
        if bad:
            io.err(f"printf: '{bad}': expected a numeric value\n")
            status = 1
        args = args[consumed:]
        if stopped or not args or consumed == 0:  # POSIX reuses the format for leftover args
            return status


def _printf_once(fmt: str, args: list[str]) -> tuple[str, int, str | None]:
    consumed = 0
    bad = None

    def convert(match: re.Match) -> str:
        nonlocal consumed, bad
        flags, width, precision, kind = match.groups()
        if kind == "%":
            return "%"
        value = args[consumed] if consumed < len(args) else ""
        consumed += 1
        spec = "%" + flags + width + (f".{precision}" if precision else "")
        if kind in "sb":
            return (spec + "s") % (backslash_escapes(value)[0] if kind == "b" else value)
        if kind == "c":
            return (spec + "s") % value[:1]
        try:
            number = float(value or 0) if kind == "f" else _printf_integer(value)
        except ValueError:
            bad = value
            number = 0
        return (spec + ("d" if kind in "iu" else kind)) % number

    return _PRINTF_SPEC.sub(convert, fmt), consumed, bad


def _printf_integer(text: str) -> int:
    text = text.strip() or "0"
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text, 10)  # "08" is decimal to printf, not bad octal
    return int(text, 0)


# ------------------------------------------------------------ test / [


class _TestError(Exception):
    pass


_UNARY_TESTS = {
    "-e": lambda sh, a: sh.path(a) == "/dev/null" or sh.host.exists(sh.path(a)),
    "-f": lambda sh, a: sh.host.is_file(sh.path(a)),
    "-d": lambda sh, a: sh.host.is_dir(sh.path(a)),
    "-s": lambda sh, a: bool(sh.host.read_file(sh.path(a))),
    "-r": lambda sh, a: sh.host.exists(sh.path(a)),  # root may read and write anything
    "-w": lambda sh, a: sh.host.exists(sh.path(a)),
    "-x": lambda sh, a: sh.host.exists(sh.path(a)),
    "-L": lambda sh, a: False,  # no symlinks in the model
    "-h": lambda sh, a: False,
    "-p": lambda sh, a: False,
    "-S": lambda sh, a: False,
    "-b": lambda sh, a: False,
    "-c": lambda sh, a: sh.path(a) == "/dev/null",
    "-t": lambda sh, a: False,
    "-n": lambda sh, a: a != "",
    "-z": lambda sh, a: a == "",
}

_STRING_TESTS = {"=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
                 "<": lambda a, b: a < b, ">": lambda a, b: a > b}
_INTEGER_TESTS = {"-eq": lambda a, b: a == b, "-ne": lambda a, b: a != b, "-lt": lambda a, b: a < b,
                  "-le": lambda a, b: a <= b, "-gt": lambda a, b: a > b, "-ge": lambda a, b: a >= b}


@COMMANDS.register("test", "[")
def _cmd_test(sh: Shell, io: IO, argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    if name == "[":
        if not args or args[-1] != "]":
            io.err(f"{sh.name}: [: missing ]\n")
            return 2
        args = args[:-1]
    try:
        return 0 if _evaluate_test(sh, args) else 1
    except _TestError as error:
        io.err(f"{sh.name}: {name}: {error}\n")
        return 2


def _evaluate_test(sh: Shell, args: list[str]) -> bool:
    """POSIX test, decided by the number of arguments as the standard says."""
    count = len(args)
    if count == 0:
        return False
    if count == 1:
        return args[0] != ""
    if count == 2:
        if args[0] == "!":
            return args[1] == ""
        if args[0] not in _UNARY_TESTS:
            raise _TestError(f"{args[0]}: unexpected operator")
        return _UNARY_TESTS[args[0]](sh, args[1])
    if count == 3 and (args[1] in _STRING_TESTS or args[1] in _INTEGER_TESTS):
        return _binary_test(*args)
    if args[0] == "!" and count <= 4:
        return not _evaluate_test(sh, args[1:])
    if args[0] == "(" and args[-1] == ")" and count <= 4:
        return _evaluate_test(sh, args[1:-1])
    for operator, combine in (("-o", any), ("-a", all)):
        if operator in args[1:-1]:
            split = args.index(operator, 1)
            return combine([_evaluate_test(sh, args[:split]), _evaluate_test(sh, args[split + 1:])])
    raise _TestError(f"{args[1] if count > 1 else args[0]}: unexpected operator")


def _binary_test(left: str, operator: str, right: str) -> bool:
    if operator in _STRING_TESTS:
        return _STRING_TESTS[operator](left, right)
    try:
        return _INTEGER_TESTS[operator](int(left), int(right))
    except ValueError:
        bad = left if not re.fullmatch(r"\s*[-+]?\d+\s*", left) else right
        raise _TestError(f"{bad}: bad number") from None


# ------------------------------------------------------------ time


_SLEEP_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@COMMANDS.register("sleep")
def _cmd_sleep(sh: Shell, io: IO, argv: list[str]) -> int:
    if len(argv) < 2:
        io.err("sleep: missing operand\nTry 'sleep --help' for more information.\n")
        return 1
    total = 0.0
    for arg in argv[1:]:
        if arg in ("infinity", "inf"):
            sh.result.sleep_seconds += total
            raise StillRunning()
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if not match:
            io.err(f"sleep: invalid time interval '{arg}'\nTry 'sleep --help' for more information.\n")
            return 1
        total += float(match.group(1)) * _SLEEP_UNITS[match.group(2)]
    sh.result.sleep_seconds += total
    return 0


@COMMANDS.register("date")
def _cmd_date(sh: Shell, io: IO, argv: list[str]) -> int:
    moment = sh.now
    fmt = None
    for arg in argv[1:]:
        if arg.startswith("+"):
            fmt = arg[1:]
        elif arg in ("-u", "--utc", "--universal"):
            continue
        elif arg in ("-I", "--iso-8601", "-Idate"):
            fmt = "%Y-%m-%d"
        elif arg in ("-Iseconds", "--iso-8601=seconds"):
            fmt = "%Y-%m-%dT%H:%M:%S+00:00"
        else:
            io.err(f"date: invalid date '{arg}'\n")
            return 1
    if fmt is None:
        io.out(c_time(moment, "UTC") + "\n")
    else:
        io.out(moment.strftime(fmt.replace("%s", str(int(moment.timestamp())))) + "\n")
    return 0


@COMMANDS.register("hostname")
def _cmd_hostname(sh: Shell, io: IO, argv: list[str]) -> int:
    operands = [arg for arg in argv[1:] if not arg.startswith("-")]
    if operands:
        io.err("hostname: changing the host name is not modelled by the simulator\n")
        return 1
    io.out(sh.host.node_name + "\n")
    return 0
