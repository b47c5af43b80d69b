"""What the training loop is told and what it knows: ``TrainConfig``, ``LoopState``, ``TrainResult``.

``dialog_rl.train.loop`` runs the loop over them (and re-exports them, with the constants).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from dialog_rl.policies.base import Decision, Episode, Learner
from dialog_rl.seeding import CONVERSATIONS_VERSION
from dialog_rl.train.rundir import TrainError

#: held-out evaluation conversations are episodes EVAL_OFFSET + j; training ones are below it
EVAL_OFFSET = 1 << 40
EVAL_SEED = 0
#: most held-out conversations played at once in an evaluation
EVAL_ROWS = 256
#: default discount per turn on lifetime runs: a horizon (1 / (1 - γ)) of 200 turns spans a
#: customer's visits (tens of conversations of a few turns), where per-conversation learners'
#: defaults (up to 0.99: 100 turns) would see little past the next visit or two
LIFETIME_GAMMA = 0.995
#: default episodes per round (``TrainConfig.rollout_batch``) of the algorithms that gain from
#: rounds. DQN learns from a replay buffer at a fixed replay ratio, so learning after a round of
#: 16 rather than after each episode changes little, and acting on 16 conversations per forward
#: pass costs a third of acting on one (0.54 against 1.6 CPU s per 2,000 restaurant
#: conversations). The others learn after every episode (bandits update per conversation, PPO
#: buffers its own batch); lifetimes are played one at a time.
ROLLOUT_BATCH = {"dqn": 16}


@dataclass
class TrainConfig:
    """Arguments of one training run."""

    algo: str
    """Learning algorithm: egreedy, linucb, thompson, dqn or ppo."""
    dialogues: int = 4000
    """Training conversations to play and learn from."""
    seed: int = 0
    """The one seed: the learner's initialisation and every training conversation."""
    noise: float | None = None
    """Semantic error rate of the channel; None keeps the scenario's."""
    hyperparameters: dict = field(default_factory=dict)
    """Keyword arguments of the learner's constructor."""
    eval_every: int = 500
    """Dialogues between greedy evaluations (one also runs before training and at the end)."""
    eval_episodes: int = 200
    """Held-out conversations per evaluation."""
    eval_seed: int = EVAL_SEED
    """Seed of the held-out conversations (the same set for every run, so runs compare paired)."""
    checkpoint_every: int = 500
    """Dialogues between checkpoints (one is also written at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept in ``checkpoints/`` (older ones are deleted)."""
    demos: str | None = None
    """Parquet log(s) to behaviour-clone before training (warm start)."""
    override_weight: float = 5.0
    """Weight of demonstration rows a person chose in the TUI (other rows weigh 1)."""
    channel: str = "act"
    """Channel of the customer's words: "act" or "text"."""
    max_turns: int | None = None
    """Turn limit; None keeps the scenario's."""
    rollout_batch: int | None = None
    """Episodes played per snapshot of the learner before it learns from them, in order
    (``train.collect``, on a vector env: one forward pass per step for all of them); 1 learns
    after every episode. Results depend on it, never on workers. None: ``ROLLOUT_BATCH``'s
    value for the algorithm."""
    workers: int = 1
    """Rollout worker processes (or Ray actors) that play each round (needs rollout_batch > 1)."""
    backend: str = "local"
    """Where rollout workers run: ``local`` (processes) or ``ray``."""
    address: str | None = None
    """Ray cluster address with backend ``ray`` (None: a local Ray instance)."""
    lifetime: bool = False
    """Train on customer lifetimes (``LifetimeEnv``, the scenario needs a ``lifetime`` section):
    an episode is one customer's visits, its return the lifetime value, and ``dialogues``
    counts customers. The observation gains the ``life.*`` history features."""
    gamma: float | None = None
    """The learner's discount per turn (its ``gamma`` hyperparameter); None keeps the learner's
    default, or ``LIFETIME_GAMMA`` on lifetime runs."""

    def __post_init__(self) -> None:
        if self.rollout_batch is None:
            self.rollout_batch = 1 if self.lifetime else ROLLOUT_BATCH.get(self.algo, 1)

        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TrainError(f"{name} must be a whole number >= {low}, got {value!r}")

        whole("dialogues", 0)
        whole("eval_every", 1)
        whole("eval_episodes", 1)
        whole("checkpoint_every", 1)
        whole("keep_checkpoints", 1)
        whole("rollout_batch", 1)
        whole("workers", 1)
        if self.backend not in ("local", "ray"):
            raise TrainError(f"backend must be local or ray, got {self.backend!r}")
        if (self.workers > 1 or self.backend == "ray") and self.rollout_batch == 1:
            raise TrainError(
                "rollout workers play rounds of episodes with a snapshot of the learner: pass "
                "--rollout-batch K > 1 too (episodes per snapshot; results depend on K, not on "
                "the number of workers)"
            )
        if self.dialogues >= EVAL_OFFSET:
            raise TrainError(f"dialogues must be below {EVAL_OFFSET}, got {self.dialogues}")
        if self.noise is not None and not 0.0 <= self.noise <= 1.0:
            raise TrainError(f"noise must be in [0, 1], got {self.noise}")
        if not isinstance(self.hyperparameters, dict):
            raise TrainError(f"hyperparameters must be a dict, got {self.hyperparameters!r}")
        if self.gamma is not None:
            if isinstance(self.gamma, bool) or not 0.0 <= self.gamma <= 1.0:
                raise TrainError(f"gamma must be in [0, 1], got {self.gamma!r}")
            given = self.hyperparameters.get("gamma", self.gamma)
            if given != self.gamma:
                raise TrainError(
                    f"gamma given twice: --gamma {self.gamma} and --hp gamma={given}; pass one"
                )

    def learner_hyperparameters(self) -> dict:
        """The learner's keyword arguments: ``hyperparameters`` plus the discount."""
        hp = dict(self.hyperparameters)
        gamma = (
            self.gamma if self.gamma is not None else (LIFETIME_GAMMA if self.lifetime else None)
        )
        if gamma is not None:
            hp.setdefault("gamma", gamma)
        return hp

    def to_dict(self) -> dict:
        """The run's arguments, and which conversations its seed plays (``run.json``)."""
        return {**dataclasses.asdict(self), "conversations": CONVERSATIONS_VERSION}


@dataclass
class LoopState:
    """What the loop knows at any point; callbacks read it as ``self.loop``."""

    algo: str
    dialogues: int
    learner: Learner
    episode: int = 0
    """Training dialogues learned so far (the index of the next one)."""
    turns: int = 0
    """Training turns played so far."""
    conversations: int = 0
    """Training conversations played so far (more than ``episode`` on lifetime runs)."""
    curve: list[dict] = field(default_factory=list)
    window: dict = field(default_factory=lambda: {"sums": {}, "counts": {}})
    """Sums of per-episode metrics since the last curve row."""
    decision: Decision | None = None
    episode_data: Episode | None = None
    metrics: dict = field(default_factory=dict)

    def add(self, metrics: dict[str, float]) -> None:
        sums, counts = self.window["sums"], self.window["counts"]
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1

    def window_means(self) -> dict[str, float]:
        sums, counts = self.window["sums"], self.window["counts"]
        means = {k: sums[k] / counts[k] for k in sorted(sums)}
        self.window = {"sums": {}, "counts": {}}
        return means

    def training_state(self, config: TrainConfig, demos_sha256: str | None) -> dict:
        identity = config.to_dict()
        # where rollouts run never changes results (train.collect), so it is not identity
        for key in (
            "checkpoint_every",
            "keep_checkpoints",
            "demos",
            "workers",
            "backend",
            "address",
        ):
            identity.pop(key)
        identity["demos_sha256"] = demos_sha256
        return {
            "config": identity,
            "episode": self.episode,
            "turns": self.turns,
            "conversations": self.conversations,
            "curve": self.curve,
            "window": self.window,
        }


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` returns."""

    learner: Learner
    curve: list[dict]
    """Learning-curve rows (the last is the final greedy evaluation)."""
    episodes: int
    stopped: bool
    """True if a callback stopped training early."""
    cpu_seconds: float
    """CPU time of this call (all threads), setup included."""
    out: Path | None
    conversations: int = 0
    """Training conversations played in all (``episodes`` unless training on lifetimes)."""
