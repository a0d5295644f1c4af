"""The executor's journal file and its in-cluster mirror."""
from __future__ import annotations

import json
import os
import random

import pytest

from migrate.execute.errors import JournalError
from migrate.kube import Forbidden
from migrate.execute.journal import Journal, JournalMirror, JournalRecord, rebuild_from_mirror

PLAN = "sha256:" + "a" * 64
OTHER_PLAN = "sha256:" + "b" * 64
T0 = "2026-01-01T00:00:00.000Z"


def step(step_id, outcome, *, plan=PLAN, message=""):
    return JournalRecord("step", plan, T0, step=step_id, outcome=outcome, message=message)


def mutation(step_id, path, *, plan=PLAN):
    return JournalRecord("mutation", plan, T0, step=step_id,
                         mutation={"action": "patch", "path": path, "before": {"x": 1}, "patch": {"x": 2},
                                   "patchType": "merge", "uid": "u-1"})


def run(outcome):
    return JournalRecord("run", PLAN, T0, outcome=outcome)


def written(path, *records):
    journal = Journal.open(path, PLAN)
    for record in records:
        journal.append(record)
    return journal


# ---- the file ------------------------------------------------------------------------------------

def test_record_json_is_one_sorted_line_without_none_fields():
    line = step("node/w1/drain", "done").to_json()
    assert "\n" not in line and '"mutation"' not in line
    assert list(json.loads(line)) == sorted(json.loads(line))


def test_appended_records_are_fsynced_and_load_back(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    records = [run("started"), step("node/w1/drain", "started"), mutation("node/w1/drain", "/api/v1/nodes/w1")]
    journal = Journal.open(tmp_path / "j.jsonl", PLAN)
    synced.clear()
    for record in records:
        journal.append(record)
    assert len(synced) >= len(records)
    assert Journal.open(tmp_path / "j.jsonl", PLAN).records == records
    assert (tmp_path / "j.jsonl").read_text().count("\n") == 3


def test_state_folds_started_and_done(tmp_path):
    state = written(tmp_path / "j", step("s", "started"), step("s", "done")).state()["s"]
    assert (state.outcome, state.attempts, state.finished) == ("done", 1, T0)


def test_state_counts_attempts_of_failed_then_done(tmp_path):
    journal = written(tmp_path / "j", step("s", "started"), step("s", "failed", message="timeout"),
                      step("s", "started"), step("s", "done"))
    state = journal.state()["s"]
    assert (state.outcome, state.attempts) == ("done", 2)


def test_state_keeps_unreverted_mutations_in_order(tmp_path):
    journal = written(tmp_path / "j", step("s", "started"), mutation("s", "/a"), mutation("s", "/b"),
                      step("s", "failed"))
    assert [m["path"] for m in journal.state()["s"].mutations] == ["/a", "/b"]


def test_reverted_clears_the_steps_mutations(tmp_path):
    journal = written(tmp_path / "j", step("s", "started"), mutation("s", "/a"), step("s", "failed"),
                      step("s", "reverting"), step("s", "reverted"), mutation("t", "/c"))
    states = journal.state()
    assert states["s"].mutations == [] and states["s"].outcome == "reverted"
    assert [m["path"] for m in states["t"].mutations] == ["/c"]


def test_last_run_outcome_is_the_latest_run_record(tmp_path):
    journal = written(tmp_path / "j", run("started"), step("s", "started"), run("interrupted"), step("s", "done"))
    assert journal.last_run_outcome() == "interrupted"
    assert Journal.open(tmp_path / "k", PLAN).last_run_outcome() is None


def test_half_written_last_line_is_dropped_and_the_file_repaired(tmp_path):
    path = tmp_path / "j"
    written(path, run("started"), step("s", "started"))
    intact = path.read_bytes()
    path.write_bytes(intact + step("s", "done").to_json()[:17].encode())
    journal = Journal.open(path, PLAN)
    assert journal.repaired and "line 3" in journal.repaired
    assert path.read_bytes() == intact and len(journal.records) == 2
    journal.append(step("s", "done"))
    assert Journal.open(path, PLAN).state()["s"].outcome == "done"


def test_torn_last_line_with_its_newline_is_dropped(tmp_path):
    path = tmp_path / "j"
    written(path, run("started"))
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"type":"st\n')
    journal = Journal.open(path, PLAN)
    assert journal.repaired and path.read_bytes() == intact


def test_corrupt_middle_line_is_refused_with_its_number(tmp_path):
    path = tmp_path / "j"
    written(path, run("started"), step("s", "started"), step("s", "done"))
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "garbage\n"
    path.write_text("".join(lines))
    with pytest.raises(JournalError, match="line 2"):
        Journal.open(path, PLAN)


def test_another_plans_journal_is_refused(tmp_path):
    path = tmp_path / "j"
    Journal.open(path, OTHER_PLAN).append(JournalRecord("run", OTHER_PLAN, T0, outcome="started"))
    with pytest.raises(JournalError, match=f"belongs to plan {OTHER_PLAN}, not {PLAN}") as raised:
        Journal.open(path, PLAN)
    assert "--journal" in raised.value.hint


# ---- the mirror -----------------------------------------------------------------------------------

def configmap_writes(running):
    return [r for r in running.request_log.writes() if r.resource == "configmaps"]


def test_mirror_round_trip(served_small, kube_of):
    kube = kube_of(served_small)
    mirror = JournalMirror(kube, "kube-system", PLAN)
    text = "".join(r.to_json() + "\n" for r in (run("started"), step("s", "started")))
    assert mirror.push(text) is True
    assert JournalMirror.fetch(kube, "kube-system", PLAN) == text
    shard = kube.get("/api/v1/namespaces/kube-system/configmaps/migrate-journal-0")
    assert shard["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "migrate"
    assert shard["metadata"]["annotations"]["migrate/plan-digest"] == PLAN


def test_mirror_of_3mb_shards_under_1mib_and_fetches_back(served_small, kube_of):
    kube = kube_of(served_small)
    noise = random.Random(7)
    # Random hex halves under gzip, so 3 MB of it stays well over 1 MiB compressed.
    text = "".join(step(f"node/w{i}/drain", "done", message=noise.randbytes(400).hex()).to_json() + "\n"
                   for i in range(3_100))
    assert len(text) > 3_000_000
    assert JournalMirror(kube, "kube-system", PLAN).push(text)
    shards = [cm for cm in kube.list("/api/v1/namespaces/kube-system/configmaps",
                                     label_selector="app.kubernetes.io/managed-by=migrate")]
    assert len(shards) >= 3
    assert all(len(json.dumps(cm)) < 1024 * 1024 for cm in shards)
    assert JournalMirror.fetch(kube, "kube-system", PLAN) == text


def test_mirror_rewrites_only_changed_shards(served_small, kube_of):
    kube = kube_of(served_small)
    noise = random.Random(8)
    text = "".join(step(f"s{i}", "done", message=noise.randbytes(400).hex()).to_json() + "\n" for i in range(2_000))
    mirror = JournalMirror(kube, "kube-system", PLAN)
    mirror.push(text)
    served_small.request_log.clear()
    mirror.push(text + step("s", "started").to_json() + "\n")
    # the last shard and the index (shard 0); the shards between are unchanged
    assert len(configmap_writes(served_small)) == 2
    served_small.request_log.clear()
    mirror.push(text + step("s", "started").to_json() + "\n")
    assert configmap_writes(served_small) == []


def test_mirror_before_its_namespace_exists_writes_nothing(served_small, kube_of):
    kube = kube_of(served_small)
    served_small.request_log.clear()
    assert JournalMirror(kube, "calico-migration", PLAN).push(run("started").to_json() + "\n") is False
    assert served_small.request_log.writes() == []


def test_mirror_in_a_namespace_being_deleted_writes_nothing_and_says_so(served_small, kube_of):
    kube = kube_of(served_small)
    kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}})
    kube.create("/api/v1/namespaces/going/configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": "holds-it", "finalizers": ["x/y"]}})
    kube.delete("/api/v1/namespaces/going")
    assert JournalMirror(kube, "going", PLAN).push(run("started").to_json() + "\n") is False


def test_fetch_without_a_mirror_is_none(served_small, kube_of):
    assert JournalMirror.fetch(kube_of(served_small), "kube-system", PLAN) is None


def test_fetch_of_another_plans_mirror_is_refused(served_small, kube_of):
    kube = kube_of(served_small)
    JournalMirror(kube, "kube-system", OTHER_PLAN).push("")
    with pytest.raises(JournalError, match="belongs to plan"):
        JournalMirror.fetch(kube, "kube-system", PLAN)


def test_journal_appends_push_milestones_to_the_mirror(served_small, kube_of, tmp_path):
    kube = kube_of(served_small)
    journal = Journal.open(tmp_path / "j", PLAN, mirror=JournalMirror(kube, "kube-system", PLAN))
    journal.append(step("s", "started"))
    journal.append(mutation("s", "/a"))
    assert JournalMirror.fetch(kube, "kube-system", PLAN) == step("s", "started").to_json() + "\n"
    journal.append(step("s", "done"))
    assert JournalMirror.fetch(kube, "kube-system", PLAN) == (tmp_path / "j").read_text()


def test_mirror_failure_is_remembered_not_raised(served_small, kube_of, tmp_path):
    kube = kube_of(served_small)
    mirror = JournalMirror(kube, "kube-system", PLAN)

    def refuse(text):
        raise Forbidden("user x may not update configmaps", "grant update")
    mirror.push = refuse
    journal = Journal.open(tmp_path / "j", PLAN, mirror=mirror)
    journal.append(step("s", "started"))
    assert "may not update" in journal.mirror_error and len(Journal.open(tmp_path / "j", PLAN).records) == 1


def test_lost_local_journal_is_rebuilt_from_the_mirror(served_small, kube_of, tmp_path):
    kube = kube_of(served_small)
    written(tmp_path / "old", run("started"), step("s", "started"), step("s", "done"))
    JournalMirror(kube, "kube-system", PLAN).push((tmp_path / "old").read_text())
    rebuilt = rebuild_from_mirror(kube, "kube-system", tmp_path / "new", PLAN)
    assert rebuilt.state()["s"].outcome == "done"
    assert (tmp_path / "new").read_text() == (tmp_path / "old").read_text()
