"""The shell's builtins, and ``true``, ``false`` and ``sh`` itself."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from .common import IO, CommandTable, ExitShell

if TYPE_CHECKING:
    from .interpreter import Shell

BUILTINS = CommandTable()
COMMANDS = CommandTable()


@BUILTINS.register(":")
def _builtin_colon(sh: Shell, io: IO, argv: list[str]) -> int:
    return 0


@BUILTINS.register("exit")
def _builtin_exit(sh: Shell, io: IO, argv: list[str]) -> int:
    if len(argv) < 2:
        raise ExitShell(sh.last_status)
    if not re.fullmatch(r"\d+", argv[1]):
        sh.shell_error(f"exit: Illegal number: {argv[1]}")
        raise ExitShell(2)
    raise ExitShell(int(argv[1]) & 0xFF)


@BUILTINS.register("set")
def _builtin_set(sh: Shell, io: IO, argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        io.out("".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(sh.vars.items())))
        return 0
    while args:
        arg = args.pop(0)
        if arg == "--":
            sh.positional = args
            return 0
        if arg in ("-o", "+o"):
            if not args or not sh.set_long_option(args.pop(0), arg == "-o"):
                io.err(f"{sh.name}: set: illegal option {arg}\n")
                return 2
            continue
        if len(arg) > 1 and arg[0] in "-+":
            for letter in arg[1:]:
                if letter not in "eux":
                    io.err(f"{sh.name}: set: illegal option -{letter}\n")
                    return 2
                sh.set_flag(letter, arg[0] == "-")
            continue
        sh.positional = [arg, *args]
        return 0
    return 0


@BUILTINS.register("export", "readonly")
def _builtin_export(sh: Shell, io: IO, argv: list[str]) -> int:
    for arg in argv[1:]:
        name, has_value, value = arg.partition("=")
        if has_value:
            sh.vars[name] = value
    return 0


@BUILTINS.register("unset")
def _builtin_unset(sh: Shell, io: IO, argv: list[str]) -> int:
    for name in argv[1:]:
        if name not in ("-v", "-f"):
            sh.vars.pop(name, None)
    return 0


@BUILTINS.register("cd")
def _builtin_cd(sh: Shell, io: IO, argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else sh.vars.get("HOME", "/")
    path = sh.path(target)
    if not sh.host.is_dir(path):
        io.err(f"{sh.name}: cd: can't cd to {target}: No such file or directory\n")
        return 2
    sh.cwd = sh.vars["PWD"] = path
    return 0


@BUILTINS.register("pwd")
def _builtin_pwd(sh: Shell, io: IO, argv: list[str]) -> int:
    io.out(sh.cwd + "\n")
    return 0


@BUILTINS.register("trap", "wait", "umask")
def _builtin_ignored(sh: Shell, io: IO, argv: list[str]) -> int:
    return 0  # no signals, background jobs or file modes in the simulation


@BUILTINS.register("exec")
def _builtin_exec(sh: Shell, io: IO, argv: list[str]) -> int:
    if len(argv) == 1:
        sh.base_fds = dict(io.fds)  # "exec >file" redirects the rest of the script
        return 0
    raise ExitShell(sh.dispatch(argv[1:], io))


@BUILTINS.register("command")
def _builtin_command(sh: Shell, io: IO, argv: list[str]) -> int:
    if len(argv) > 2 and argv[1] == "-v":
        name = argv[2]
        if sh.find_builtin(name) is not None:
            io.out(name + "\n")
            return 0
        if sh.find_command(name) is None:
            return 1
        io.out((name if "/" in name else f"{_COMMAND_DIRS.get(name, '/usr/bin')}/{name}") + "\n")
        return 0
    return sh.dispatch(argv[1:], io) if len(argv) > 1 else 0


_COMMAND_DIRS = {name: "/usr/sbin" for name in (
    "ip", "iptables", "ip6tables", "iptables-save", "ip6tables-save", "nft", "iptables-nft")}


@COMMANDS.register("true")
def _cmd_true(sh: Shell, io: IO, argv: list[str]) -> int:
    return 0


@COMMANDS.register("false")
def _cmd_false(sh: Shell, io: IO, argv: list[str]) -> int:
    return 1


@COMMANDS.register("sh", "ash", "bash", "dash")
def _cmd_sh(sh: Shell, io: IO, argv: list[str]) -> int:
    return sh.child(io).run_argv(argv)
