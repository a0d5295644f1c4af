"""Splitting a script into words, operators and redirections, keeping quoting.

Command substitution, arithmetic and here-documents are refused here, up
front, with ``Unsupported`` instead of being half-interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShellSyntaxError(Exception):
    """The script does not parse; sh says so and exits 2."""


class Unsupported(ShellSyntaxError):
    """Valid shell that the simulator does not interpret: refusing beats pretending."""


@dataclass(frozen=True)
class Segment:
    text: str
    mode: str  # "plain" (unquoted), "double" (inside "..."), "literal" ('...' or \x)


@dataclass
class Word:
    segments: list[Segment]
    line: int

    def plain_text(self) -> str | None:
        """The text when no part of the word is quoted."""
        if all(segment.mode == "plain" for segment in self.segments):
            return "".join(segment.text for segment in self.segments)
        return None


@dataclass
class Op:
    text: str
    line: int


@dataclass
class RedirectToken:
    fd: int | None
    op: str
    line: int


_OPERATORS = ("&&", "||", ";;", ";", "&", "|", "(", ")")
_REDIRECT_OPERATORS = (">>", ">&", ">|", "<<", "<&", "<>", ">", "<")


class Lexer:
    """Splits a script into words, operators and redirections, keeping quoting."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.tokens: list[Word | Op | RedirectToken] = []
        self.segments: list[Segment] = []
        self.plain: list[str] = []
        self.word_line = 1

    def tokenize(self) -> list[Word | Op | RedirectToken]:
        while self.pos < len(self.text):
            self._step(self.text[self.pos])
        self._end_word()
        return self.tokens

    def _step(self, char: str) -> None:
        if char in " \t":
            self._end_word()
            self.pos += 1
        elif char == "\n":
            self._end_word()
            self.tokens.append(Op("\n", self.line))
            self.line += 1
            self.pos += 1
        elif char == "#" and not self._in_word():
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end
        elif char == "\\":
            self._backslash()
        elif char == "'":
            self._single_quoted()
        elif char == '"':
            self._double_quoted()
        elif char == "`":
            raise Unsupported("command substitution (`...`)")
        elif char == "$":
            self._start_word()
            self._dollar(self.plain)
        elif char in "<>":
            self._redirection()
        elif char in ";&|()":
            self._end_word()
            operator = next(op for op in _OPERATORS if self.text.startswith(op, self.pos))
            self.tokens.append(Op(operator, self.line))
            self.pos += len(operator)
        else:
            self._start_word()
            self.plain.append(char)
            self.pos += 1

    def _in_word(self) -> bool:
        return bool(self.plain or self.segments)

    def _start_word(self) -> None:
        if not self._in_word():
            self.word_line = self.line

    def _flush_plain(self) -> None:
        if self.plain:
            self.segments.append(Segment("".join(self.plain), "plain"))
            self.plain = []

    def _end_word(self) -> None:
        self._flush_plain()
        if self.segments:
            self.tokens.append(Word(self.segments, self.word_line))
            self.segments = []

    def _backslash(self) -> None:
        escaped = self.text[self.pos + 1:self.pos + 2]
        self.pos += 2
        if escaped == "\n":  # line continuation
            self.line += 1
            return
        self._start_word()
        self._flush_plain()
        self.segments.append(Segment(escaped, "literal"))

    def _single_quoted(self) -> None:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ShellSyntaxError("unterminated quoted string")
        self._start_word()
        self._flush_plain()
        body = self.text[self.pos + 1:end]
        self.segments.append(Segment(body, "literal"))
        self.line += body.count("\n")
        self.pos = end + 1

    def _double_quoted(self) -> None:
        self._start_word()
        self._flush_plain()
        buffer: list[str] = []
        self.pos += 1
        while True:
            if self.pos >= len(self.text):
                raise ShellSyntaxError("unterminated quoted string")
            char = self.text[self.pos]
            if char == '"':
                break
            if char == "\\" and self.text[self.pos + 1:self.pos + 2] in ("$", "`", '"', "\\", "\n"):
                self._double_quoted_escape(buffer)
            elif char == "`":
                raise Unsupported("command substitution (`...`)")
            elif char == "$":
                self._dollar(buffer)
            else:
                self.line += char == "\n"
                buffer.append(char)
                self.pos += 1
        self.segments.append(Segment("".join(buffer), "double"))
        self.pos += 1

    def _double_quoted_escape(self, buffer: list[str]) -> None:
        escaped = self.text[self.pos + 1]
        self.pos += 2
        if escaped == "\n":
            self.line += 1
            return
        self.segments.append(Segment("".join(buffer), "double"))
        buffer.clear()
        self.segments.append(Segment(escaped, "literal"))

    def _dollar(self, buffer: list[str]) -> None:
        if self.text.startswith("$((", self.pos):
            raise Unsupported("arithmetic expansion $((...))")
        if self.text.startswith("$(", self.pos):
            raise Unsupported("command substitution $(...)")
        if self.text.startswith("${", self.pos):
            end = self.text.find("}", self.pos)
            if end < 0:
                raise ShellSyntaxError("bad substitution")
            buffer.append(self.text[self.pos:end + 1])
            self.pos = end + 1
            return
        buffer.append("$")
        self.pos += 1

    def _redirection(self) -> None:
        pending = "".join(self.plain)
        fd = None
        if pending.isdigit() and not self.segments:  # "2>" names a file descriptor
            fd = int(pending)
            self.plain = []
        else:
            self._end_word()
        operator = next(op for op in _REDIRECT_OPERATORS if self.text.startswith(op, self.pos))
        if operator in ("<<", "<>"):
            raise Unsupported(f"the {operator} redirection (here-documents)")
        self.tokens.append(RedirectToken(fd, operator, self.line))
        self.pos += len(operator)
