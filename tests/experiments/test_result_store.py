"""The result store: strict JSON, atomic writes, unreadable files treated as absent."""

from __future__ import annotations

import json
import math
import os
import stat
import time
from pathlib import Path

import pytest

from eveopt.experiments import store as store_module
from eveopt.experiments.store import RunStore, canonical_json, make_run_id, write_json_atomic


def _strict_load(path: Path) -> object:
    def reject(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_non_finite_numbers_are_written_as_null(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    path = store.save(
        {"run_id": "eve-lr1-abc", "batch_losses": [1.0, math.inf, -math.inf, math.nan]}
    )
    assert _strict_load(path) == {"run_id": "eve-lr1-abc", "batch_losses": [1.0, None, None, None]}


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"version": 1})

    def interrupted_replace(source: str, target: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"version": 2})
    assert _strict_load(path) == {"version": 1}
    assert sorted(item.name for item in tmp_path.iterdir()) == ["results.json"]


def test_every_atomic_write_reaches_the_disk_before_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """report.md and results.csv go through atomic_path as JSON does: each is fsynced, with
    its whole content, before it replaces the old file (else a power loss can leave it empty)."""
    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.fstat(descriptor).st_ino))
        real_fsync(descriptor)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        events.append(("replace", os.stat(source).st_ino))
        real_replace(source, target)

    monkeypatch.setattr(store_module.os, "fsync", fsync)
    monkeypatch.setattr(store_module.os, "replace", replace)
    path = tmp_path / "report.md"
    with store_module.atomic_path(path) as temp_path:
        temp_path.write_text("# report\n")
    assert [kind for kind, _ in events] == ["fsync", "replace"]
    assert events[0][1] == events[1][1]  # the temporary file, synced then renamed
    assert path.read_text() == "# report\n"


def test_files_get_the_umask_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = RunStore(tmp_path).save({"run_id": "adam-lr1-abc"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_unreadable_or_foreign_files_count_as_absent(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.runs_dir.mkdir()
    store.path_for("adam-lr1-truncated").write_text('{"run_id": "adam-lr1-trunc')
    store.path_for("adam-lr1-renamed").write_text('{"run_id": "adam-lr1-other"}')
    assert store.load("adam-lr1-truncated") is None
    assert store.load("adam-lr1-renamed") is None
    assert store.load("adam-lr1-missing") is None


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.runs_dir.mkdir()
    stale = store.runs_dir / ".tmp-eve-lr1-abc.json.123.ff"
    stale.write_text("{")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    in_flight = store.runs_dir / ".tmp-adam-lr1-abc.json.456.ee"
    in_flight.write_text("{")
    kept = store.save({"run_id": "eve-lr1-abc"})
    store.remove_stale_temporaries()
    assert sorted(store.runs_dir.iterdir()) == sorted([kept, in_flight])


def test_run_id_hashes_the_whole_identity_in_canonical_form() -> None:
    identity = {"optimizer": {"name": "adam"}, "lr": 0.001, "epochs": 3, "seed": 0}
    reordered = {"seed": 0, "epochs": 3, "lr": 0.001, "optimizer": {"name": "adam"}}
    assert canonical_json(identity) == canonical_json(reordered)
    assert make_run_id(identity) == make_run_id(reordered)
    assert make_run_id(identity).startswith("adam-lr0.001-")
    assert make_run_id({**identity, "epochs": 4}) != make_run_id(identity)
