"""Demonstrations for warm starts: decisions read from Parquet episode logs.

A demonstration log is what ``dialog-rl simulate --out`` writes (a run directory, its ``log/``
directory or one Parquet file) or what the TUI exports, where the column ``overridden`` marks the
turns a person chose instead of the policy. Those rows are weighted up: a person correcting the
policy is the strongest signal there is about what it should have done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec


class DemoError(ValueError):
    """A demonstration file that cannot be used (reported in one line by the CLI)."""


@dataclass(frozen=True)
class Demonstrations:
    """Demonstrated decisions as arrays, ready for ``Learner.clone``."""

    obs: np.ndarray  # float32 [N, obs_dim]
    masks: np.ndarray  # int8 [N, n_actions]
    actions: np.ndarray  # int64 [N]
    weights: np.ndarray  # float64 [N]
    overridden: int
    """Rows a person chose in the TUI."""
    sha256: str
    """Hash of the arrays above: identifies the demonstrations whatever file they came from."""

    def __len__(self) -> int:
        return len(self.actions)


def load_demos(
    path: str | Path, domain: Domain, spec: ObservationSpec, override_weight: float = 5.0
) -> Demonstrations:
    """Read and check demonstrations for ``domain``; overridden rows get ``override_weight``."""
    import pyarrow as pa

    from dialog_rl.rollout.logs import read_log

    path = Path(path)
    if not path.exists():
        raise DemoError(f"--demos {path}: no such file or directory")
    try:
        table = read_log(path)
    except FileNotFoundError as err:
        raise DemoError(f"--demos {err}") from None
    except (pa.ArrowException, OSError) as err:
        raise DemoError(f"--demos {path}: not a readable Parquet log ({err})") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    logged_hash = meta.get("dialog_rl.scenario_hash")
    if logged_hash is not None and logged_hash != domain.content_hash:
        raise DemoError(
            f"--demos {path}: logged on another scenario (hash {logged_hash[:12]}), not "
            f"{domain.name!r} (hash {domain.content_hash[:12]})"
        )
    if "dialog_rl.observation_spec" in meta:
        try:
            logged_spec = json.loads(meta["dialog_rl.observation_spec"])
        except json.JSONDecodeError:
            logged_spec = None
        if logged_spec != spec.to_dict():
            raise DemoError(
                f"--demos {path}: logged with a different observation spec than this environment's"
            )
    for column in ("obs", "mask", "action"):
        if column not in table.column_names:
            raise DemoError(f"--demos {path}: no column {column!r} (not a dialog-rl episode log)")
    n = table.num_rows
    if n == 0:
        raise DemoError(f"--demos {path}: no rows")
    try:
        obs = _matrix(table.column("obs"), n, np.float32)
        masks = _matrix(table.column("mask"), n, np.int8)
    except ValueError as err:
        raise DemoError(f"--demos {path}: {err}") from None
    if obs.shape[1] != spec.size:
        raise DemoError(
            f"--demos {path}: column 'obs' has {obs.shape[1]} features, this scenario's "
            f"observation has {spec.size}"
        )
    if masks.shape[1] != domain.n_actions:
        raise DemoError(
            f"--demos {path}: column 'mask' has {masks.shape[1]} actions, this scenario has "
            f"{domain.n_actions}"
        )
    actions = np.asarray(table.column("action").to_numpy(zero_copy_only=False), dtype=np.int64)
    bad = np.flatnonzero((actions < 0) | (actions >= domain.n_actions))
    if len(bad):
        raise DemoError(
            f"--demos {path}: row {bad[0]}: action {actions[bad[0]]} is outside the catalog of "
            f"{domain.n_actions} actions"
        )
    disallowed = np.flatnonzero(masks[np.arange(n), actions] == 0)
    if len(disallowed):
        i = disallowed[0]
        raise DemoError(
            f"--demos {path}: row {i}: action {domain.act_names[actions[i]]!r} was not allowed by "
            "the row's mask"
        )
    if not override_weight > 0:
        raise DemoError(f"override weight must be > 0, got {override_weight}")
    weights = np.ones(n)
    overridden = 0
    if "overridden" in table.column_names:
        flags = np.asarray(
            table.column("overridden").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
        )
        weights[flags] = override_weight
        overridden = int(flags.sum())
    h = hashlib.sha256()
    for arr in (obs, masks, actions, weights):
        h.update(np.ascontiguousarray(arr).tobytes())
    return Demonstrations(obs, masks, actions, weights, overridden, h.hexdigest())


def _matrix(column, n: int, dtype) -> np.ndarray:
    """A fixed-size-list (or list) column as an [n, width] array."""
    import pyarrow as pa

    chunks = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if pa.types.is_fixed_size_list(chunks.type):
        width = chunks.type.list_size
        flat = chunks.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=dtype).reshape(n, width)
    if pa.types.is_list(chunks.type) or pa.types.is_large_list(chunks.type):
        rows = chunks.to_pylist()
        widths = {len(r) for r in rows if r is not None}
        if len(widths) != 1 or any(r is None for r in rows):
            raise ValueError(f"column of ragged or missing lists ({sorted(widths)[:3]} widths)")
        return np.asarray(rows, dtype=dtype)
    raise ValueError(f"column of type {chunks.type}, expected a list of numbers")
