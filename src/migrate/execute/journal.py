"""The executor's journal: one append-only file of JSON lines per plan run, and its in-cluster mirror.

The journal is the executor's memory across crashes: which steps ran, how they ended, and what each
mutation changed (so it can be reverted). Every line is fsynced before the executor acts on it. A
crash can leave at most the last line half-written; that line is dropped on the next open. Damage
anywhere else means the file cannot be trusted, and opening it fails.
"""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import UserError
from ..kube import AlreadyExists, Conflict, Kube, NamespaceTerminating, NotFound
from .errors import JournalError

RECORD_TYPES = ("run", "step", "mutation", "node", "lock")
# Records the mirror is pushed after: the journal's milestones. Mutations come in bursts between
# them; mirroring each would double the executor's writes for little gain.
MIRRORED_TYPES = ("run", "step", "node", "lock")

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "migrate"
PLAN_ANNOTATION = "migrate/plan-digest"
SHARDS_ANNOTATION = "migrate/journal-shards"
SHA256_ANNOTATION = "migrate/journal-sha256"
SHARD_KEY = "journal.gz"
# 512 KiB of gzip is ~683 KiB once base64-encoded: well under the API server's 1 MiB object limit,
# with room for metadata.
SHARD_RAW_BYTES = 512 * 1024


def iso_time(timestamp: float) -> str:
    """A journal timestamp (UTC, ISO 8601, milliseconds) for a clock reading."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class JournalRecord:
    type: str                     # run, step, mutation, node or lock (`migrate unlock` broke the cluster lock)
    plan: str                     # the plan digest
    time: str                     # ISO 8601, from the executor's clock
    step: str | None = None       # step id, e.g. node/worker-3/drain
    attempt: int = 0
    # step records: started, done, noop, failed, skipped (nothing to do: the node left), deferred (skipped by
    # the operator, or needing such a step; offered again), reverting, reverted, revert-failed;
    # run records: started, stopped, finished, interrupted, failed
    outcome: str | None = None
    message: str = ""
    # mutation records: {"action", "path", "before", "patch", "patchType", "uid"}
    mutation: dict | None = None
    # node records (outcome "joined"): a node that joined during the run, {"node": its facts, "pods": [...]}
    node: dict | None = None

    def to_json(self) -> str:
        """One line, sorted keys, None fields left out."""
        present = {name: value for name, value in asdict(self).items() if value is not None}
        return json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> "JournalRecord":
        """Parse one line; ValueError when it is not a journal record."""
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [name for name in ("type", "plan", "time") if not isinstance(data.get(name), str)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        if data["type"] not in RECORD_TYPES:
            raise ValueError(f"unknown record type {data['type']!r}")
        # Fields a newer version may add are ignored rather than refused.
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


@dataclass
class StepState:
    """What the journal says about one step."""
    outcome: str | None = None
    attempts: int = 0
    message: str = ""
    mutations: list[dict] = field(default_factory=list)  # applied and not yet reverted, in order
    started: str | None = None   # time of the latest start
    finished: str | None = None  # time of the latest outcome other than started/reverting


_UNFINISHED = ("started", "reverting")


def fold_states(records: list[JournalRecord]) -> dict[str, StepState]:
    """Each step's state, by step id, from records in journal order."""
    states: dict[str, StepState] = {}
    for record in records:
        if record.step is None or record.type == "run":
            continue
        state = states.setdefault(record.step, StepState())
        if record.type == "mutation":
            if record.mutation is not None:
                state.mutations.append(record.mutation)
            continue
        state.outcome = record.outcome
        state.message = record.message
        if record.outcome == "started":
            state.attempts += 1
            state.started, state.finished = record.time, None
        elif record.outcome not in _UNFINISHED:
            state.finished = record.time
        if record.outcome == "reverted":
            state.mutations = []  # undone: nothing left to revert
    return states


class Journal:
    """An open journal file. Use Journal.open."""

    def __init__(self, path: Path, plan_digest: str, records: list[JournalRecord], lines: list[str],
                 *, mirror: "JournalMirror | None" = None, repaired: str | None = None):
        self.path = path
        self.plan_digest = plan_digest
        self.records = records
        self.repaired = repaired
        self.mirror = mirror
        self.mirror_error: str | None = None
        self._lines = lines  # the file's lines, newline included, for pushing to the mirror

    @classmethod
    def open(cls, path, plan_digest: str, *, mirror: "JournalMirror | None" = None) -> "Journal":
        """Open (creating if missing) the journal at `path` for plan `plan_digest`."""
        path = Path(path)
        if not path.exists():
            _create_durably(path)
        raw = path.read_bytes()
        lines, records, repaired = _parse(path, raw)
        for number, record in enumerate(records, 1):
            if record.plan != plan_digest:
                raise JournalError(f"journal {path} belongs to plan {record.plan}, not {plan_digest} (line {number})",
                                   "use the journal of this plan, or start a new one with --journal NEW")
        if repaired is not None:
            _truncate(path, sum(len(line.encode()) for line in lines))
        return cls(path, plan_digest, records, lines, mirror=mirror, repaired=repaired)

    @classmethod
    def from_text(cls, path, text: str, plan_digest: str, *,
                  mirror: "JournalMirror | None" = None) -> "Journal":
        """Rebuild a lost local journal from `text` (the mirror's copy): write it to `path`, then open.
        Refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists():
            raise JournalError(f"journal {path} already exists; not overwriting it with the mirror's copy",
                               "open the existing journal, or move it aside to rebuild from the cluster")
        _create_durably(path, text.encode())
        return cls.open(path, plan_digest, mirror=mirror)

    def text(self) -> str:
        return "".join(self._lines)

    def append(self, record: JournalRecord) -> None:
        """Write one record durably (fsync) before returning; then mirror milestones to the cluster."""
        if record.plan != self.plan_digest:
            raise ValueError(f"record of plan {record.plan} appended to the journal of {self.plan_digest}")
        line = record.to_json() + "\n"
        with open(self.path, "ab") as handle:
            handle.write(line.encode())
            handle.flush()
            os.fsync(handle.fileno())
        self._lines.append(line)
        self.records.append(record)
        if record.type in MIRRORED_TYPES and self.mirror is not None:
            self._push_to_mirror()

    def _push_to_mirror(self) -> None:
        # The local file is the journal; the mirror is a convenience for when that file is lost.
        # An API hiccup here must not stop a migration half-way.
        try:
            self.mirror.push(self.text())
            self.mirror_error = None
        except (UserError, Conflict, AlreadyExists) as exc:
            self.mirror_error = f"could not mirror the journal to the cluster: {exc}"

    def state(self) -> dict[str, StepState]:
        return fold_states(self.records)

    def joined_nodes(self) -> list[dict]:
        """The nodes that joined during the runs of this plan, in the order they were noticed."""
        seen: dict[str, dict] = {}
        for record in self.records:
            if record.type == "node" and record.outcome == "joined" and record.node:
                seen.setdefault(record.node["node"]["name"], record.node)
        return list(seen.values())

    def rolled_back_completely(self) -> bool:
        """A finished rollback left no step done or in flight: a new run of the plan may start from the top."""
        states = self.state()
        return (self.last_run_outcome() == "finished" and bool(states)
                and all(state.outcome == "reverted" for state in states.values()))

    def last_run_outcome(self) -> str | None:
        for record in reversed(self.records):
            if record.type == "run":
                return record.outcome
        return None


def _parse(path: Path, raw: bytes) -> tuple[list[str], list[JournalRecord], str | None]:
    """The complete lines and their records, and a description of a dropped half-written last line."""
    pieces = raw.split(b"\n")
    tail = pieces.pop()  # after the last newline: empty unless a write was cut short
    lines: list[str] = []
    records: list[JournalRecord] = []
    for number, piece in enumerate(pieces, 1):
        try:
            records.append(JournalRecord.from_json(piece.decode()))
            lines.append(piece.decode() + "\n")
        except (ValueError, UnicodeDecodeError) as exc:
            if number == len(pieces) and not tail:
                # The last line, newline and all, but not valid: the write was torn inside the line.
                return lines, records, f"dropped a half-written last line {number} ({exc})"
            raise JournalError(f"journal {path} is corrupt at line {number} ({exc})",
                               "restore it from a backup, or rebuild it from the cluster's mirror "
                               "after moving it aside") from None
    if tail:
        return lines, records, f"dropped a half-written last line {len(pieces) + 1} (no trailing newline)"
    return lines, records, None


def _create_durably(path: Path, content: bytes = b"") -> None:
    """Create a file and fsync it and its directory, so that the file itself survives a crash."""
    with open(path, "xb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_directory(path.parent)


def _truncate(path: Path, length: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(length)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open directories; the file's own fsync is all there is
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# ---- the in-cluster mirror ----------------------------------------------------------------------

class JournalMirror:
    """A copy of the journal in ConfigMaps, for when the machine that ran the executor is lost.

    The text is gzipped and cut into shards {name}-0, {name}-1, ... Shard 0 is the index (shard count
    and the SHA-256 of the whole) and is written last, so a push cut short is detected on fetch. Gzip
    of a longer journal starts with the same bytes, so usually only the last shard and the index change;
    only shards whose content changed are written."""

    def __init__(self, kube: Kube, namespace: str, plan_digest: str, name: str = "migrate-journal"):
        self.kube = kube
        self.namespace = namespace
        self.plan_digest = plan_digest
        self.name = name
        # What each shard is known to hold in the cluster, by shard name: its last read/written body.
        # None: known to be absent. Missing: not read yet.
        self._known: dict[str, dict | None] = {}
        self._namespace_exists = False

    def push(self, journal_text: str) -> bool:
        """Store `journal_text`. False, with nothing written, while the namespace does not exist."""
        if not self._namespace_exists:
            if self.kube.get_optional(f"/api/v1/namespaces/{self.namespace}") is None:
                return False
            self._namespace_exists = True
        compressed = _compress(journal_text)
        chunks = [compressed[i:i + SHARD_RAW_BYTES] for i in range(0, len(compressed), SHARD_RAW_BYTES)] or [b""]
        index = {SHARDS_ANNOTATION: str(len(chunks)), SHA256_ANNOTATION: hashlib.sha256(compressed).hexdigest()}
        try:
            for number in range(1, len(chunks)):
                self._store(number, chunks[number], {})
            self._store(0, chunks[0], index)
        except (NotFound, NamespaceTerminating):
            # Only a create can say NotFound here: the namespace went away (or never was); a namespace
            # being deleted (a rollback's last step) takes nothing new either.
            self._namespace_exists = False
            return False
        self._delete_stale_shards(len(chunks))
        return True

    def _shard_name(self, number: int) -> str:
        return f"{self.name}-{number}"

    def _path(self, name: str | None = None) -> str:
        collection = f"/api/v1/namespaces/{self.namespace}/configmaps"
        return f"{collection}/{name}" if name else collection

    def _body(self, name: str, chunk: bytes, index: dict) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": self.namespace,
                             "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                             "annotations": {PLAN_ANNOTATION: self.plan_digest, **index}},
                "binaryData": {SHARD_KEY: base64.b64encode(chunk).decode()}}

    def _current(self, name: str) -> dict | None:
        if name not in self._known:
            self._known[name] = self.kube.get_optional(self._path(name))
        return self._known[name]

    def _store(self, number: int, chunk: bytes, index: dict) -> None:
        name = self._shard_name(number)
        wanted = self._body(name, chunk, index)
        for attempt in range(2):  # a Conflict means our picture is stale: re-read and retry once
            current = self._current(name)
            if current is not None and _same_content(current, wanted):
                return
            try:
                if current is None:
                    self._known[name] = self.kube.create(self._path(), wanted)
                else:
                    body = {**wanted, "metadata": {**wanted["metadata"],
                                                   "resourceVersion": current["metadata"]["resourceVersion"]}}
                    self._known[name] = self.kube.replace(self._path(name), body)
                return
            except (AlreadyExists, Conflict):
                self._known.pop(name, None)
                if attempt == 1:
                    raise
            except NotFound:
                self._known.pop(name, None)
                if current is None:
                    raise  # create: the namespace is missing
                # replace: the shard was deleted meanwhile; the retry creates it

    def _delete_stale_shards(self, count: int) -> None:
        """Shards beyond `count`, left by a larger journal (another plan's) that this one replaced."""
        number = count
        while self._current(self._shard_name(number)) is not None:
            name = self._shard_name(number)
            try:
                self.kube.delete(self._path(name), uid=self._known[name]["metadata"]["uid"])
            except (NotFound, Conflict):
                pass
            self._known[name] = None
            number += 1

    @staticmethod
    def fetch(kube: Kube, namespace: str, plan_digest: str, name: str = "migrate-journal") -> str | None:
        """The mirrored journal text of plan `plan_digest`; None when there is no mirror."""
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        first = kube.get_optional(f"{path}/{name}-0")
        if first is None:
            return None
        annotations = first["metadata"].get("annotations") or {}
        owner = annotations.get(PLAN_ANNOTATION)
        if owner != plan_digest:
            raise JournalError(f"the journal mirror {namespace}/{name} belongs to plan {owner}, not {plan_digest}",
                               "use the journal of that plan, or this plan's local journal")
        try:
            count = int(annotations.get(SHARDS_ANNOTATION, ""))
        except ValueError:
            count = 0
        if count < 1:
            raise JournalError(f"the journal mirror {namespace}/{name}-0 has no valid {SHARDS_ANNOTATION} annotation",
                               "use the local journal; the mirror cannot be trusted")
        shards = [first] + [kube.get_optional(f"{path}/{name}-{number}") for number in range(1, count)]
        if any(shard is None for shard in shards):
            raise JournalError(f"the journal mirror {namespace}/{name} is missing shards (expected {count})",
                               "use the local journal; the mirror cannot be trusted")
        compressed = b"".join(base64.b64decode((shard.get("binaryData") or {}).get(SHARD_KEY, "")) for shard in shards)
        if hashlib.sha256(compressed).hexdigest() != annotations.get(SHA256_ANNOTATION):
            raise JournalError(f"the journal mirror {namespace}/{name} does not match its checksum "
                               "(a push was cut short)", "use the local journal; the mirror cannot be trusted")
        return gzip.decompress(compressed).decode()


def _compress(text: str) -> bytes:
    # mtime=0: the same text gives the same bytes, so unchanged shards compare equal.
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def _same_content(current: dict, wanted: dict) -> bool:
    current_meta, wanted_meta = current.get("metadata") or {}, wanted["metadata"]
    return (current.get("binaryData") == wanted["binaryData"]
            and (current_meta.get("annotations") or {}) == wanted_meta["annotations"]
            and (current_meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY)


def rebuild_from_mirror(kube: Kube, namespace: str, path, plan_digest: str, *,
                        mirror: JournalMirror | None = None) -> Journal | None:
    """The journal at `path`, rebuilt from the cluster's mirror when the local file is missing.
    None when there is neither."""
    text = JournalMirror.fetch(kube, namespace, plan_digest, mirror.name if mirror else "migrate-journal")
    if text is None:
        return None
    return Journal.from_text(path, text, plan_digest, mirror=mirror)
