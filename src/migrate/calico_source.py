"""Which Calico manifest and release a command works with: read (file or address) and pinned by sha256,
its release read from its calico-node image. Shared by `plan` and `preflight`."""
from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from .calico_manifest import manifest_release
from .errors import UserError
from .plan.options import DEFAULT_CALICO_VERSION


def read_manifest(source: str | None) -> tuple[dict | None, str | None]:
    """The Calico manifest (a file, or a release address the user allowed), pinned by its checksum, and its text."""
    if source is None:
        return None, None
    if source.startswith(("https://", "http://")):
        try:
            with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (user-given address)
                data = response.read()
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot fetch the Calico manifest from {source}: {exc}",
                            "download it yourself and give the file to --calico-manifest") from None
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read --calico-manifest {source}: {exc.strerror}", "check the path") from None
    return {"source": source, "sha256": hashlib.sha256(data).hexdigest()}, data.decode(errors="replace")


def resolve_release(asked: str | None, manifest_text: str | None) -> str:
    """The Calico release the plan installs: the manifest's own (its calico-node image tag), which
    --calico-version may confirm but not contradict; without a manifest, --calico-version or the default."""
    if manifest_text is None:
        return asked or DEFAULT_CALICO_VERSION
    found, image = manifest_release(manifest_text)
    if found is None and asked is None:
        raise UserError(f"cannot tell the Calico release from the manifest's calico-node image {image}",
                        "pass --calico-version with the release that image is")
    if asked is not None and found is not None and asked != found:
        raise UserError(f"--calico-version {asked} contradicts the manifest, whose calico-node image is {image}",
                        f"drop --calico-version, or give the manifest of Calico {asked}")
    return found or asked
