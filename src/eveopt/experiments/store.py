"""The result store: one strict-JSON file per finished run, written atomically, keyed by run id.

A run's id is a hash of everything that changes its result (the task's data, model, loss and
source code, the optimizer and all its hyperparameters, lr, epochs, batch size, seed), so a
changed option or an edited task never reuses a stale result, and rerunning the same comparison
skips every run already on disk. Files are written to a temporary name in the same folder and
renamed (``os.replace``), so a crash or Ctrl-C leaves either the whole file or none of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RunStore",
    "atomic_path",
    "canonical_json",
    "make_run_id",
    "strict_json_value",
    "write_json_atomic",
]

_TEMP_PREFIX = ".tmp-"


def strict_json_value(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None``, tuples made lists.

    Strict JSON has no NaN; a diverged loss is recorded as ``null``.

    Example:
        >>> strict_json_value({"losses": [1.0, float("nan")], "lr": (1, float("inf"))})
        {'losses': [1.0, None], 'lr': [1, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): strict_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, strict (no NaN): the input of a run id."""
    return json.dumps(
        strict_json_value(value), sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def make_run_id(identity: Mapping[str, Any], label: str | None = None) -> str:
    """The id of the run that ``identity`` describes: ``<label>-lr<lr>-<12 hex of SHA-256>``.

    ``identity`` must hold ``optimizer`` (a mapping with ``name``) and ``lr``; ``label``
    defaults to the optimizer's name. The readable prefix only helps people, the hash of the
    whole canonical identity decides.

    Example:
        >>> make_run_id({"optimizer": {"name": "adam"}, "lr": 0.001, "epochs": 3})
        'adam-lr0.001-9a31c94bae6d'
    """
    digest = hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:12]
    prefix = label or identity["optimizer"]["name"]
    return f"{prefix}-lr{float(identity['lr']):g}-{digest}"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield an unused temporary path beside ``path``; on success rename it onto ``path``.

    The caller creates the temporary file (so it gets the usual permissions of the umask). On any
    exception (Ctrl-C included) it is removed and ``path`` is left as it was. The file's data is
    flushed to disk before the rename, and the rename is atomic: readers, even after a power
    loss, see the old file or the new one, never a part or an empty file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(f"{_TEMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        yield temp_path
        descriptor = os.open(temp_path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp_path, path)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as strict, indented JSON to ``path`` atomically (temp file + rename)."""
    text = json.dumps(strict_json_value(value), indent=1, allow_nan=False) + "\n"
    with atomic_path(path) as temp_path, temp_path.open("x", encoding="utf-8") as stream:
        stream.write(text)


class RunStore:
    """The finished runs of one output folder: ``<out>/runs/<run id>.json``, one per run.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     store = RunStore(Path(folder))
        ...     path = store.save({"run_id": "adam-lr0.001-0123456789ab", "loss": float("nan")})
        ...     print(path.relative_to(folder), store.load("adam-lr0.001-0123456789ab"))
        runs/adam-lr0.001-0123456789ab.json {'run_id': 'adam-lr0.001-0123456789ab', 'loss': None}
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.runs_dir = out_dir / "runs"

    def path_for(self, run_id: str) -> Path:
        """The file that holds run ``run_id`` once it has finished."""
        return self.runs_dir / f"{run_id}.json"

    def load(self, run_id: str) -> dict[str, Any] | None:
        """The stored record of ``run_id``, or ``None`` when absent or unreadable.

        An unreadable file (edited by hand, or from another format) is treated as absent, so the
        run is computed again and the file replaced.
        """
        path = self.path_for(run_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("run_id") != run_id:
            return None
        return record

    def save(self, record: Mapping[str, Any]) -> Path:
        """Write a finished run's record atomically; return its path."""
        path = self.path_for(str(record["run_id"]))
        write_json_atomic(path, record)
        return path

    def remove_stale_temporaries(self, min_age_s: float = 60.0) -> None:
        """Delete temporary files left by a process killed in the middle of a write.

        A write takes milliseconds, so a temporary older than ``min_age_s`` is stale; younger
        ones may belong to another comparison writing to the same folder right now.
        """
        now = time.time()
        for folder in (self.out_dir, self.runs_dir):
            if folder.is_dir():
                for temp_path in folder.glob(f"{_TEMP_PREFIX}*"):
                    with contextlib.suppress(FileNotFoundError):
                        if now - temp_path.stat().st_mtime >= min_age_s:
                            temp_path.unlink()
