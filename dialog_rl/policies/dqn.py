"""Double DQN with a target network, an n-step replay buffer and action masking.

Read top to bottom like CleanRL's ``dqn.py``: the hyperparameters (``DQNConfig``), then the
learner. Each finished conversation becomes n-step transitions in the replay buffer; after
``learning_starts`` turns, every turn played buys ``updates_per_turn`` gradient steps on
minibatches from it. The target is double DQN (van Hasselt et al. 2016): the online network picks
the next action, the target network values it, and both the greedy choice and the target's max
range only over the actions the mask allowed in that state.

Exploration is ε-greedy with ε decaying linearly over episodes; ``distribution`` returns the exact
ε-greedy probabilities (ε spread over allowed actions, the rest on the greedy one), so logged
propensities are the true ones. The ε share is uniform except that the actions that end the
conversation (bye, hand-over) weigh ``explore_end_weight`` (0.1) against 1 for the others:
exploring should show the learner what later turns are worth, not cut conversations short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dialog_rl.acts import SYS_BYE, SYS_HANDOVER
from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.jit import njit
from dialog_rl.policies.base import Episode, row_uniforms
from dialog_rl.policies.deep import (
    DeepConfig,
    DeepLearner,
    check_config,
    check_demos,
    check_masks,
    forward_rows,
    make_generator,
    mask_logits,
    mlp,
)
from dialog_rl.policies.optim import Adam
from dialog_rl.policies.replay import ReplayBuffer, ReplaySample


@dataclass
class DQNConfig(DeepConfig):
    """Hyperparameters of ``DQNLearner`` (defaults tuned for 4000 dialogues on the shipped scenarios)."""

    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer sizes of the Q-network."""
    learning_rate: float = 5e-4
    """Adam step size."""
    n_step: int = 2
    """Turns of real reward summed before bootstrapping from the target network. The sum is the
    ε-greedy behaviour's reward, not the greedy policy's, and early behaviour often ends the
    conversation (bye, hand-over), so longer sums undervalue continuing, more so the longer the
    conversation: on cambridge (ten-turn, two-domain) 3 steps left DQN at 3.38 reward after
    4,000 dialogues against the rule's 8.64, 5 or 10 steps made every seed say bye at once, 2
    steps reached 10.57 with every seed above the rule, and cost the shipped one-domain settings
    0-0.6 reward (`benchmarks/learning.py`, December 2026). Cutting each sum at the first
    non-greedy action (Watkins's Q(λ)) fixed cambridge too but cost up to 0.9 elsewhere."""
    buffer_size: int = 50_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Transitions per gradient step."""
    learning_starts: int = 500
    """Turns played before the first gradient step."""
    updates_per_turn: float = 0.25
    """Gradient steps per turn played (the replay ratio; SB3's default ``train_freq=4``). One
    step per turn (the default until December 2026) cost four times the CPU and learned less:
    the learning table's DQN reward rose in every setting at 0.25 (``benchmarks/learning.py``,
    README)."""
    target_update_interval: int = 25
    """Gradient steps between target-network updates (25 steps = 100 turns at the default
    replay ratio: the period the target had at one step per turn)."""
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
    explore_end_weight: float = 0.1
    """Weight of each conversation-ending action (bye, handover) in ε-exploration, relative to
    1 for every other allowed action. Uniform exploration (1.0) ends a conversation within a few
    turns (2 of ~17 actions per turn), so the replay buffer holds few successes; a hand-over's
    value (a sure small loss) is then learned long before any continuation's, and DQN settled
    on handing every customer over at the first turn (shopping at 30% noise, seed 0). Kept
    above 0 so every allowed action keeps a logged propensity above 0 (off-policy evaluation
    needs that support), and Q of ending actions is still checked outside the greedy choice."""
    huber_delta: float = 0.0
    """TD loss: squared error if 0, else Huber with this threshold. Squared error by default:
    Huber caps how hard a rare success can pull its Q-value up, and with sparse successes DQN
    then learns that handing over at once is best (seen on order support and shopping)."""
    max_grad_norm: float = 10.0
    """Gradient clipping threshold (global L2 norm)."""
    clone_margin: float = 0.8
    """Margin by which ``clone`` makes the demonstrated action beat the others (DQfD)."""

    def __post_init__(self) -> None:
        check_config(
            self,
            "DQN",
            [
                (self.n_step >= 1, "n_step must be at least 1"),
                (self.buffer_size >= self.batch_size >= 1, "need buffer_size >= batch_size >= 1"),
                (self.learning_starts >= 0, "learning_starts must be >= 0"),
                (self.updates_per_turn >= 0, "updates_per_turn must be >= 0"),
                (self.target_update_interval >= 1, "target_update_interval must be >= 1"),
                (0.0 < self.tau <= 1.0, "tau must be in (0, 1]"),
                (0.0 <= self.epsilon_end <= 1.0, "epsilon_end must be in [0, 1]"),
                (0.0 <= self.epsilon_start <= 1.0, "epsilon_start must be in [0, 1]"),
                (self.exploration_episodes >= 0, "exploration_episodes must be >= 0"),
                (self.huber_delta >= 0, "huber_delta must be >= 0"),
                (self.explore_end_weight >= 0, "explore_end_weight must be >= 0"),
            ],
        )


@njit(cache=True)
def _argmax(v: np.ndarray) -> int:
    """``np.argmax``: the first maximum, or the first NaN if there is one."""
    best, at = v[0], 0
    if np.isnan(best):
        return 0
    for j in range(1, len(v)):
        if not v[j] <= best:
            best, at = v[j], j
            if np.isnan(best):
                break
    return at


@njit(cache=True)
def _numpy_sum(w: np.ndarray) -> float:
    """``np.sum`` of a contiguous float64 row of at most 128 entries, in numpy's order (its
    pairwise sum: eight running sums combined as a tree, then the rest one by one)."""
    n = len(w)
    if n < 8:
        res = 0.0
        for i in range(n):
            res += w[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    i = 8
    while i < n - n % 8:
        r0 += w[i]
        r1 += w[i + 1]
        r2 += w[i + 2]
        r3 += w[i + 3]
        r4 += w[i + 4]
        r5 += w[i + 5]
        r6 += w[i + 6]
        r7 += w[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += w[i]
        i += 1
    return res


#: most actions ``_epsilon_greedy`` handles (numpy sums longer rows in another order)
KERNEL_MAX_ACTIONS = 128


@njit(cache=True)
def _epsilon_greedy(
    q: np.ndarray,
    masks: np.ndarray,
    weights: np.ndarray,
    eps: float,
    u: np.ndarray,
    sample: bool,
    actions: np.ndarray,
    props: np.ndarray,
) -> int:
    """``DQNLearner.rows`` then ``sample_rows``, fused, row by row, the same float operations
    in the same order (so the same bits): the first allowed maximum of ``q`` takes 1 - ε, ε is
    spread over the allowed actions by ``weights`` (uniformly if they weigh nothing), then the
    row draws with ``u`` (``sample``) or takes its most probable action. Returns the first row
    that allows nothing, or -1."""
    n, n_actions = q.shape
    allowed_q = np.empty(n_actions, dtype=np.float32)
    w = np.empty(n_actions)
    probs = np.empty(n_actions)
    cum = np.empty(n_actions)
    for i in range(n):
        any_allowed = False
        for j in range(n_actions):
            ok = masks[i, j] != 0
            any_allowed |= ok
            allowed_q[j] = q[i, j] if ok else -np.inf
            w[j] = weights[j] if ok else 0.0
        if not any_allowed:
            return i
        greedy = _argmax(allowed_q)
        total = _numpy_sum(w)
        if not total > 0:
            for j in range(n_actions):
                w[j] = 1.0 if masks[i, j] != 0 else 0.0
            total = _numpy_sum(w)
        for j in range(n_actions):
            probs[j] = w[j] / total * eps
        probs[greedy] += 1.0 - eps
        if sample:
            acc = 0.0
            for j in range(n_actions):
                acc = probs[j] if j == 0 else acc + probs[j]
                cum[j] = acc
            threshold = u[i] * cum[n_actions - 1]
            a = 0
            for j in range(n_actions):
                if cum[j] <= threshold:
                    a += 1
            a = min(a, n_actions - 1)
        else:
            a = _argmax(probs)
        actions[i] = a
        props[i] = probs[a]
    return -1


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


class DQNLearner(DeepLearner):
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
    label = "DQN"
    config_class = DQNConfig

    def __init__(self, domain: Domain, spec: ObservationSpec, seed: int, **hyperparams) -> None:
        super().__init__(domain, spec, seed, **hyperparams)
        self.cfg: DQNConfig
        c = self.cfg
        sizes = [self.obs_dim, *c.hidden, self.n_actions]
        self.q_network = mlp(sizes, make_generator(self.seed, 0))
        self.target_network = mlp(sizes, make_generator(self.seed, 0))
        self.target_network.load_state_dict(self.q_network.state_dict())
        self.q_params = list(self.q_network.parameters())
        self.optimizer = Adam(self.q_params, lr=c.learning_rate)
        self.generator = make_generator(self.seed, 1)
        self.replay = ReplayBuffer(c.buffer_size, self.obs_dim, self.n_actions)
        ends = np.isin(np.asarray(domain.act_kind), (SYS_BYE, SYS_HANDOVER))
        self.explore_weights = np.where(ends, c.explore_end_weight, 1.0)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"q_network": self.q_network, "target_network": self.target_network}

    # -- acting --------------------------------------------------------------------------------

    def epsilon(self) -> float:
        """ε for the next episode: linear from ``epsilon_start`` to ``epsilon_end``."""
        c = self.cfg
        if c.exploration_episodes == 0:
            return c.epsilon_end
        frac = min(self.episodes / c.exploration_episodes, 1.0)
        return c.epsilon_start + frac * (c.epsilon_end - c.epsilon_start)

    def rows(
        self, obs: np.ndarray, masks: np.ndarray, explore: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Q-values as scores; ε-greedy probabilities around each row's first allowed maximum
        of Q (greedy if not exploring), ε spread over the allowed actions in proportion to
        ``explore_weights`` (uniformly if the row allows only weight-0 actions)."""
        allowed = check_masks(masks)
        q = forward_rows(self.q_network, obs)
        # float32 -> float64 is exact and keeps the order, so the argmax is the same either way
        greedy = np.where(allowed, q, np.float32(-np.inf)).argmax(axis=1)
        eps = self.epsilon() if explore else 0.0
        w = allowed * self.explore_weights
        total = w.sum(axis=1, keepdims=True)
        if not (total > 0).all():
            # a row that allows only weight-0 actions explores uniformly over what it allows
            w = np.where(total > 0, w, allowed.astype(np.float64))
            total = w.sum(axis=1, keepdims=True)
        probs = w / total * eps
        probs[np.arange(len(q)), greedy] += 1.0 - eps
        return q.astype(np.float64), probs

    def act_batch(self, obs, masks, *, explore=True, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``DeepLearner.act_batch`` (``rows`` then ``sample_rows``) with the ε-greedy choice and
        the draw compiled in one pass over the rows: the same actions and propensities, bit for
        bit, without the [n, n_actions] float64 temporaries."""
        masks = np.asarray(masks)
        if self.n_actions > KERNEL_MAX_ACTIONS or masks.shape != (len(obs), self.n_actions):
            return super().act_batch(obs, masks, explore=explore, rng=rng)
        if masks.dtype == np.bool_:
            masks = masks.view(np.int8)
        n = len(masks)
        q = forward_rows(self.q_network, obs)
        sample = explore and rng is not None
        u = row_uniforms(rng, n) if sample else np.zeros(0)
        actions = np.empty(n, dtype=np.int64)
        props = np.empty(n, dtype=np.float64)
        eps = self.epsilon() if explore else 0.0
        bad = _epsilon_greedy(q, masks, self.explore_weights, eps, u, sample, actions, props)
        if bad != -1:
            raise ValueError("the action mask allows no action")
        return actions, props

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
        self.step(loss, self.q_params)
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
        margin = self.cfg.clone_margin * (1.0 - F.one_hot(a, self.n_actions).float())

        def margin_loss(i: torch.Tensor) -> torch.Tensor:
            q = self.q_network(x[i])
            best = mask_logits(q + margin[i], m[i]).max(1).values
            return best - q.gather(1, a[i, None]).squeeze(1)

        loss = self.fit_demos(w, margin_loss, list(self.q_network.parameters()))
        self.target_network.load_state_dict(self.q_network.state_dict())
        with torch.no_grad():
            return self.clone_metrics(loss, self.q_network(x), m, a, w)

    # -- state ---------------------------------------------------------------------------------

    def extra_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays, meta = self.replay.state()
        return arrays, {"replay": meta}

    def load_extra_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.replay.load_state(arrays, meta["replay"])
