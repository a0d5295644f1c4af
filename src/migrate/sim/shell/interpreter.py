"""The shell itself: expansion, redirections, and-or lists, ``set -e`` and dispatch.

``run_shell`` is the entry point.  The commands a shell can run come from the
command modules, whose tables are merged below.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import posixpath
import re
import shlex
from typing import Callable

from ..host import HostState, normpath
from . import basics, builtins, files, http, ip, ipset, iptables, nft
from .common import NULL, STDERR, STDOUT, CommandFunction, ExitShell, IO, StillRunning
from .lexer import Segment, ShellSyntaxError, Unsupported, Word
from .parser import AndOrList, Redirect, SimpleCommand, parse_script
from .result import ShellResult


class _ExpansionError(Exception):
    """A parameter expansion failed; a non-interactive shell then exits 2."""


class _RedirectError(Exception):
    """A redirection could not be opened; the command does not run."""


_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SHELL_NAMES = frozenset({"sh", "ash", "bash", "dash"})
_PARAMETER = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|([0-9?#$!@*-]))")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")


def _merge(*tables: dict[str, CommandFunction]) -> dict[str, CommandFunction]:
    merged: dict[str, CommandFunction] = {}
    for table in tables:
        for name, function in table.items():
            if name in merged:
                raise RuntimeError(f"two commands are called {name!r}")
            merged[name] = function
    return merged


_BUILTINS = _merge(builtins.BUILTINS)
_COMMANDS = _merge(builtins.COMMANDS, basics.COMMANDS, files.COMMANDS, ip.COMMANDS, iptables.COMMANDS,
                   ipset.COMMANDS, nft.COMMANDS, http.COMMANDS)


def _as_datetime(now) -> _dt.datetime:
    """The simulated wall clock; epoch 0 when the caller gives none."""
    if now is None:
        return _dt.datetime.fromtimestamp(0, _dt.timezone.utc)
    if isinstance(now, _dt.datetime):
        return now.astimezone(_dt.timezone.utc) if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)
    return _dt.datetime.fromtimestamp(float(now), _dt.timezone.utc)


class Shell:
    """One ``sh`` process: variables, options, cwd and the commands it runs."""

    def __init__(self, host: HostState, result: ShellResult, *, http_get, now, env):
        self.host = host
        self.result = result
        self.http_get = http_get
        self.now = _as_datetime(now)
        self.vars = {"HOME": "/root", "PATH": _DEFAULT_PATH, "HOSTNAME": host.node_name}
        self.vars.update({str(k): str(v) for k, v in (env or {}).items()})
        self.cwd = "/"
        self.name = "sh"  # "bash" when run as bash, whose messages differ
        self.arg0 = "sh"
        self.positional: list[str] = []
        self.errexit = self.nounset = self.xtrace = False
        self.last_status = 0
        self.base_fds: dict = {1: STDOUT, 2: STDERR}

    # ---------------------------------------------------------- plumbing

    def emit(self, sink, text: str) -> None:
        if not text or sink == NULL:
            return
        if sink in (STDOUT, STDERR):
            self.result.write(sink, text)
        else:
            path = sink[1]
            self.host.files[path] = self.host.files.get(path, "") + text

    def shell_error(self, message: str) -> None:
        self.emit(self.base_fds.get(2, NULL), f"{self.name}: {message}\n")

    def path(self, path: str) -> str:
        return normpath(path if path.startswith("/") else posixpath.join(self.cwd, path))

    def http(self, url: str, timeout: float) -> tuple[bool, str]:
        if self.http_get is None:
            return False, "network is unreachable"
        ok, body = self.http_get(url, timeout)
        return bool(ok), body or ""

    # ---------------------------------------------------------- entry points

    def run_argv(self, argv: list[str]) -> int:
        """Run ``sh [-eux] [-c SCRIPT [NAME [ARGS...]] | FILE [ARGS...]]``."""
        self.name = "bash" if posixpath.basename(argv[0]) == "bash" else "sh"  # ash, dash: "sh"
        args = list(argv[1:])
        command_mode = self._shell_options(args)
        if command_mode is None:
            return 2
        if command_mode:
            if not args:
                self.shell_error("-c requires an argument")
                return 2
            script = args[0]
            self.arg0 = args[1] if len(args) > 1 else argv[0]
            self.positional = args[2:]
        elif args:
            script = self.host.read_file(self.path(args[0]))
            if script is None:
                self.shell_error(f"can't open '{args[0]}': No such file or directory")
                return 127
            self.arg0, self.positional = args[0], args[1:]
        else:
            script = ""  # sh reads its standard input, which is empty
        return self.run_script(script)

    def _shell_options(self, args: list[str]) -> bool | None:
        """Consume sh's options from args; True for -c, None after a bad option."""
        command_mode = False
        while args and len(args[0]) > 1 and args[0][0] in "-+" and args[0] != "--":
            option = args.pop(0)
            enable = option[0] == "-"
            if option[1:] == "o":
                if not args or not self.set_long_option(args.pop(0), enable):
                    self.shell_error(f"{option}: invalid option")
                    return None
                continue
            for letter in option[1:]:
                if letter == "c":
                    command_mode = True
                elif letter in "eux":
                    self.set_flag(letter, enable)
                elif letter not in "ilsv":  # interactive/login/stdin/verbose: no effect here
                    self.shell_error(f"-{letter}: invalid option")
                    return None
        if args and args[0] == "--":
            args.pop(0)
        return command_mode

    def exec_direct(self, argv: list[str]) -> int:
        """Start a container whose command is not a shell: no expansion, no globs."""
        io = IO(self, self.base_fds)
        command = self.find_command(argv[0])
        if command is None:
            # The runtime fails to start it (kubelet reports StartError, exit 128).
            reason = (f"stat {argv[0]}: no such file or directory" if "/" in argv[0]
                      else "executable file not found in $PATH")
            io.err(f'exec: "{argv[0]}": {reason}\n')
            self.result.start_error = f'exec: "{argv[0]}": {reason}'
            return 128
        return self._run(command, io, argv)

    def run_script(self, text: str) -> int:
        try:
            lists = parse_script(text)
        except Unsupported as error:
            self.shell_error(f"unsupported by the simulated shell: {error}")
            return 2
        except ShellSyntaxError as error:
            self.shell_error(f"syntax error: {error}")
            return 2
        try:
            for and_or in lists:
                self.run_and_or(and_or)
        except ExitShell as stop:
            return stop.code
        return self.last_status

    # ---------------------------------------------------------- execution

    def run_and_or(self, and_or: AndOrList) -> None:
        status = self.run_command(and_or.commands[0])
        self.last_status = status
        last_run = 0
        for position, (operator, command) in enumerate(zip(and_or.operators, and_or.commands[1:]), 1):
            if (operator == "&&") == (status == 0):
                status = self.run_command(command)
                self.last_status = status
                last_run = position
        # POSIX: set -e ignores failures of every command of an and-or list but the last.
        ends_list = last_run == len(and_or.commands) - 1
        if status != 0 and self.errexit and ends_list and not and_or.commands[last_run].negate:
            raise ExitShell(status)

    def run_command(self, command: SimpleCommand) -> int:
        try:
            assignments, argv = self._expand_command(command)
            io = self._open_redirects(command.redirects)
        except _ExpansionError as error:
            self.shell_error(str(error))
            raise ExitShell(2)
        except _RedirectError as error:
            self.shell_error(str(error))
            return 1
        if self.xtrace:
            traced = [f"{name}={value}" for name, value in assignments.items()] + argv
            self.emit(self.base_fds.get(2, NULL), "+ " + " ".join(map(shlex.quote, traced)) + "\n")
        if argv:
            status = self.dispatch(argv, io, command.line)
        else:
            self.vars.update(assignments)
            status = 0
        if command.negate:
            return 0 if status else 1
        return status

    def dispatch(self, argv: list[str], io: IO, line: int = 1) -> int:
        builtin = self.find_builtin(argv[0])
        if builtin is not None:
            return builtin(self, io, argv)
        command = self.find_command(argv[0])
        if command is None:
            if self.name == "bash":
                io.err(f"bash: line {line}: {argv[0]}: command not found\n")
            else:
                io.err(f"{self.name}: {argv[0]}: not found\n")
            return 127
        return self._run(command, io, argv)

    def _run(self, command: CommandFunction, io: IO, argv: list[str]) -> int:
        try:
            return command(self, io, argv)
        except PermissionError as error:  # a write no command-specific message covers
            where = f"{error.filename}: " if getattr(error, "filename", None) else ""
            io.err(f"{posixpath.basename(argv[0])}: {where}Read-only file system\n")
            return 1

    @staticmethod
    def find_builtin(name: str) -> CommandFunction | None:
        return _BUILTINS.get(name)

    def find_command(self, name: str) -> CommandFunction | None:
        """The command a name runs; a path runs the command of its last component. None for a command
        the container's image does not ship (container.absent_commands), as for any unknown one."""
        base = posixpath.basename(name) if "/" in name else name
        if base in getattr(self.host, "absent_commands", ()):
            return None
        return _COMMANDS.get(base)

    def child(self, io: IO) -> Shell:
        """A new ``sh`` process started by this one: same host, environment, cwd and streams."""
        child = Shell(self.host, self.result, http_get=self.http_get, now=self.now, env=self.vars)
        child.base_fds = dict(io.fds)
        child.cwd = self.cwd
        return child

    def set_flag(self, letter: str, enable: bool) -> None:
        attribute = {"e": "errexit", "u": "nounset", "x": "xtrace"}[letter]
        setattr(self, attribute, enable)

    def set_long_option(self, name: str, enable: bool) -> bool:
        if name in ("errexit", "nounset", "xtrace"):
            setattr(self, name, enable)
            return True
        return name == "pipefail"  # accepted; pipelines are refused anyway

    # ---------------------------------------------------------- redirections

    def _open_redirects(self, redirects: list[Redirect]) -> IO:
        io = IO(self, self.base_fds)
        for redirect in redirects:
            target = self.expand_word(redirect.target, split=False)[0]
            if redirect.op in (">", ">|", ">>"):
                io.fds[redirect.fd] = self._open_for_writing(io, target, append=redirect.op == ">>")
            elif redirect.op in (">&", "<&"):
                io.fds[redirect.fd] = self._duplicate(io, target)
            else:  # "<"
                content = self.host.read_file(self.path(target))
                if content is None:
                    raise _RedirectError(f"can't open '{target}': No such file or directory")
                io.stdin = content
        return io

    def _duplicate(self, io: IO, target: str):
        if target == "-":
            return NULL
        if not target.isdigit() or int(target) not in io.fds:
            raise _RedirectError(f"{target}: bad file descriptor")
        return io.fds[int(target)]

    def _open_for_writing(self, io: IO, target: str, append: bool):
        if target == "/dev/null":
            return NULL
        if target == "/dev/stdout":
            return io.fds.get(1, NULL)
        if target == "/dev/stderr":
            return io.fds.get(2, NULL)
        path = self.path(target)
        if self.host.is_dir(path):
            raise _RedirectError(f"can't create {target}: Is a directory")
        if not self.host.is_dir(posixpath.dirname(path)):
            raise _RedirectError(f"can't create {target}: nonexistent directory")
        if not append or not self.host.is_file(path):
            try:
                self.host.write_file(path, "")
            except PermissionError:
                raise _RedirectError(f"can't create {target}: Read-only file system")
        return ("file", path)

    # ---------------------------------------------------------- expansion

    def _expand_command(self, command: SimpleCommand) -> tuple[dict[str, str], list[str]]:
        words = list(command.words)
        assignments: dict[str, str] = {}
        while words and _assignment_name(words[0]):
            name, value = _split_assignment(words.pop(0))
            assignments[name] = self.expand_word(value, split=False)[0]
        argv: list[str] = []
        for word in words:
            argv.extend(self.expand_word(word))
        return assignments, argv

    def expand_word(self, word: Word, split: bool = True) -> list[str]:
        """Parameter expansion, then (unless split=False) field splitting and globbing."""
        pieces: list[tuple[str, bool, bool]] = []  # (text, quoted, came from an expansion)
        for segment in word.segments:
            if segment.mode == "literal":
                pieces.append((segment.text, True, False))
                continue
            quoted = segment.mode == "double"
            for text, expanded in self._expand_parameters(segment.text):
                pieces.append((text, quoted, expanded))
        if not split:
            return ["".join(text for text, _, _ in pieces)]
        fields = []
        for field_pieces in _split_fields(pieces):
            fields.extend(self._glob_field(field_pieces))
        return fields

    def _expand_parameters(self, text: str) -> list[tuple[str, bool]]:
        pieces = []
        position = 0
        for match in _PARAMETER.finditer(text):
            if match.start() > position:
                pieces.append((text[position:match.start()], False))
            if match.group(1) is None:
                pieces.append((self._value(match.group(2) or match.group(3)), True))
            else:
                pieces.append((self._braced(match.group(1)), True))
            position = match.end()
        if position < len(text):
            pieces.append((text[position:], False))
        return pieces

    def _braced(self, inner: str) -> str:
        length = re.fullmatch(r"#([A-Za-z_][A-Za-z0-9_]*|[0-9]+)", inner)
        if length:
            return str(len(self._value(length.group(1))))
        parts = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#$!@*-])(?:(:?[-=+?])(.*))?", inner, re.S)
        if not parts:
            raise _ExpansionError("syntax error: bad substitution")
        name, operator, word = parts.groups()
        if operator is None:
            return self._value(name)
        current = self._raw(name)
        missing = current is None or (operator.startswith(":") and current == "")
        kind = operator[-1]
        if kind == "-":
            return self._expand_default(word) if missing else current
        if kind == "=":
            if missing:
                self.vars[name] = self._expand_default(word)
                return self.vars[name]
            return current
        if kind == "+":
            return "" if missing else self._expand_default(word)
        if missing:  # "?"
            raise _ExpansionError(f"{name}: {self._expand_default(word) or 'parameter not set'}")
        return current

    def _expand_default(self, word: str) -> str:
        if len(word) >= 2 and word[0] == word[-1] == "'":
            return word[1:-1]
        if len(word) >= 2 and word[0] == word[-1] == '"':
            word = word[1:-1]
        return "".join(text for text, _ in self._expand_parameters(word))

    def _raw(self, name: str) -> str | None:
        specials = {
            "?": lambda: str(self.last_status),
            "$": lambda: "1",  # sh is the container's first process
            "!": lambda: "",
            "#": lambda: str(len(self.positional)),
            "@": lambda: " ".join(self.positional),
            "*": lambda: " ".join(self.positional),
            "-": lambda: "".join(flag for flag, on in
                                 (("e", self.errexit), ("u", self.nounset), ("x", self.xtrace)) if on),
        }
        if name in specials:
            return specials[name]()
        if name.isdigit():
            index = int(name)
            if index == 0:
                return self.arg0
            return self.positional[index - 1] if index <= len(self.positional) else None
        return self.vars.get(name)

    def _value(self, name: str) -> str:
        value = self._raw(name)
        if value is None:
            if self.nounset:
                raise _ExpansionError(f"{name}: parameter not set")
            return ""
        return value

    def _glob_field(self, pieces: list[tuple[str, bool]]) -> list[str]:
        text = "".join(piece for piece, _ in pieces)
        if not any(not quoted and any(c in piece for c in "*?[") for piece, quoted in pieces):
            return [text]
        pattern = "".join(piece if not quoted else _escape_glob(piece) for piece, quoted in pieces)
        return self._glob(pattern) or [text]  # an unmatched pattern stays literal

    def _glob(self, pattern: str) -> list[str]:
        absolute = pattern.startswith("/")
        candidates = ["/" if absolute else self.cwd]
        for part in (p for p in pattern.split("/") if p):
            candidates = [match for base in candidates for match in self._glob_component(base, part)]
        if absolute:
            return sorted(candidates)
        prefix = self.cwd.rstrip("/") + "/"
        return sorted(path[len(prefix):] if path.startswith(prefix) else path for path in candidates)

    def _glob_component(self, base: str, part: str) -> list[str]:
        if not any(c in part for c in "*?["):
            path = posixpath.join(base, part)
            return [path] if self.host.exists(path) else []
        if not self.host.is_dir(base):
            return []
        return [posixpath.join(base, name) for name in self.host.list_dir(base)
                if fnmatch.fnmatchcase(name, part)
                and (not name.startswith(".") or part.startswith("."))]  # globs skip dotfiles


def _assignment_name(word: Word) -> str | None:
    first = word.segments[0]
    if first.mode != "plain":
        return None
    match = _ASSIGNMENT.match(first.text)
    return match.group(1) if match else None


def _split_assignment(word: Word) -> tuple[str, Word]:
    first = word.segments[0]
    name, _, rest = first.text.partition("=")
    segments = ([Segment(rest, "plain")] if rest else []) + word.segments[1:]
    return name, Word(segments or [Segment("", "literal")], word.line)


def _split_fields(pieces: list[tuple[str, bool, bool]]) -> list[list[tuple[str, bool]]]:
    """Split unquoted expansion results on blanks, as sh does with the default IFS."""
    fields: list[list[tuple[str, bool]]] = [[]]
    for text, quoted, expanded in pieces:
        if quoted or not expanded:
            fields[-1].append((text, quoted))
            continue
        for index, part in enumerate(re.split(r"[ \t\n]+", text)):
            if index:
                fields.append([])
            if part:
                fields[-1].append((part, False))
    return [f for f in fields if any(quoted for _, quoted in f) or any(text for text, _ in f)]


def _escape_glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def run_shell(host: HostState, argv_or_script: list[str] | str, *,
              http_get: Callable[[str, float], tuple[bool, str]] | None = None,
              now=None, env: dict[str, str] | None = None) -> ShellResult:
    """Run a container's command + args (or a script string) against a host.

    ``now`` is the simulated wall clock (epoch seconds or a datetime) used by
    ``date`` and ``iptables-save``; ``env`` holds the container's environment.
    Nothing sleeps for real: ``sleep`` adds to ``ShellResult.sleep_seconds``.
    """
    result = ShellResult()
    argv = ["sh", "-c", argv_or_script] if isinstance(argv_or_script, str) else [str(a) for a in argv_or_script]
    if not argv:
        raise ValueError("a container needs a command")
    if posixpath.basename(argv[0]) == "busybox" and len(argv) > 1:
        argv = argv[1:]
    shell = Shell(host, result, http_get=http_get, now=now, env=env)
    try:
        if posixpath.basename(argv[0]) in _SHELL_NAMES:
            result.exit_code = shell.run_argv(argv)
        else:
            result.exit_code = shell.exec_direct(argv)
    except StillRunning:
        result.still_running = True
        result.exit_code = 0
    return result
