"""``cat``, ``tail``, ``rm``, ``mkdir``, ``touch``, ``cp``, ``mv`` and ``ls`` (GNU coreutils).

``rm: cannot remove 'X': No such file or directory`` exits 1; ``ls`` exits 2
for a missing operand.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from ..host import HostState, normpath
from .common import (IO, BadOption, CommandTable, StillRunning, getopt, gnu_usage_error, last_value,
                     option_letters)

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()


def _read_input(sh: Shell, path: str) -> str | None:
    return "" if path == "/dev/null" else sh.host.read_file(path)


@COMMANDS.register("cat")
def _cmd_cat(sh: Shell, io: IO, argv: list[str]) -> int:
    operands = [arg for arg in argv[1:] if arg == "-" or not arg.startswith("-")] or ["-"]
    status = 0
    for operand in operands:
        if operand == "-":
            io.out(io.stdin)
            continue
        path = sh.path(operand)
        content = _read_input(sh, path)
        if content is None:
            reason = "Is a directory" if sh.host.is_dir(path) else "No such file or directory"
            io.err(f"cat: {operand}: {reason}\n")
            status = 1
        else:
            io.out(content)
    return status


@COMMANDS.register("tail")
def _cmd_tail(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, operands = getopt(argv[1:], "fFq", "n", {"follow": "f", "quiet": "q"}, {"lines": "n"})
    except BadOption as error:
        gnu_usage_error(io, "tail", error)
        return 1
    count_text = last_value(options, "n", "10").lstrip("+-")
    if not count_text.isdigit():
        io.err(f"tail: invalid number of lines: '{count_text}'\n")
        return 1
    count = int(count_text)
    status = 0
    for operand in operands or ["-"]:
        content = io.stdin if operand == "-" else _read_input(sh, sh.path(operand))
        if content is None:
            io.err(f"tail: cannot open '{operand}' for reading: No such file or directory\n")
            status = 1
            continue
        lines = content.splitlines(keepends=True)
        io.out("".join(lines[-count:]) if count else "")
    if option_letters(options) & {"f", "F"}:
        raise StillRunning()  # "tail -f /dev/null" keeps a container alive
    return status


@COMMANDS.register("rm")
def _cmd_rm(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, operands = getopt(argv[1:], "fiRrdv", "", {
            "force": "f", "recursive": "r", "dir": "d", "verbose": "v", "interactive": "i",
            "no-preserve-root": "P", "preserve-root": "p"})
    except BadOption as error:
        gnu_usage_error(io, "rm", error)
        return 1
    flags = option_letters(options)
    if not operands:
        if "f" in flags:
            return 0
        io.err("rm: missing operand\nTry 'rm --help' for more information.\n")
        return 1
    results = [_remove(sh, io, operand, flags) for operand in operands]
    return 0 if all(results) else 1


def _remove(sh: Shell, io: IO, operand: str, flags: set[str]) -> bool:
    host, path = sh.host, sh.path(operand)
    if host.is_file(path):
        try:
            host.remove_file(path)
        except PermissionError:  # unlink(2) under a read-only mount: EROFS, even with -f
            io.err(f"rm: cannot remove '{operand}': Read-only file system\n")
            return False
        if "v" in flags:
            io.out(f"removed '{operand}'\n")
        return True
    if not host.is_dir(path):
        if "f" in flags:
            return True
        io.err(f"rm: cannot remove '{operand}': No such file or directory\n")
        return False
    recursive = bool(flags & {"r", "R"})
    if path == "/" and recursive and "P" not in flags:
        io.err("rm: it is dangerous to operate recursively on '/'\n"
               "rm: use --no-preserve-root to override this failsafe\n")
        return False
    if not recursive:
        if "d" not in flags:
            io.err(f"rm: cannot remove '{operand}': Is a directory\n")
            return False
        if host.list_dir(path):
            io.err(f"rm: cannot remove '{operand}': Directory not empty\n")
            return False
    if not _remove_tree(host, io, operand, path):
        return False
    if "v" in flags:
        io.out(f"removed directory '{operand}'\n")
    return True


def _remove_tree(host: HostState, io: IO, operand: str, path: str) -> bool:
    """rm -r: every entry it cannot unlink is reported, and the directories above it stay."""
    try:
        host.remove_tree(path)
        return True
    except PermissionError:
        pass
    except OSError as error:  # a mount point: its contents went, the directory itself cannot
        io.err(f"rm: cannot remove '{operand}': {error.strerror}\n")
        return False
    ok = True
    prefix = path.rstrip("/") + "/"
    for doomed in sorted(p for p in list(host.files) if p.startswith(prefix)):
        try:
            host.remove_file(doomed)
        except PermissionError:
            shown = operand.rstrip("/") + "/" + doomed[len(prefix):]
            io.err(f"rm: cannot remove '{shown}': Read-only file system\n")
            ok = False
    if ok:
        host.remove_tree(path)
    return ok


@COMMANDS.register("mkdir")
def _cmd_mkdir(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, operands = getopt(argv[1:], "pv", "m", {"parents": "p", "verbose": "v"}, {"mode": "m"})
    except BadOption as error:
        gnu_usage_error(io, "mkdir", error)
        return 1
    if not operands:
        io.err("mkdir: missing operand\nTry 'mkdir --help' for more information.\n")
        return 1
    flags = option_letters(options)
    status = 0
    for operand in operands:
        problem = _mkdir_problem(sh.host, sh.path(operand), parents="p" in flags)
        if problem == "exists-ok":
            continue
        if problem:
            io.err(f"mkdir: cannot create directory '{operand}': {problem}\n")
            status = 1
            continue
        sh.host.make_dir(sh.path(operand))
        if "v" in flags:
            io.out(f"mkdir: created directory '{operand}'\n")
    return status


def _mkdir_problem(host: HostState, path: str, parents: bool) -> str | None:
    ancestor = posixpath.dirname(path)
    while ancestor != "/":
        if host.is_file(ancestor):
            return "Not a directory"
        ancestor = posixpath.dirname(ancestor)
    if host.is_dir(path):
        return "exists-ok" if parents else "File exists"
    if host.is_file(path):
        return "File exists"
    if not parents and not host.is_dir(posixpath.dirname(path)):
        return "No such file or directory"
    return None


@COMMANDS.register("touch")
def _cmd_touch(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, operands = getopt(argv[1:], "acm", "dtr", {"no-create": "c"},
                                   {"date": "d", "reference": "r"})
    except BadOption as error:
        gnu_usage_error(io, "touch", error)
        return 1
    if not operands:
        io.err("touch: missing file operand\nTry 'touch --help' for more information.\n")
        return 1
    status = 0
    for operand in operands:
        path = sh.path(operand)
        if sh.host.exists(path) or "c" in option_letters(options):
            continue
        if not sh.host.is_dir(posixpath.dirname(path)):
            io.err(f"touch: cannot touch '{operand}': No such file or directory\n")
            status = 1
            continue
        try:
            sh.host.write_file(path, "")
        except PermissionError:
            io.err(f"touch: cannot touch '{operand}': Read-only file system\n")
            status = 1
    return status


@COMMANDS.register("cp")
def _cmd_cp(sh: Shell, io: IO, argv: list[str]) -> int:
    return _copy_or_move(sh, io, argv, "cp")


@COMMANDS.register("mv")
def _cmd_mv(sh: Shell, io: IO, argv: list[str]) -> int:
    return _copy_or_move(sh, io, argv, "mv")


def _copy_or_move(sh: Shell, io: IO, argv: list[str], tool: str) -> int:
    try:
        options, operands = getopt(argv[1:], "rRfpavniT", "", {"recursive": "r", "force": "f",
                                                               "archive": "a", "verbose": "v"})
    except BadOption as error:
        gnu_usage_error(io, tool, error)
        return 1
    if len(operands) < 2:
        what = "missing file operand" if not operands else \
            f"missing destination file operand after '{operands[0]}'"
        io.err(f"{tool}: {what}\nTry '{tool} --help' for more information.\n")
        return 1
    *sources, destination = operands
    into_directory = sh.host.is_dir(sh.path(destination))
    if len(sources) > 1 and not into_directory:
        io.err(f"{tool}: target '{destination}' is not a directory\n")
        return 1
    recursive = tool == "mv" or bool(option_letters(options) & {"r", "R", "a"})
    results = [_copy_one(sh, io, tool, source, destination, into_directory, recursive)
               for source in sources]
    return 0 if all(results) else 1


def _copy_one(sh, io, tool, source, destination, into_directory, recursive) -> bool:
    host = sh.host
    source_path = sh.path(source)
    target = posixpath.join(destination, posixpath.basename(source_path)) if into_directory else destination
    target_path = sh.path(target)
    if not host.exists(source_path):
        io.err(f"{tool}: cannot stat '{source}': No such file or directory\n")
        return False
    if host.is_dir(source_path) and not recursive:
        io.err(f"{tool}: -r not specified; omitting directory '{source}'\n")
        return False
    if not host.is_dir(posixpath.dirname(target_path)):
        kind = "regular file" if host.is_file(source_path) else "directory"
        verb = "cannot create" if tool == "cp" else "cannot move"
        io.err(f"{tool}: {verb} {kind} '{target}': No such file or directory\n")
        return False
    try:
        _copy_tree(host, source_path, target_path)
    except PermissionError:
        kind = "regular file" if host.is_file(source_path) else "directory"
        io.err(f"{tool}: cannot create {kind} '{target}': Read-only file system\n")
        return False
    if tool == "mv":
        try:
            host.remove_tree(source_path)
        except PermissionError:
            io.err(f"mv: cannot remove '{source}': Read-only file system\n")
            return False
    return True


def _copy_tree(host: HostState, source: str, target: str) -> None:
    if host.is_file(source):
        host.write_file(target, host.files[source])
        return
    host.make_dir(target)
    prefix = source + "/"
    for path, content in list(host.files.items()):
        if path.startswith(prefix):
            host.write_file(target + "/" + path[len(prefix):], content)
    for directory in list(host.directories):
        if directory.startswith(prefix):
            host.make_dir(target + "/" + directory[len(prefix):])


@COMMANDS.register("ls")
def _cmd_ls(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, operands = getopt(argv[1:], "1aAdlF", "", {"all": "a", "almost-all": "A",
                                                            "directory": "d", "classify": "F"})
    except BadOption as error:
        gnu_usage_error(io, "ls", error)
        return 2
    flags = option_letters(options)
    status = 0
    entries, directories = [], []
    for operand in operands or ["."]:
        path = sh.path(operand)
        if sh.host.is_file(path) or ("d" in flags and sh.host.is_dir(path)):
            entries.append((operand, path))
        elif sh.host.is_dir(path):
            directories.append((operand, path))
        else:
            io.err(f"ls: cannot access '{operand}': No such file or directory\n")
            status = 2
    blocks = []
    if entries:
        blocks.append("".join(_ls_line(sh, name, path, flags) for name, path in sorted(entries)))
    for operand, path in sorted(directories):
        header = f"{operand}:\n" if len(entries) + len(directories) > 1 else ""
        names = _ls_names(sh.host, path, flags)
        total = f"total {4 * len(names)}\n" if "l" in flags else ""
        body = "".join(_ls_line(sh, name, normpath(posixpath.join(path, name)), flags) for name in names)
        blocks.append(header + total + body)
    io.out("\n".join(blocks))
    return status


def _ls_names(host: HostState, path: str, flags: set[str]) -> list[str]:
    names = host.list_dir(path)
    if "a" in flags:
        return [".", "..", *names]
    if "A" in flags:
        return names
    return [name for name in names if not name.startswith(".")]


def _ls_line(sh: Shell, name: str, path: str, flags: set[str]) -> str:
    is_dir = sh.host.is_dir(path)
    shown = name + ("/" if is_dir and "F" in flags else "")
    if "l" not in flags:
        return shown + "\n"
    mode, links = ("drwxr-xr-x", 2) if is_dir else ("-rw-r--r--", 1)
    size = 4096 if is_dir else len((sh.host.read_file(path) or "").encode())
    return f"{mode} {links} root root {size:>5} {sh.now:%b} {sh.now.day:2d} {sh.now:%H:%M} {shown}\n"
