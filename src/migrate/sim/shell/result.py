"""What running a container's command did."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ShellResult:
    """What running a container's command did.

    ``sleep_seconds`` is the simulated time the script slept; the caller
    advances its own clock.  ``still_running`` means the command never ends
    (``sleep infinity``, ``tail -f``); ``exit_code`` is then meaningless.
    """

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    sleep_seconds: float = 0.0
    still_running: bool = False
    start_error: str = ""  # the runtime could not start the command at all (exit 128)
    chunks: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def log(self) -> str:
        """stdout and stderr interleaved, as ``kubectl logs`` shows them."""
        return "".join(text for _, text in self.chunks)

    def write(self, stream: str, text: str) -> None:
        if not text:
            return
        self.chunks.append((stream, text))
        if stream == "stdout":
            self.stdout += text
        else:
            self.stderr += text
