"""Turning tokens into and-or lists of simple commands.

Pipelines, ``&``, subshells and compound commands (``if``/``for``/``while``/
``case``) raise ``Unsupported``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexer import Lexer, Op, RedirectToken, ShellSyntaxError, Unsupported, Word


@dataclass
class Redirect:
    fd: int
    op: str
    target: Word


@dataclass
class SimpleCommand:
    words: list[Word]
    redirects: list[Redirect]
    negate: bool
    line: int


@dataclass
class AndOrList:
    commands: list[SimpleCommand]
    operators: list[str]  # "&&" or "||" between consecutive commands


_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while",
                       "until", "for", "in", "function", "select", "{", "}", "[[", "]]", "time"})


class Parser:
    """Turns tokens into and-or lists of simple commands."""

    def __init__(self, tokens: list):
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> list[AndOrList]:
        lists = []
        while True:
            self._skip_newlines()
            if self.pos >= len(self.tokens):
                return lists
            lists.append(self._and_or())
            self._separator()

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _peek_operator(self) -> str | None:
        token = self._peek()
        return token.text if isinstance(token, Op) else None

    def _skip_newlines(self) -> None:
        while self._peek_operator() == "\n":
            self.pos += 1

    def _separator(self) -> None:
        operator = self._peek_operator()
        if operator is None:
            return
        self.pos += 1
        if operator in (";", "\n"):
            return
        if operator == "|":
            raise Unsupported("pipelines (|)")
        if operator == "&":
            raise Unsupported("background jobs (&)")
        if operator == ";;":
            raise Unsupported("case statements (;;)")
        raise Unsupported(f"subshells and functions ({operator})")

    def _and_or(self) -> AndOrList:
        commands = [self._command()]
        operators = []
        while self._peek_operator() in ("&&", "||"):
            operators.append(self.tokens[self.pos].text)
            self.pos += 1
            self._skip_newlines()
            commands.append(self._command())
        return AndOrList(commands, operators)

    def _command(self) -> SimpleCommand:
        words: list[Word] = []
        redirects: list[Redirect] = []
        negate = False
        first = self._peek()
        line = first.line if first is not None else 1
        while (token := self._peek()) is not None and not isinstance(token, Op):
            self.pos += 1
            if isinstance(token, RedirectToken):
                redirects.append(self._redirect(token))
                continue
            if not words:
                text = token.plain_text()
                if text == "!" and not negate:
                    negate = True
                    continue
                if text in _KEYWORDS:
                    raise Unsupported(f'compound commands ("{text}")')
            words.append(token)
        if not words and not redirects:
            if self._peek_operator() == "(":
                raise Unsupported("subshells ( ... )")
            raise ShellSyntaxError(f'unexpected {self._describe(self._peek())}')
        return SimpleCommand(words, redirects, negate, line)

    def _redirect(self, token: RedirectToken) -> Redirect:
        target = self._peek()
        if not isinstance(target, Word):
            raise ShellSyntaxError(f"unexpected {self._describe(target)}")
        self.pos += 1
        default_fd = 0 if token.op.startswith("<") else 1
        return Redirect(default_fd if token.fd is None else token.fd, token.op, target)

    @staticmethod
    def _describe(token) -> str:
        if token is None:
            return "end of file"
        if isinstance(token, Op):
            return "newline" if token.text == "\n" else f'"{token.text}"'
        return "redirection"


def parse_script(text: str) -> list[AndOrList]:
    return Parser(Lexer(text).tokenize()).parse()
