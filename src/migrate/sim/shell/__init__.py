"""The shell that a simulated node's pods run against its host.

``run_shell`` interprets the ``command`` + ``args`` of a privileged,
hostNetwork container against a ``HostState``, with the exit codes and
messages of the real tools, so code that drives a migration meets the
failures it would meet on a real node.

Which real tool each command imitates:

* the shell is busybox ``ash``: ``sh: NAME: not found`` (exit 127), syntax
  errors exit 2; a ``bash`` argv gets bash's ``line N: NAME: command not
  found``.  Pipelines, ``&``, subshells, ``$(...)``, here-documents and
  compound commands (``if``/``for``/``while``/``case``) are refused up front
  with exit 2 instead of being half-interpreted (``lexer``, ``parser``,
  ``interpreter``, ``builtins``).
* ``rm``, ``ls``, ``cat``, ``mkdir``, ``cp``, ``mv``, ``touch``, ``tail``,
  ``sleep`` and ``date`` are GNU coreutils (``files``, ``text``).
* ``ip`` is iproute2 (``ip``, ``ip_link``, ``ip_addr``, ``ip_route``).
* ``iptables``/``ip6tables`` are iptables-nft v1.8.7 (``iptables``).
* ``nft`` is nftables 1.0 (``nft``); ``ipset`` is ipset v7.11 (``ipset``).
* ``wget`` is busybox wget and ``curl`` is curl 8 (``http``).
"""

from __future__ import annotations

from .interpreter import run_shell
from .result import ShellResult

__all__ = ["ShellResult", "run_shell"]
