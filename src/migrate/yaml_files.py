"""YAML for the tool's own files (snapshot, plan): libyaml when present, since a 5,000-node cluster's
files run to tens of megabytes, and repeated values written out in full rather than as &id001 anchors."""
from __future__ import annotations

import yaml

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data):
        return True


def dump(document: dict) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def load(text: str):
    """Parse; raises yaml.YAMLError on text that is not YAML."""
    return yaml.load(text, Loader=_Loader)


def read_document(path, what: str, error, fix: str):
    """Parse the YAML file at `path`; `error(message, hint)` for one that cannot be read or parsed."""
    try:
        return load(path.read_text())
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}", "check the path") from None
    except yaml.YAMLError:
        raise error(f"{what} {path} is not valid YAML (truncated?)", fix) from None
