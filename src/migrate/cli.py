"""Command line: parse, call the core, render. Nothing here decides anything."""
from __future__ import annotations

import os
import sys
import traceback

import click
from rich.markup import escape

from . import __version__
from .console import err_console
from .apply_cli import apply, resume, rollback, status
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, UserError
from .plan_cli import plan
from .preflight_cli import preflight
from .show_cli import show
from .demo_cli import demo
from .sim_cli import sim
from .snapshot_cli import snapshot
from .unlock_cli import unlock
from .verify_cli import verify


def _usage_line(exc: click.UsageError) -> None:
    """Click's usage errors as one line (what is wrong; where the help is) and exit 2."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        exc.show()  # a group called bare: its help is the answer
        sys.exit(exc.exit_code)
    command = exc.ctx.command_path if exc.ctx is not None else "migrate"
    message = exc.format_message().rstrip(".")
    line = f"{message} See `{command} --help`" if message.endswith("?") else f"{message}; see `{command} --help`"
    err_console.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
    sys.exit(EXIT_USAGE)


class _Cli(click.Group):
    """Turns typed errors into one line and an exit code; tracebacks only with MIGRATE_DEBUG=1."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # the top level's own options
            _usage_line(exc)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            err_console.print(f"[red]error:[/red] {escape(exc.line())}", soft_wrap=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:  # a subcommand's options and arguments
            _usage_line(exc)
        except KeyboardInterrupt:
            err_console.print("interrupted", soft_wrap=True)
            sys.exit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("MIGRATE_DEBUG") == "1":
                traceback.print_exc()
            else:
                err_console.print(f"[red]internal error:[/red] {escape(repr(exc))} "
                                  "(run again with MIGRATE_DEBUG=1 for the traceback)", soft_wrap=True)
            sys.exit(1)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrate")
def main() -> None:
    """Move a live Kubernetes cluster from Flannel to Calico, node by node, with a plan you can review,
    checkpoints you can resume from and a rollback from any point.

    Exit codes: 0 done, 1 failed while executing, 2 bad input or usage, 3 preflight blockers,
    4 another executor holds the lock, 5 stopped by the operator, 130 interrupted; each command's --help
    lists its own.
    """


main.add_command(sim)
main.add_command(demo)
main.add_command(snapshot)
main.add_command(preflight)
main.add_command(plan)
main.add_command(show)
for command in (apply, resume, status, rollback, unlock, verify):
    main.add_command(command)

__all__ = ["main", "EXIT_USAGE"]
