"""``wget`` (busybox) and ``curl`` (curl 8) over the caller's ``http_get``.

``http_get(url, timeout_seconds)`` returns ``(ok, body)``.  When ``ok`` is
false the body says why: a leading status code (``"503 Service
Unavailable"``) is an HTTP error; text mentioning "refused", "unreachable" or
"resolve" is that network error; anything else is a timeout.  Without
``http_get`` the network is unreachable.

busybox wget exits 1 for every failure (``wget: download timed out``,
``wget: can't connect to remote host (IP): Connection refused``).  curl exits
28 on a timeout, 7 when the connection is refused or the network unreachable,
6 when the name does not resolve, 22 for an HTTP error under ``-f``.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .common import IO, BadOption, CommandTable, backslash_escapes, getopt, last_value, option_letters

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()


_HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                 504: "Gateway Timeout"}


def _http_failure(body: str) -> tuple[str, str]:
    """Why an http_get failed: ("http", "503 Service Unavailable"), ("refused", ""), ..."""
    text = body.strip()
    status = re.match(r"(?:HTTP(?:/[\d.]+)?\s+)?([1-5]\d\d)\b\s*(.*)", text)
    if status:
        code = int(status.group(1))
        return "http", f"{code} {status.group(2) or _HTTP_REASONS.get(code, '')}".strip()
    lowered = text.lower()
    for kind, words in (("refused", ("refused",)), ("unreachable", ("unreachable",)),
                        ("dns", ("resolve", "bad address", "unknown host", "nxdomain"))):
        if any(word in lowered for word in words):
            return kind, ""
    return "timeout", ""


def _url_parts(url: str) -> tuple[str, int, str]:
    """Host, port and path of a URL; a bare "host/path" means http."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    default_port = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    return parts.hostname or "", port, parts.path


@COMMANDS.register("wget")
def _cmd_wget(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, urls = getopt(argv[1:], "cqS", "OoPYUTtn", {
            "quiet": "q", "spider": "s", "continue": "c", "server-response": "S",
            "no-check-certificate": "k", "no-verbose": "v", "no-cache": "v"},
            {"output-document": "O", "output-file": "o", "directory-prefix": "P", "timeout": "T",
             "header": "H", "user-agent": "U", "tries": "t", "post-data": "D", "proxy": "Y"})
    except BadOption as error:
        io.err(f"wget: unrecognized option '{error.option}'\n" if error.option.startswith("--")
               else f"wget: invalid option -- '{error.option[1:]}'\n")
        io.err("BusyBox wget: see 'wget --help'\n")
        return 1
    if not urls:
        io.err("wget: missing URL\n")
        return 1
    for url in urls:
        status = _wget_one(sh, io, url, options)
        if status:
            return status
    return 0


def _wget_one(sh: Shell, io: IO, url: str, options: list[tuple[str, str]]) -> int:
    flags = option_letters(options)
    quiet = "q" in flags
    host, port, path = _url_parts(url)
    if not quiet:
        io.err(f"Connecting to {host}:{port} ({host}:{port})\n")
    ok, body = sh.http(url, float(last_value(options, "T", "900")))  # busybox waits 900 s by default
    if not ok:
        io.err(_wget_failure_message(host, body))
        return 1
    if "s" in flags:
        if not quiet:
            io.err("remote file exists\n")
        return 0
    output = last_value(options, "O")
    if output == "-":
        if not quiet:
            io.err("writing to stdout\n")
        io.out(body)
        if not quiet:
            io.err("written to stdout\n")
        return 0
    name = output or posixpath.basename(path) or "index.html"
    target = sh.path(name if output else posixpath.join(last_value(options, "P", "."), name))
    if not sh.host.is_dir(posixpath.dirname(target)):
        io.err(f"wget: can't open '{name}': No such file or directory\n")
        return 1
    if not quiet:
        io.err(f"saving to '{name}'\n")
    sh.host.write_file(target, body)
    if not quiet:
        io.err(f"'{name}' saved\n")
    return 0


def _wget_failure_message(host: str, body: str) -> str:
    kind, detail = _http_failure(body)
    if kind == "http":
        return f"wget: server returned error: HTTP/1.1 {detail}\n"
    if kind == "refused":
        return f"wget: can't connect to remote host ({host}): Connection refused\n"
    if kind == "unreachable":
        return f"wget: can't connect to remote host ({host}): Network is unreachable\n"
    if kind == "dns":
        return f"wget: bad address '{host}'\n"
    return "wget: download timed out\n"


_CURL_PROGRESS_HEADER = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                         "                                 Dload  Upload   Total   Spent    Left  Speed\n")


@COMMANDS.register("curl")
def _cmd_curl(sh: Shell, io: IO, argv: list[str]) -> int:
    try:
        options, urls = getopt(argv[1:], "sSfkLvIiNq#", "omHXwdAeuxr", {
            "silent": "s", "show-error": "S", "fail": "f", "fail-with-body": "f", "insecure": "k",
            "location": "L", "verbose": "v", "include": "i", "head": "I", "no-buffer": "N",
            "no-progress-meter": "P", "compressed": "z", "http1.1": "z", "http2": "z"},
            {"output": "o", "max-time": "m", "connect-timeout": "C", "header": "H", "request": "X",
             "write-out": "w", "data": "d", "user-agent": "A", "user": "u", "retry": "R",
             "retry-delay": "R", "retry-max-time": "R", "cacert": "R", "cert": "R", "key": "R",
             "resolve": "R", "proxy": "x", "range": "r"})
    except BadOption as error:
        io.err(f"curl: option {error.option}: is unknown\n"
               "curl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    if not urls:
        io.err("curl: no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    status = 0
    for url in urls:
        status = _curl_one(sh, io, url, options)
    return status


def _curl_one(sh: Shell, io: IO, url: str, options: list[tuple[str, str]]) -> int:
    flags = option_letters(options)
    silent = "s" in flags
    show_errors = not silent or "S" in flags
    show_meter = not silent and "P" not in flags
    max_time = last_value(options, "m")
    connect_timeout = last_value(options, "C")
    limits = [float(value) for value in (max_time, connect_timeout) if value is not None]
    timeout = min(limits) if limits else 300.0  # curl's default connect timeout
    ok, body = sh.http(url, timeout)
    if show_meter:
        io.err(_CURL_PROGRESS_HEADER)
    if ok:
        if show_meter:
            size = len(body.encode())
            io.err(f"\r100 {size:>5}  100 {size:>5}    0     0      0      0 --:--:-- --:--:-- --:--:--     0\n")
        _curl_output(sh, io, options, body, "200")
        return 0
    if show_meter:
        io.err("\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0\n")
    code, message, http_code = _curl_failure(url, body, timeout, max_time is not None and
                                             (connect_timeout is None or float(max_time) <= float(connect_timeout)),
                                             fail="f" in flags)
    if code == 0:  # an HTTP error without -f: curl prints the error page and succeeds
        _curl_output(sh, io, options, message, http_code)
        return 0
    if show_errors:
        io.err(f"curl: ({code}) {message}\n")
    if last_value(options, "w") is not None:
        io.out(_curl_write_out(last_value(options, "w"), http_code))
    return code


def _curl_failure(url: str, body: str, timeout: float, overall_limit: bool, fail: bool) -> tuple[int, str, str]:
    host, port, _ = _url_parts(url)
    kind, detail = _http_failure(body)
    if kind == "http":
        status = detail.split()[0]
        if fail:
            return 22, f"The requested URL returned error: {status}", status
        return 0, detail + "\n", status
    if kind in ("refused", "unreachable"):
        return 7, f"Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server", "000"
    if kind == "dns":
        return 6, f"Could not resolve host: {host}", "000"
    elapsed = int(timeout * 1000) + 1
    if overall_limit:
        return 28, f"Connection timed out after {elapsed} milliseconds", "000"
    return 28, f"Failed to connect to {host} port {port} after {elapsed} ms: Timeout was reached", "000"


def _curl_output(sh: Shell, io: IO, options: list[tuple[str, str]], body: str, http_code: str) -> None:
    output = last_value(options, "o")
    if output and output != "-":
        sh.host.write_file(sh.path(output), body)
    else:
        io.out(body)
    if last_value(options, "w") is not None:
        io.out(_curl_write_out(last_value(options, "w"), http_code))


def _curl_write_out(template: str, http_code: str) -> str:
    return backslash_escapes(template.replace("%{http_code}", http_code)
                             .replace("%{response_code}", http_code))[0]
