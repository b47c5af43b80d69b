# Whole on purpose: LoggedDialogues and load_logged, its one constructor, check one format.
"""Logged conversations as episode-structured arrays, checked for what off-policy evaluation needs.

``load_logged`` reads a run directory written by ``dialog-rl simulate --out`` (or its ``log/``
directory, or one Parquet file) with ``dialog_rl.rollout.logs.read_log``, one part file at a time so
a damaged file is named, and pads episodes into ``[n_episodes, horizon, ...]`` arrays. It refuses
logs without propensities, with propensities that are not in (0, 1], with logged actions the
mask forbade, and unreadable (e.g. truncated) Parquet files, each with one line naming the file and
the decision.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dialog_rl.ope.validation import OPEInputError

REQUIRED = ("episode", "turn", "obs", "mask", "action", "reward", "terminated", "truncated")
#: the most logged decisions evaluated at once (``--max-decisions``): ``ope`` on 1,000,000
#: one-turn conversations peaked at 3.3 GB (``benchmarks/adversarial.py``), so about 1.7 GB
MAX_DECISIONS = 500_000


def _number(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _integer(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t)


def _boolean(t) -> bool:
    import pyarrow as pa

    return pa.types.is_boolean(t)


def _fixed_list_of(test):
    def check(t) -> bool:
        import pyarrow as pa

        return pa.types.is_fixed_size_list(t) and test(t.value_type)

    return check


#: what each column of a log must hold (checked on the schema, before any value is read)
_COLUMN_TYPES = {
    "episode": (_integer, "integers"),
    "turn": (_integer, "integers"),
    "action": (_integer, "integers"),
    "visit": (_integer, "integers"),
    "reward": (_number, "numbers"),
    "propensity": (_number, "numbers"),
    "terminated": (_boolean, "booleans"),
    "truncated": (_boolean, "booleans"),
    "overridden": (_boolean, "booleans"),
    "obs": (_fixed_list_of(_number), "a fixed-size list of numbers"),
    "mask": (_fixed_list_of(_boolean), "a fixed-size list of booleans"),
}


@dataclass(frozen=True)
class LoggedDialogues:
    """Logged episodes, padded to the longest: decision ``t`` of episode ``i`` is ``[i, t]``."""

    path: Path
    obs: np.ndarray
    """float32 [n_episodes, horizon, obs_dim] state before each decision."""
    mask: np.ndarray
    """bool [n_episodes, horizon, n_actions] actions allowed at that state."""
    action: np.ndarray
    """int64 [n_episodes, horizon] logged actions (0 on padding)."""
    reward: np.ndarray
    """float64 [n_episodes, horizon] reward after each decision (0 on padding)."""
    pscore: np.ndarray
    """float64 [n_episodes, horizon] the logger's probability of the logged action (1 on padding)."""
    valid: np.ndarray
    """bool [n_episodes, horizon] True on real decisions."""
    terminated: np.ndarray
    """bool [n_episodes] the conversation ended (success, hang-up, hand-over, good-bye)."""
    truncated: np.ndarray
    """bool [n_episodes] the turn limit stopped it."""
    episode_ids: np.ndarray
    """int64 [n_episodes] episode index in the run."""
    scenario_hash: str | None
    metadata: dict[str, str]
    """The Parquet schema metadata (``dialog_rl.*`` keys)."""
    summary: dict | None
    """The run's summary.json, when there is one."""
    overridden: int = 0
    """Decisions a person picked in the TUI (their propensity 1.0 is not the logger's)."""
    warnings: list[str] = field(default_factory=list)
    visit: np.ndarray | None = None
    """int64 [n_episodes, horizon] which of the customer's visits each decision belongs to (0 on
    padding), for lifetime logs (``simulate --lifetime``); None when the log has no visit column."""
    max_visits: int | None = None
    """Set by ``first_visits``: each lifetime was cut after this many visits."""

    @property
    def n_episodes(self) -> int:
        return int(self.valid.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.mask.shape[2])

    @property
    def lengths(self) -> np.ndarray:
        return self.valid.sum(1)

    @property
    def noise(self) -> float | None:
        if self.summary and "noise" in self.summary:
            return float(self.summary["noise"])
        if "dialog_rl.noise" in self.metadata:
            return float(self.metadata["dialog_rl.noise"])
        return None

    @property
    def max_turns(self) -> int | None:
        """The turn limit the run used, when it is recorded (summary, or its command line)."""
        s = self.summary or {}
        if s.get("max_turns"):
            return int(s["max_turns"])
        if "dialog_rl.max_turns" in self.metadata:
            return int(self.metadata["dialog_rl.max_turns"])
        cmd = s.get("command") or []
        for i, arg in enumerate(cmd):
            if arg == "--max-turns" and i + 1 < len(cmd):
                return int(cmd[i + 1])
            if arg.startswith("--max-turns="):
                return int(arg.split("=", 1)[1])
        return None

    def target_distribution(self, policy, explore: bool = False) -> np.ndarray:
        """A policy's action distribution at every logged state: float64 [n, horizon, n_actions].

        Computed with ``policy.probabilities(obs, mask, explore)`` on the logged observation and
        mask, exactly as the policy would have acted there. Zero on padding.
        """
        out = np.zeros(self.mask.shape, dtype=np.float64)
        for i, t in np.argwhere(self.valid):
            out[i, t] = policy.probabilities(
                self.obs[i, t], self.mask[i, t].astype(np.int8), explore
            )
        return out

    def first_visits(self, k: int) -> LoggedDialogues:
        """Each customer's lifetime cut after their first ``k`` visits (lifetime logs only).

        The cut keeps the layout: decision ``t`` stays at ``[i, t]`` (only later decisions become
        padding, and the horizon shrinks to the longest cut lifetime), so any per-decision array
        ``x`` computed on these logs is cut the same way by ``x[:, :horizon]``. A lifetime that
        had more visits counts as truncated. Cutting a logged lifetime after visit ``k`` is the
        lifetime a visit cap of ``k`` would have given, except for the ``life.visit`` feature
        (visit over the scenario's cap), which only a policy reading it would notice.
        """
        if self.visit is None:
            raise ValueError(f"{self.path}: not lifetime logs (no visit column)")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        keep = self.valid & (self.visit < k)
        h = int(keep.sum(1).max())

        def trim(arr: np.ndarray, fill) -> np.ndarray:
            out = arr[:, :h].copy()
            out[~keep[:, :h]] = fill
            return out

        more = (self.valid & (self.visit >= k)).any(1)
        return dataclasses.replace(
            self,
            obs=trim(self.obs, 0.0),
            mask=trim(self.mask, False),
            action=trim(self.action, 0),
            reward=trim(self.reward, 0.0),
            pscore=trim(self.pscore, 1.0),
            valid=keep[:, :h].copy(),
            visit=trim(self.visit, 0),
            terminated=self.terminated & ~more,
            truncated=self.truncated | more,
            warnings=list(self.warnings),
            max_visits=k,
        )

    def chained(self, k: int) -> LoggedDialogues:
        """Consecutive groups of ``k`` episodes joined into one trajectory each (leftovers dropped).

        For horizon experiments: the trajectory of a chain is its conversations back to back, the
        next state of a conversation's last decision being the next customer's first state.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        m = self.n_episodes // k
        if m < 1:
            raise ValueError(f"need at least {k} episodes to chain {k}, have {self.n_episodes}")

        def pack(arr: np.ndarray, fill) -> np.ndarray:
            return chain_array(self.valid, arr, k, fill)

        return LoggedDialogues(
            path=self.path,
            obs=pack(self.obs, 0),
            mask=pack(self.mask, False),
            action=pack(self.action, 0),
            reward=pack(self.reward, 0.0),
            pscore=pack(self.pscore, 1.0),
            valid=pack(self.valid, False),
            terminated=self.terminated[: m * k].reshape(m, k)[:, -1],
            truncated=self.truncated[: m * k].reshape(m, k)[:, -1],
            episode_ids=self.episode_ids[: m * k : k],
            scenario_hash=self.scenario_hash,
            metadata=self.metadata,
            summary=self.summary,
            overridden=self.overridden,
            warnings=list(self.warnings),
        )


def chain_array(valid: np.ndarray, arr: np.ndarray, k: int, fill) -> np.ndarray:
    """Per-decision ``arr`` [n, horizon, ...] of episodes laid out as chains of ``k`` episodes.

    Episode ``j * k + i``'s decisions follow episode ``j * k + i - 1``'s in chain ``j``; the
    ``n % k`` leftover episodes are dropped. Padding is ``fill``.
    """
    m = valid.shape[0] // k
    lengths = valid[: m * k].sum(1).reshape(m, k).sum(1)
    out = np.full((m, int(lengths.max()), *arr.shape[2:]), fill, dtype=arr.dtype)
    pos = np.concatenate([np.arange(n) for n in lengths])
    chain = np.repeat(np.arange(m), lengths)
    out[chain, pos] = arr[: m * k][valid[: m * k]]
    return out


def load_logged(path: str | Path, max_decisions: int = MAX_DECISIONS) -> LoggedDialogues:
    """Read and check logs for off-policy evaluation; see the module docstring.

    Logs of more than ``max_decisions`` rows are refused before their data is read (the
    Parquet footers give the count): evaluation holds every decision in memory, about 3 kB each.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dialog_rl.rollout.logs import read_log

    path = Path(path)
    if not path.exists():
        raise OPEInputError(f"{path}: no such file or directory")
    parts = _part_files(path)
    rows = 0
    for part in parts:
        if not part.is_file():  # a FIFO or device would block or never end
            raise OPEInputError(f"{part}: not a regular file")
        try:
            rows += pq.read_metadata(part).num_rows
        except (pa.ArrowException, OSError) as err:
            raise OPEInputError(
                f"{part}: not a readable Parquet file (truncated or damaged?): {_one_line(err)}"
            ) from None
    if rows > max_decisions:
        raise OPEInputError(
            f"{path}: {rows:,} logged decisions; off-policy evaluation holds them all in memory "
            f"(about 3 kB each) and takes at most {max_decisions:,}: evaluate a sample (some of "
            "its part files) or raise --max-decisions"
        )
    tables = []
    for part in parts:
        try:
            tables.append(read_log(part))
        except (pa.ArrowException, OSError) as err:
            raise OPEInputError(
                f"{part}: not a readable Parquet file (truncated or damaged?): {_one_line(err)}"
            ) from None
    schema_meta = tables[0].schema.metadata or {}
    metadata = {
        k.decode(): v.decode() for k, v in schema_meta.items() if k.startswith(b"dialog_rl")
    }
    for part, table in zip(parts, tables):
        missing = [c for c in REQUIRED if c not in table.column_names]
        if missing:
            raise OPEInputError(
                f"{part}: not a dialog-rl log: missing column(s) {', '.join(missing)}"
            )
        if "propensity" not in table.column_names:
            raise OPEInputError(
                f"{part}: no 'propensity' column: these logs do not say how likely the logging "
                "policy was to take each action, so they cannot be used for off-policy evaluation"
            )
        for name in table.column_names:
            kind = _COLUMN_TYPES.get(name)
            if kind is not None and not kind[0](table.schema.field(name).type):
                raise OPEInputError(
                    f"{part}: column {name!r} is {table.schema.field(name).type}, expected {kind[1]}"
                )
            if kind is not None and name != "propensity" and table.column(name).null_count:
                raise OPEInputError(f"{part}: column {name!r} has missing values (nulls)")
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    summary = _summary(path)
    hashes = {
        h
        for h in (metadata.get("dialog_rl.scenario_hash"), (summary or {}).get("scenario_hash"))
        if h
    }
    if len(hashes) > 1:
        raise OPEInputError(
            f"{path}: summary.json and the Parquet metadata name different scenarios"
        )
    scenario_hash = hashes.pop() if hashes else None
    return _to_arrays(path, parts, table, metadata, summary, scenario_hash)


def _unfinished_run(path: Path, summary: dict) -> str:
    """The warning for logs of a run that is still running or was killed (``rollout.rundir``)."""
    from dialog_rl.rollout.runlock import run_status

    run = path.parent if path.is_file() else path
    run = run.parent if run.name == "log" else run
    done, total = summary.get("episodes_done"), (summary.get("run") or {}).get("episodes")
    state = run_status(run)
    message = f"the run in {run} is {state}: these logs hold {done} of its {total} episodes"
    if state == "interrupted":
        message += "; `dialog-rl simulate ... --resume` finishes it"
    return message


def _part_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    log_dir = path / "log" if (path / "log").is_dir() else path
    parts = sorted(log_dir.glob("part-*.parquet"))
    if not parts:
        raise OPEInputError(f"{path}: no log here (expected part-*.parquet files in {log_dir})")
    return parts


def _summary(path: Path) -> dict | None:
    """The run's summary.json: beside ``log/`` in a run directory."""
    if path.is_file():
        path = path.parent
    run = path.parent if path.name == "log" else path
    candidate = run / "summary.json"
    if not candidate.is_file():
        return None
    try:
        return json.loads(candidate.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise OPEInputError(f"{candidate}: unreadable summary: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200]


def _to_arrays(path, parts, table, metadata, summary, scenario_hash) -> LoggedDialogues:
    n_rows = table.num_rows
    if n_rows == 0:
        raise OPEInputError(f"{path}: the log has no decisions")
    col = table.column
    prop_col = col("propensity")
    episode = np.asarray(col("episode").to_numpy(zero_copy_only=False), dtype=np.int64)
    turn = np.asarray(col("turn").to_numpy(zero_copy_only=False), dtype=np.int64)
    # Rows are located in messages by (episode, turn), the ids a reader of the log sees.
    if prop_col.null_count:
        i = int(np.flatnonzero(np.asarray(prop_col.is_null()))[0])
        raise OPEInputError(
            f"{path}: propensity missing at episode {episode[i]}, turn {turn[i]}: logs without "
            "propensities cannot be used for off-policy evaluation"
        )
    pscore = np.asarray(prop_col.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = np.flatnonzero(~(pscore > 0) | ~(pscore <= 1.0 + 1e-9))
    if len(bad):
        i = int(bad[0])
        what = (
            "0 (the logger cannot have taken an action it gave probability 0)"
            if pscore[i] <= 0
            else f"{pscore[i]:g}, above 1"
        )
        if np.isnan(pscore[i]):
            what = "NaN"
        raise OPEInputError(
            f"{path}: propensity must be in (0, 1], got {what} at episode {episode[i]}, turn {turn[i]}"
        )
    obs_flat = _fixed_list(col("obs"), np.float32)
    mask_flat = _fixed_list(col("mask"), bool)
    action = np.asarray(col("action").to_numpy(zero_copy_only=False), dtype=np.int64)
    reward = np.asarray(col("reward").to_numpy(zero_copy_only=False), dtype=np.float64)
    for name, values in (("reward", reward), ("obs", obs_flat)):
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(n_rows, -1).any(axis=1))[0])
            raise OPEInputError(
                f"{path}: {name} is not a finite number (NaN or inf) at episode {episode[i]}, "
                f"turn {turn[i]}"
            )
    n_actions = mask_flat.shape[1]
    if ((action < 0) | (action >= n_actions)).any():
        i = int(np.flatnonzero((action < 0) | (action >= n_actions))[0])
        raise OPEInputError(
            f"{path}: action {action[i]} out of range at episode {episode[i]}, turn {turn[i]}"
        )
    forbidden = ~mask_flat[np.arange(n_rows), action]
    if forbidden.any():
        i = int(np.flatnonzero(forbidden)[0])
        raise OPEInputError(
            f"{path}: logged action {action[i]} was masked out at episode {episode[i]}, turn {turn[i]}"
        )

    order = np.lexsort((turn, episode))
    episode, turn = episode[order], turn[order]
    ids, start, lengths = np.unique(episode, return_index=True, return_counts=True)
    expected = np.arange(n_rows) - np.repeat(start, lengths)
    if (turn != expected).any():
        i = int(np.flatnonzero(turn != expected)[0])
        raise OPEInputError(
            f"{path}: episode {episode[i]} has turn {turn[i]} where turn {expected[i]} was "
            "expected (duplicated or missing rows)"
        )
    n, h = len(ids), int(lengths.max())
    row_ep = np.repeat(np.arange(n), lengths)
    valid = np.zeros((n, h), dtype=bool)
    valid[row_ep, turn] = True

    def pad(values: np.ndarray, fill, dtype) -> np.ndarray:
        out = np.full((n, h, *values.shape[1:]), fill, dtype=dtype)
        out[row_ep, turn] = values[order]
        return out

    terminated = np.asarray(col("terminated").to_numpy(zero_copy_only=False), dtype=bool)[order]
    truncated = np.asarray(col("truncated").to_numpy(zero_copy_only=False), dtype=bool)[order]
    last = start + lengths - 1
    overridden = 0
    if "overridden" in table.column_names:
        overridden = int(
            np.asarray(col("overridden").to_numpy(zero_copy_only=False), dtype=bool).sum()
        )
    visit = None
    if "visit" in table.column_names:
        raw = np.asarray(col("visit").to_numpy(zero_copy_only=False), dtype=np.int64)
        visit = pad(raw, 0, np.int64)
        # A lifetime's visits follow each other: within an episode the visit never goes back.
        back = np.flatnonzero((np.diff(visit, axis=1) < 0) & valid[:, 1:])
        if len(back):
            i, t = np.unravel_index(back[0], (n, h - 1))
            raise OPEInputError(
                f"{path}: episode {ids[i]} goes back from visit {visit[i, t]} to "
                f"{visit[i, t + 1]} at turn {t + 1}: rows of different customers mixed?"
            )
    warnings = []
    if summary is not None and summary.get("status", "complete") != "complete":
        warnings.append(_unfinished_run(path, summary))
    if overridden:
        warnings.append(
            f"{overridden} decisions were picked by a person in the TUI; their logged propensity "
            "1.0 is not the logging policy's, so estimates treat them as if the logger chose them"
        )
    return LoggedDialogues(
        path=path,
        obs=pad(obs_flat, 0.0, np.float32),
        mask=pad(mask_flat, False, bool),
        action=pad(action, 0, np.int64),
        reward=pad(reward, 0.0, np.float64),
        pscore=pad(pscore, 1.0, np.float64),
        valid=valid,
        terminated=terminated[last],
        truncated=truncated[last],
        episode_ids=ids.astype(np.int64),
        scenario_hash=scenario_hash,
        metadata=metadata,
        summary=summary,
        overridden=overridden,
        warnings=warnings,
        visit=visit,
    )


def _fixed_list(column, dtype) -> np.ndarray:
    """A fixed-size-list column as a 2-D array."""
    arr = column.combine_chunks()
    width = arr.type.list_size
    values = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=dtype)
    return values.reshape(len(arr), width)
