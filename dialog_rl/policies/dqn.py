"""Double DQN with a target network, an n-step replay buffer and action masking.

Read top to bottom like CleanRL's ``dqn.py``: the hyperparameters (``DQNConfig``), then the
learner. Each finished conversation becomes n-step transitions in the replay buffer; after
``learning_starts`` turns, every turn played buys ``updates_per_turn`` gradient steps on
minibatches from it. The target is double DQN (van Hasselt et al. 2016): the online network picks
the next action, the target network values it, and both the greedy choice and the target's max
range only over the actions the mask allowed in that state.

Exploration is ε-greedy with ε decaying linearly over episodes; ``distribution`` returns the exact
ε-greedy probabilities (ε spread uniformly over allowed actions, the rest on the greedy one), so
logged propensities are the true ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Episode, Learner, epsilon_soft
from dialog_rl.policies.deep import (
    check_demos,
    check_meta,
    configure_torch,
    generator_array,
    get_array,
    load_generator_array,
    load_module_arrays,
    load_optimizer_arrays,
    make_config,
    make_generator,
    mask_logits,
    mlp,
    module_arrays,
    optimizer_arrays,
)
from dialog_rl.policies.replay import ReplayBuffer, ReplaySample
from dialog_rl.scenario import Domain


@dataclass
class DQNConfig:
    """Hyperparameters of ``DQNLearner`` (defaults tuned for 4000 dialogues on the shipped scenarios)."""

    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer sizes of the Q-network."""
    learning_rate: float = 5e-4
    """Adam step size."""
    gamma: float = 0.99
    """Discount per turn."""
    n_step: int = 3
    """Turns of real reward summed before bootstrapping from the target network."""
    buffer_size: int = 50_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Transitions per gradient step."""
    learning_starts: int = 500
    """Turns played before the first gradient step."""
    updates_per_turn: float = 1.0
    """Gradient steps per turn played (the replay ratio)."""
    target_update_interval: int = 100
    """Gradient steps between target-network updates."""
    tau: float = 1.0
    """Target update rate: 1.0 copies the online network, smaller values blend (Polyak)."""
    epsilon_start: float = 1.0
    """Exploration rate of the first episode."""
    epsilon_end: float = 0.02
    """Exploration rate after ``exploration_episodes``."""
    exploration_episodes: int = 2000
    """Episodes over which ε decays linearly from start to end. Half the 4000-dialogue budget:
    with shorter schedules DQN sometimes settles, on shopping at 30% noise, on handing every
    customer over at once before it has seen enough successes to value a real conversation."""
    huber_delta: float = 0.0
    """TD loss: squared error if 0, else Huber with this threshold. Squared error by default:
    Huber caps how hard a rare success can pull its Q-value up, and with sparse successes DQN
    then learns that handing over at once is best (seen on order support and shopping)."""
    max_grad_norm: float = 10.0
    """Gradient clipping threshold (global L2 norm)."""
    clone_epochs: int = 30
    """Passes over the demonstrations in ``clone``."""
    clone_batch_size: int = 64
    """Demonstration turns per gradient step in ``clone``."""
    clone_margin: float = 0.8
    """Margin by which ``clone`` makes the demonstrated action beat the others (DQfD)."""

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        checks = [
            (all(h > 0 for h in self.hidden), "hidden sizes must be positive"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0.0 <= self.gamma <= 1.0, "gamma must be in [0, 1]"),
            (self.n_step >= 1, "n_step must be at least 1"),
            (self.buffer_size >= self.batch_size >= 1, "need buffer_size >= batch_size >= 1"),
            (self.learning_starts >= 0, "learning_starts must be >= 0"),
            (self.updates_per_turn >= 0, "updates_per_turn must be >= 0"),
            (self.target_update_interval >= 1, "target_update_interval must be >= 1"),
            (0.0 < self.tau <= 1.0, "tau must be in (0, 1]"),
            (0.0 <= self.epsilon_end <= 1.0, "epsilon_end must be in [0, 1]"),
            (0.0 <= self.epsilon_start <= 1.0, "epsilon_start must be in [0, 1]"),
            (self.exploration_episodes >= 0, "exploration_episodes must be >= 0"),
            (self.max_grad_norm > 0, "max_grad_norm must be positive"),
            (self.huber_delta >= 0, "huber_delta must be >= 0"),
            (self.clone_epochs >= 0 and self.clone_batch_size >= 1, "bad clone settings"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"DQN hyperparameters: {message}")


def n_step_transitions(episode: Episode, n: int, gamma: float) -> ReplaySample:
    """The episode's n-step transitions as numpy arrays (see ``ReplaySample``).

    From decision ``t`` the return sums ``k = min(n, T - t)`` rewards and bootstraps from the state
    ``k`` turns later: the next decision's, or ``final_obs`` when that is the end, in which case it
    bootstraps only if the episode was cut short rather than terminated.
    """
    T = len(episode.actions)
    rewards = np.asarray(episode.rewards, dtype=np.float64)
    all_obs = np.concatenate([episode.obs, episode.final_obs[None]]).astype(np.float32)
    all_masks = np.concatenate([episode.masks, episode.final_mask[None]]).astype(bool)
    returns = np.zeros(T, dtype=np.float64)
    discounts = np.zeros(T, dtype=np.float64)
    nxt = np.zeros(T, dtype=np.int64)
    for t in range(T):
        k = min(n, T - t)
        returns[t] = sum(gamma**i * rewards[t + i] for i in range(k))
        nxt[t] = t + k
        discounts[t] = gamma**k if (t + k < T or not episode.terminated) else 0.0
    return ReplaySample(
        obs=all_obs[:T],
        masks=all_masks[:T],
        actions=np.asarray(episode.actions, dtype=np.int64),
        returns=returns.astype(np.float32),
        next_obs=all_obs[nxt],
        next_masks=all_masks[nxt],
        discounts=discounts.astype(np.float32),
    )


class DQNLearner(Learner):
    """Double DQN over the scenario's action catalog.

    Args:
        domain: the compiled scenario (its action catalog sizes the output layer).
        spec: the environment's observation spec (sizes the input layer).
        seed: the one seed; initial weights and minibatch draws come from torch generators
            seeded from it.
        **hyperparams: fields of ``DQNConfig``.
    """

    name = "dqn"
    algo = "dqn"
    stochastic = True

    def __init__(self, domain: Domain, spec: ObservationSpec, seed: int, **hyperparams) -> None:
        configure_torch()
        self.cfg: DQNConfig = make_config(DQNConfig, "DQN", hyperparams)
        self.seed = int(seed)
        self.obs_dim = spec.size
        self.n_actions = domain.n_actions
        c = self.cfg
        sizes = [self.obs_dim, *c.hidden, self.n_actions]
        self.q_network = mlp(sizes, make_generator(self.seed, 0))
        self.target_network = mlp(sizes, make_generator(self.seed, 0))
        self.target_network.load_state_dict(self.q_network.state_dict())
        self.optimizer = torch.optim.Adam(self.q_network.parameters(), lr=c.learning_rate)
        self.generator = make_generator(self.seed, 1)
        self.replay = ReplayBuffer(c.buffer_size, self.obs_dim, self.n_actions)
        self.episodes = 0
        self.turns = 0
        self.updates = 0

    def config(self) -> dict:
        out = dataclasses.asdict(self.cfg)
        out["hidden"] = list(out["hidden"])
        return out

    # -- acting --------------------------------------------------------------------------------

    def epsilon(self) -> float:
        """ε for the next episode: linear from ``epsilon_start`` to ``epsilon_end``."""
        c = self.cfg
        if c.exploration_episodes == 0:
            return c.epsilon_end
        frac = min(self.episodes / c.exploration_episodes, 1.0)
        return c.epsilon_start + frac * (c.epsilon_end - c.epsilon_start)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of every action (masked ones included) at one observation."""
        with torch.no_grad():
            q = self.q_network(torch.as_tensor(obs, dtype=torch.float32))
        return q.numpy().astype(np.float64)

    def distribution(
        self, obs: np.ndarray, mask: np.ndarray, explore: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Q-values as scores; ε-greedy probabilities over allowed actions (greedy if not exploring)."""
        q = self.q_values(obs)
        allowed = np.flatnonzero(mask)
        if len(allowed) == 0:
            raise ValueError("the action mask allows no action")
        greedy = int(allowed[np.argmax(q[allowed])])
        return q, epsilon_soft(greedy, mask, self.epsilon() if explore else 0.0)

    # -- learning ------------------------------------------------------------------------------

    def learn(self, episode: Episode) -> dict[str, float]:
        c = self.cfg
        T = len(episode.actions)
        if T:
            self.replay.add(n_step_transitions(episode, c.n_step, c.gamma))
        self.turns += T
        self.episodes += 1
        due = int(max(0, self.turns - c.learning_starts) * c.updates_per_turn) - self.updates
        losses, qs = [], []
        for _ in range(max(due, 0)):
            loss, q = self._update()
            losses.append(loss)
            qs.append(q)
        metrics = {"charts/epsilon": self.epsilon(), "charts/replay_size": float(len(self.replay))}
        if losses:
            metrics["losses/td"] = float(np.mean(losses))
            metrics["values/q"] = float(np.mean(qs))
        return metrics

    def _update(self) -> tuple[float, float]:
        """One gradient step on a replay minibatch; returns the TD loss and the mean Q taken."""
        c = self.cfg
        b = self.replay.sample(c.batch_size, self.generator)
        target = self.td_target(b)
        q = self.q_network(b.obs).gather(1, b.actions[:, None]).squeeze(1)
        if c.huber_delta > 0:
            loss = F.huber_loss(q, target, delta=c.huber_delta)
        else:
            loss = F.mse_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q_network.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.updates % c.target_update_interval == 0:
            self._update_target()
        return float(loss.detach()), float(q.detach().mean())

    def td_target(self, batch: ReplaySample) -> torch.Tensor:
        """Double DQN targets [B]: the online network picks the best *allowed* next action, the
        target network values it; terminated transitions (discount 0) keep only their return."""
        with torch.no_grad():
            next_action = mask_logits(self.q_network(batch.next_obs), batch.next_masks).argmax(1)
            next_q = self.target_network(batch.next_obs).gather(1, next_action[:, None]).squeeze(1)
            return batch.returns + batch.discounts * next_q

    def _update_target(self) -> None:
        tau = self.cfg.tau
        with torch.no_grad():
            for t, p in zip(self.target_network.parameters(), self.q_network.parameters()):
                if tau >= 1.0:
                    t.copy_(p)
                else:
                    t.mul_(1.0 - tau).add_(p, alpha=tau)

    def clone(
        self, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray, weights: np.ndarray
    ) -> dict[str, float]:
        """Warm start from demonstrations with DQfD's large-margin loss (Hester et al. 2018).

        Pushes Q of the demonstrated action above every other allowed action by ``clone_margin``;
        Q of the demonstrated actions themselves is left for TD learning to calibrate.

        Args:
            obs: float32 [N, obs_dim] states.
            masks: [N, n_actions] action masks (nonzero = allowed).
            actions: int [N] demonstrated actions (each allowed by its mask).
            weights: float [N] per-turn weights (e.g. more for human overrides).
        """
        x, m, a, w = check_demos(obs, masks, actions, weights, self.obs_dim, self.n_actions)
        c = self.cfg
        margin = c.clone_margin * (1.0 - F.one_hot(a, self.n_actions).float())
        loss_v = torch.tensor(0.0)
        for _ in range(c.clone_epochs):
            perm = torch.randperm(len(a), generator=self.generator)
            for start in range(0, len(a), c.clone_batch_size):
                i = perm[start : start + c.clone_batch_size]
                q = self.q_network(x[i])
                best = mask_logits(q + margin[i], m[i]).max(1).values
                per = best - q.gather(1, a[i, None]).squeeze(1)
                loss_v = (w[i] * per).sum() / w[i].sum().clamp_min(1e-12)
                self.optimizer.zero_grad()
                loss_v.backward()
                torch.nn.utils.clip_grad_norm_(self.q_network.parameters(), c.max_grad_norm)
                self.optimizer.step()
        self.target_network.load_state_dict(self.q_network.state_dict())
        with torch.no_grad():
            chosen = mask_logits(self.q_network(x), m).argmax(1)
        return {
            "losses/bc": float(loss_v.detach()),
            "bc/accuracy": float(((chosen == a).float() * w).sum() / w.sum().clamp_min(1e-12)),
        }

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {
            **module_arrays("q_network", self.q_network),
            **module_arrays("target_network", self.target_network),
            **optimizer_arrays("optimizer", self.optimizer),
            "generator": generator_array(self.generator),
        }
        replay_arrays, replay_meta = self.replay.state()
        arrays.update(replay_arrays)
        meta = {
            "algo": self.algo,
            "seed": self.seed,
            "config": self.config(),
            "counters": {"episodes": self.episodes, "turns": self.turns, "updates": self.updates},
            "replay": replay_meta,
        }
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        check_meta(meta, self.algo, self.config())
        load_module_arrays("q_network", self.q_network, arrays)
        load_module_arrays("target_network", self.target_network, arrays)
        load_optimizer_arrays("optimizer", self.optimizer, arrays)
        load_generator_array(self.generator, get_array(arrays, "generator"))
        self.replay.load_state(arrays, meta["replay"])
        counters = meta["counters"]
        self.episodes = int(counters["episodes"])
        self.turns = int(counters["turns"])
        self.updates = int(counters["updates"])
