"""What ``benchmarks/adversarial.py`` found, pinned: hostile checkpoints, logs and run folders
are refused in one line, without reading what would cost unbounded memory or block."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load, save

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv
from dialog_rl.ope.logged import load_logged
from dialog_rl.ope.validation import OPEInputError
from dialog_rl.policies.checkpoint import (
    MAX_TENSOR_BYTES,
    META,
    TENSORS,
    CheckpointError,
    content_hash,
    read_checkpoint,
    save_checkpoint,
)
from dialog_rl.rollout.runlock import lock_holder, run_status
from dialog_rl.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = str(ROOT / "scenarios" / "restaurant.yaml")


@pytest.fixture(scope="module")
def good(restaurant, tmp_path_factory) -> Path:
    learner = train(restaurant, TrainConfig("linucb", dialogues=30, eval_episodes=5)).learner
    spec = DialogueEnv(restaurant).spec_obs
    return save_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "good", learner, restaurant, spec, seed=0
    )


def _forge(
    good: Path,
    where: Path,
    tensors: bytes | None = None,
    meta_text: str | None = None,
    size: int | None = None,
) -> Path:
    """A copy of ``good`` with other tensors or metadata and every hash made to match."""
    where.mkdir()
    meta = json.loads((good / META).read_text())
    if size is not None:
        with open(where / TENSORS, "wb") as fh:
            fh.truncate(size)  # sparse: costs no disk
        meta["tensors"]["bytes"] = size
    else:
        data = (good / TENSORS).read_bytes() if tensors is None else tensors
        (where / TENSORS).write_bytes(data)
        meta["tensors"] = {
            **meta["tensors"],
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        meta["content_hash"] = content_hash(data, meta)
    (where / META).write_text(meta_text if meta_text is not None else json.dumps(meta))
    return where


def test_a_huge_tensor_file_is_refused_on_its_size_before_it_is_read(good, tmp_path, monkeypatch):
    bad = _forge(good, tmp_path / "big", size=MAX_TENSOR_BYTES + 1)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        assert self.name != TENSORS, "the tensor file was read"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(CheckpointError, match="checkpoints over 1,073,741,824 bytes are refused"):
        read_checkpoint(bad)


@pytest.mark.parametrize(
    ("name", "tensors", "match"),
    [
        ("2^63 header", (2**63).to_bytes(8, "little") + b"{}", "not a valid safetensors"),
        (
            "4 TB claim",
            (lambda h: len(h).to_bytes(8, "little") + h + b"\0" * 8)(
                json.dumps(
                    {"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}
                ).encode()
            ),
            "not a valid safetensors",
        ),
    ],
)
def test_hostile_safetensors_headers_are_refused(good, tmp_path, name, tensors, match):
    with pytest.raises(CheckpointError, match=match):
        read_checkpoint(_forge(good, tmp_path / "bad", tensors))


def test_nan_weights_behind_a_forged_hash_are_refused(good, tmp_path):
    arrays = load((good / TENSORS).read_bytes())
    nan = save(
        {
            k: np.full(v.shape, np.nan, v.dtype) if v.dtype.kind == "f" else v
            for k, v in arrays.items()
        }
    )
    with pytest.raises(CheckpointError, match="holds NaN or inf"):
        read_checkpoint(_forge(good, tmp_path / "nan", nan))


def test_deeply_nested_metadata_is_refused(good, tmp_path):
    bad = _forge(good, tmp_path / "deep", meta_text="[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_checkpoint(bad)


@pytest.fixture(scope="module")
def log_table(tmp_path_factory) -> pa.Table:
    out = tmp_path_factory.mktemp("logs") / "run"
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "30", "--epsilon", "0.3"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    return pq.read_table(out / "log" / "part-00000.parquet")


def _log(tmp_path: Path, table: pa.Table) -> Path:
    d = tmp_path / "log"
    d.mkdir()
    pq.write_table(table, d / "part-00000.parquet")
    return d


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("action", lambda n: pa.array(["1"] * n), "column 'action' is string, expected integers"),
        ("obs", lambda n: pa.array([[0.0]] * n, type=pa.list_(pa.float32())), "fixed-size list"),
        ("action", lambda n: pa.array([None] * n, type=pa.int32()), "missing values"),
        ("reward", lambda n: pa.array([np.nan] * n), "reward is not a finite number"),
    ],
)
def test_logs_with_wrong_types_nulls_or_nan_are_refused(log_table, tmp_path, column, values, match):
    i = log_table.schema.get_field_index(column)
    table = log_table.set_column(i, column, values(log_table.num_rows))
    with pytest.raises(OPEInputError, match=match):
        load_logged(_log(tmp_path, table))


def test_logs_over_the_decision_limit_are_refused_before_they_are_read(log_table, tmp_path):
    with pytest.raises(OPEInputError, match="at most 10"):
        load_logged(_log(tmp_path, log_table), max_decisions=10)


def test_a_fifo_as_a_part_file_is_refused_without_blocking(tmp_path):
    (tmp_path / "log").mkdir()
    os.mkfifo(tmp_path / "log" / "part-00000.parquet")
    with pytest.raises(OPEInputError, match="not a regular file"):
        load_logged(tmp_path)


def test_fifos_in_place_of_lock_and_summary_never_block(tmp_path, capsys):
    os.mkfifo(tmp_path / ".lock")
    os.mkfifo(tmp_path / "summary.json")
    assert lock_holder(tmp_path) is None and run_status(tmp_path) == "unknown"
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "5", "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 2  # not empty: refused, without blocking
    assert main([*args, "--out", str(tmp_path), "--force"]) == 2
    err = capsys.readouterr().err
    assert "not made by dialog-rl simulate" in err
