"""Episode logs: a Parquet dataset, one row per agent decision.

A log is a directory of ``part-NNNNN.parquet`` files, part N holding episodes
``[N * part_episodes, (N + 1) * part_episodes)``. Each part is written whole: to a dot-named
temporary in the same directory (readers skip dot files), fsynced, then renamed into place, so a
process killed at any instant leaves only whole parts, and a resumed run rewrites exactly the
parts that are missing. pandas, pyarrow and duckdb read the directory as one table. The logging
policy's propensity, the action mask and the observation are on every row, so a target policy's
probabilities can be recomputed later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dialog_rl.rollout.runlock import pid_alive
from dialog_rl.rollout.runner import EpisodeRecord

#: Episodes per part: what a killed run can lose at most, and the unit of work of a worker.
#: Small enough that a part is a fraction of a second of simulation, big enough that writing it
#: (the Parquet file, its outcomes and the summary, each fsynced) costs little next to playing it.
PART_EPISODES = 500


def part_name(part: int) -> str:
    return f"part-{part:05d}.parquet"


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before its rename: same directory, dot-named (readers skip
    it), tagged with the writer's pid (two writers never share one)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")


def remove_dead_temporaries(directory: Path) -> None:
    """Remove the temporaries of writers that are gone (a killed worker's half-written part);
    a live writer's are left alone, it renames them whole."""
    for f in directory.iterdir():
        m = _TEMPORARY.match(f.name)
        if m and not pid_alive(int(m.group(1))):
            f.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write a file whole: to a temporary name beside it, fsynced, then renamed into place.

    The rename is atomic, so a killed process leaves the old file or the new one, never half of
    one; the fsync before it keeps a power cut from leaving the new name on empty data. (The
    directory is not fsynced: after a power cut a rename may be lost, and a resumed run then
    plays that part again.) ``sync=False`` skips the fsync, for a file whose loss or damage in
    a power cut only costs work done again (a run's progress records)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def log_schema(obs_dim: int, n_actions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("episode", pa.int64()),
            pa.field("turn", pa.int32()),
            pa.field("obs", pa.list_(pa.float32(), obs_dim)),
            pa.field("mask", pa.list_(pa.bool_(), n_actions)),
            pa.field("action", pa.int32()),
            pa.field("action_name", pa.string()),
            pa.field("propensity", pa.float64()),
            pa.field("reward", pa.float64()),
            pa.field("terminated", pa.bool_()),
            pa.field("truncated", pa.bool_()),
            pa.field("user_acts", pa.string()),
            pa.field("observed_acts", pa.string()),
            pa.field("user_text", pa.string()),
            pa.field("system_text", pa.string()),
            pa.field("reply_acts", pa.string()),
            pa.field("reply_text", pa.string()),
            pa.field("persona", pa.string()),
            pa.field("outcome", pa.string()),
            pa.field("success", pa.bool_()),
            # True where a person picked the action in the TUI (its propensity is then 1.0);
            # batch runs write False, and readers of older logs should treat a missing column so.
            pa.field("overridden", pa.bool_()),
            # which conversation of the customer's lifetime (0 outside lifetime runs)
            pa.field("visit", pa.int32()),
        ]
    )


#: the columns of utterances: null in a log that did not realise text
TEXT_COLUMNS = ("user_text", "system_text", "reply_text")


def parquet_bytes(table: pa.Table) -> bytes:
    """A part file's bytes: serialised in memory, then written by Python, so a full disk raises
    OSError with its errno (Arrow's own writer reports it without one) and a failed write leaves
    no temporary behind.

    Only the string columns are dictionary-encoded: trying it on the observation matrix costs
    about a fifth of the write and makes the file bigger."""
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", use_dictionary=strings)
    return sink.getvalue().to_pybytes()


class EpisodeLogWriter:
    """Buffers episodes and writes them as Parquet parts of ``PART_EPISODES`` episodes.

    One-at-a-time episodes (``runner.EpisodeRecord``): lifetime runs and the TUI. Batched runs
    write their parts from columns (``rollout.recorder``), the same table.
    """

    text = True
    """Log the records' utterances; False writes the text columns as nulls (not realised)."""

    def __init__(
        self,
        directory: Path,
        obs_dim: int,
        n_actions: int,
        metadata: dict[str, str],
        part_episodes: int = PART_EPISODES,
        text: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.part_episodes = part_episodes
        self.text = text
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = log_schema(obs_dim, n_actions).with_metadata(metadata)
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self._buffer: list[EpisodeRecord] = []
        self._part = -1

    def write(self, record: EpisodeRecord) -> None:
        part = record.episode // self.part_episodes
        if self._buffer and part != self._part:
            self.flush()
        self._part = part
        self._buffer.append(record)

    def flush(self) -> None:
        if not self._buffer:
            return
        data = parquet_bytes(self._table(self._buffer))
        write_bytes_atomic(self.directory / part_name(self._part), data)
        self._buffer = []

    def close(self) -> None:
        self.flush()

    def _table(self, records: list[EpisodeRecord]) -> pa.Table:
        cols: dict[str, list] = {name: [] for name in self.schema.names}
        obs_blocks, mask_blocks = [], []
        for rec in records:
            n = len(rec.turns["turn"])
            cols["episode"].extend([rec.episode] * n)
            for key, values in rec.turns.items():
                if key == "obs":
                    obs_blocks.append(np.asarray(values, dtype=np.float32).reshape(n, self.obs_dim))
                elif key == "mask":
                    mask_blocks.append(np.asarray(values, dtype=bool).reshape(n, self.n_actions))
                else:
                    cols[key].extend(values)
            cols["persona"].extend([rec.persona] * n)
            cols["outcome"].extend([rec.outcome["outcome"]] * n)
            cols["success"].extend([rec.outcome["success"]] * n)
            if "overridden" not in rec.turns:
                cols["overridden"].extend([False] * n)
            if "visit" not in rec.turns:
                cols["visit"].extend([0] * n)
        obs = np.concatenate(obs_blocks).reshape(-1)
        mask = np.concatenate(mask_blocks).reshape(-1)
        arrays = []
        for f in self.schema:
            if f.name == "obs":
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(obs), self.obs_dim))
            elif f.name == "mask":
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(mask), self.n_actions))
            elif f.name in TEXT_COLUMNS and not self.text:
                arrays.append(pa.nulls(len(cols["episode"]), f.type))
            else:
                arrays.append(pa.array(cols[f.name], type=f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def read_log(path: str | Path) -> pa.Table:
    """Read a log directory (or a single Parquet file) as one table, episodes in order."""
    path = Path(path)
    if path.is_dir():
        log_dir = path / "log" if (path / "log").is_dir() else path
        parts = sorted(log_dir.glob("part-*.parquet"))
        if not parts:
            raise FileNotFoundError(f"{path}: no part-*.parquet files")
        return pa.concat_tables(pq.read_table(p) for p in parts)
    return pq.read_table(path)
