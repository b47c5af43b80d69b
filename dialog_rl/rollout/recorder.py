"""Episode logs written from a vector env's columns: how ``simulate --out`` logs.

``PartRecorder`` rides along a batched rollout of whole parts (``batched.run_batched_columns(...,
recorder=...)``) and keeps each step's decisions as arrays: observations, masks, actions,
propensities, rewards and flags, and the acts said and heard as small integer codes
(``act_columns``). When the rollout ends, its rows are put in (episode, turn) order once, the act
strings built for all of them by Arrow kernels, and each part written whole from its slice of
the columns. The table is the one ``logs.EpisodeLogWriter`` builds from one-at-a-time episodes,
value for value, so a log does not depend on how many conversations were stepped together
(``tests/test_backends.py``). A rollout holds its rows until it ends: its chunks of work are a few
batches of episodes (``backends.RolloutJob.chunks``), some tens of megabytes.

Utterances are a function of the acts and keyed draws (``dialogue_env.customer_text`` and
``agent_text``): with ``text`` they are realised row by row when the parts are written, otherwise
the text columns are null. Only that costs a Python call per turn.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pyarrow as pa

from dialog_rl.env.dialogue_env import agent_text, customer_text
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.rollout.act_columns import ActCodes
from dialog_rl.rollout.logs import TEXT_COLUMNS, log_schema, parquet_bytes
from dialog_rl.seeding import episode_seeds

#: a step's columns that are rows of act codes (and their confidences): padded to one width
_WIDE = ("user", "observed", "confidence", "reply")


class PartRecorder:
    """Logs the turns of a vector env's batched rollouts as Parquet parts.

    Args:
        vec: the vector env the rollouts step (its ``on_turn`` hook is set while one runs).
        seed: the run's seed (utterances are keyed by the episode seeds).
        part_episodes: episodes per part; every rollout recorded covers whole parts.
        metadata: schema metadata of every part.
        write: called with ``(part, bytes)`` of each part file, in part order.
        text: realise utterances (else the text columns are null).
    """

    def __init__(
        self,
        vec: DialogueVectorEnv,
        seed: int,
        part_episodes: int,
        metadata: dict[str, str],
        write: Callable[[int, bytes], None],
        *,
        text: bool = False,
    ) -> None:
        d = vec.domain
        self.vec = vec
        self.domain = d
        self.seed = seed
        self.part_episodes = part_episodes
        self.schema = log_schema(vec.spec_obs.size, d.n_actions).with_metadata(metadata)
        self.write = write
        self.text = text
        self.codes = ActCodes(d)
        self._act_names = pa.array(d.act_names)
        self._personas = pa.array([p.name for p in d.personas])
        self._turn = np.zeros(vec.num_envs, dtype=np.int64)
        self._episodes = range(0)
        self._steps: list[dict[str, np.ndarray]] = []
        self._step: dict[str, np.ndarray] = {}
        self._outcome = np.empty(0, dtype=object)
        self._success = np.zeros(0, dtype=bool)
        self._nlg = None
        if text:
            from simulators.customer_nlg import UserNLG

            self._nlg = UserNLG(d)

    # -- driven by the rollout -----------------------------------------------------------------

    def begin(self, episodes: range) -> None:
        """A rollout of ``episodes`` starts (whole parts; the run's last part may be short)."""
        if episodes.start % self.part_episodes:
            raise ValueError(
                f"a recorded rollout starts on a part, not at episode {episodes.start}"
            )
        self._episodes = episodes
        self._turn[:] = 0
        self._steps = []
        self._outcome = np.empty(len(episodes), dtype=object)
        self._success = np.zeros(len(episodes), dtype=bool)

    def before(
        self,
        obs: np.ndarray,
        masks: np.ndarray,
        actions: np.ndarray,
        propensities: np.ndarray,
        active: np.ndarray,
    ) -> None:
        """The decisions about to be played in the ``active`` slots, and what they were made on."""
        rows = np.flatnonzero(active)
        read = self.vec.engine.read
        observed = self.codes.encode(read("heard", rows), read("heard_n", rows))
        self._step = {
            "episode": self.vec.episodes[rows],
            "turn": self._turn[rows],
            "obs": obs[rows],
            "mask": masks[rows],
            "action": actions[rows],
            "propensity": propensities[rows],
            "user": self.codes.encode(read("said", rows), read("said_n", rows)),
            "observed": observed,
            "confidence": read("heard_conf", rows)[:, : observed.shape[1]],
            "persona": read("persona", rows),
        }
        if self.text:  # the belief the agent speaks from: before its act
            self._step["belief"] = read("belief", rows)

    def after_turn(
        self, rows: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray
    ) -> None:
        """The vector env's ``on_turn`` hook: the customer's reply is still in the engine."""
        read = self.vec.engine.read
        step = self._step
        step["reward"] = rewards[rows]
        step["terminated"] = terminated[rows]
        step["truncated"] = truncated[rows]
        step["reply"] = self.codes.encode(read("said", rows), read("said_n", rows))
        if self.text:
            step["sys_value"] = read("sys_value", rows)
            step["sys_entity"] = read("sys_entity", rows)
        self._steps.append(step)
        self._step = {}
        self._turn[rows] += 1
        self._turn[rows[step["terminated"] | step["truncated"]]] = 0  # the slot starts anew

    def finished(self, episodes: np.ndarray, outcomes: np.ndarray, success: np.ndarray) -> None:
        """Episodes that ended this step, with their outcome names."""
        local = episodes - self._episodes.start
        self._outcome[local] = outcomes
        self._success[local] = success

    def end(self) -> None:
        """The rollout is over: write its parts, in order."""
        if not self._steps:
            return
        c = _join(self._steps)
        self._steps = []
        order = np.lexsort((c["turn"], c["episode"]))
        c = {key: values[order] for key, values in c.items()}
        local = c["episode"] - self._episodes.start
        codes = self.codes
        columns = {
            "episode": pa.array(c["episode"]),
            "turn": pa.array(c["turn"].astype(np.int32)),
            "obs": _fixed(c["obs"].astype(np.float32, copy=False)),
            "mask": _fixed(c["mask"].astype(bool)),
            "action": pa.array(c["action"].astype(np.int32)),
            "action_name": self._act_names.take(pa.array(c["action"])),
            "propensity": pa.array(c["propensity"].astype(np.float64, copy=False)),
            "reward": pa.array(c["reward"]),
            "terminated": pa.array(c["terminated"]),
            "truncated": pa.array(c["truncated"]),
            "user_acts": codes.strings(c["user"]),
            "observed_acts": codes.strings(c["observed"], c["confidence"]),
            "reply_acts": codes.strings(c["reply"]),
            "persona": self._personas.take(pa.array(c["persona"])),
            "outcome": pa.array(self._outcome, pa.string()).take(pa.array(local)),
            "success": pa.array(self._success[local]),
            "overridden": pa.array(np.zeros(len(order), dtype=bool)),
            "visit": pa.array(np.zeros(len(order), dtype=np.int32)),
        }
        if self.text:
            columns.update(zip(TEXT_COLUMNS, (pa.array(t) for t in self._texts(c))))
        else:
            columns.update((name, pa.nulls(len(order), pa.string())) for name in TEXT_COLUMNS)
        table = pa.Table.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)
        # rows are in episode order: each part is a slice
        size = self.part_episodes
        first = self._episodes.start // size
        bounds = np.arange(first, -(-self._episodes.stop // size) + 1) * size
        cuts = np.searchsorted(c["episode"], bounds).tolist()
        for k, (a, b) in enumerate(pairwise(cuts)):
            self.write(first + k, parquet_bytes(table.slice(a, b - a)))

    def _texts(self, c: dict[str, np.ndarray]) -> tuple[list[str], list[str], list[str]]:
        """The utterances of rows in (episode, turn) order: the customer's words before each
        decision, the agent's, and the customer's reply (the next row's words, or the last)."""
        d, nlg, acts = self.domain, self._nlg, self.codes.acts
        episode, turn = c["episode"].tolist(), c["turn"].tolist()
        seeds = episode_seeds(self.seed, c["episode"]).tolist()
        verbosity = [d.personas[p].verbosity for p in c["persona"].tolist()]
        said, replies = c["user"].tolist(), c["reply"].tolist()
        action, value, entity = (c[k].tolist() for k in ("action", "sys_value", "sys_entity"))
        beliefs = c["belief"].tolist()
        user, system, reply = [], [], []
        for i in range(len(episode)):
            words = [acts[x] for x in said[i] if x >= 0]
            user.append(customer_text(nlg, words, seeds[i], turn[i], verbosity[i]))
            system.append(
                agent_text(d, action[i], value[i], entity[i], beliefs[i], seeds[i], turn[i])
            )
        for i in range(len(episode)):
            if i + 1 < len(episode) and episode[i + 1] == episode[i]:
                reply.append(user[i + 1])  # the same words, realised with the same keyed draws
            else:
                words = [acts[x] for x in replies[i] if x >= 0]
                reply.append(customer_text(nlg, words, seeds[i], turn[i] + 1, verbosity[i]))
        return user, system, reply


def _join(steps: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The steps' columns end to end; act codes (and confidences) padded to one width (code
    -1: no act)."""
    out = {}
    for key in steps[0]:
        parts = [s[key] for s in steps]
        if key in _WIDE:
            width = max(p.shape[1] for p in parts)
            joined = np.full((sum(len(p) for p in parts), width), -1, dtype=parts[0].dtype)
            at = 0
            for p in parts:
                joined[at : at + len(p), : p.shape[1]] = p
                at += len(p)
            out[key] = joined
        else:
            out[key] = np.concatenate(parts)
    return out


def _fixed(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """Rows of a 2-D array as a fixed-size list column."""
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])
