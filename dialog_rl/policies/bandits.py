# Whole on purpose: three bandits are one LinearBandit (state, credit) plus ~40 lines each.
"""Contextual bandits over per-turn features: ε-greedy, LinUCB and linear Thompson sampling.

They are the myopic baselines. Each keeps one ridge regression per action, Li et al.'s (2010)
"disjoint" linear model: with ``x = [obs, 1]``,

    A_a = λI + Σ w·x xᵀ,   b_a = Σ w·y·x   over the turns where action ``a`` was taken,
    θ_a = A_a⁻¹ b_a,       predicted value  θ_a·x.

They differ only in how they choose among the allowed actions:

- ε-greedy: ``argmax θ_a·x``; with probability ε a uniform allowed action instead. ε decays
  linearly from ``epsilon_start`` to ``epsilon_end`` over ``decay_episodes`` conversations.
- LinUCB: ``argmax θ_a·x + α·R·√(xᵀA_a⁻¹x)`` (a deterministic choice: propensity 1).
- Thompson: ``argmax θ̃_a·x`` with ``θ̃_a ~ N(θ_a, (vR)²A_a⁻¹)``, drawn independently per action.

``R`` is the scenario's reward scale (its largest |outcome reward|), so ``α`` and ``v`` mean the
same on every scenario.

The regression target ``y`` of turn ``t`` is set by ``credit``:

- ``"turn"``: that turn's own reward (the bandit's myopic view: only the last turn sees the
  success bonus);
- ``"outcome"`` (default): that turn's own reward plus the conversation's outcome reward
  (success, failure or hand-over), which assigns the final outcome back to every turn that led
  to it without charging a turn for the cost of the turns after it;
- ``"return"``: the return from ``t`` to the end, ``Σ_{k≥t} γ^{k-t} r_k`` (Monte-Carlo credit).
  It charges each turn with every later turn's cost under the current policy, which makes ending
  the conversation at once (a sure, small loss) look best early on: learners fall into that trap
  on the scenarios where a hand-over is cheap relative to a long failed conversation.

When the episode is a customer's lifetime (``Episode.ends`` marks where each visit's
conversation ended), ``"outcome"`` adds to a turn's own reward its conversation's outcome reward
and the value of the customer's later visits (discounted by ``γ`` per turn from the end of the
conversation): the lifetime value the turn's conversation led to, without charging the turn for
the turns after it in the same conversation. The later visits' value is not the realised one (a
lottery: one customer comes back, the next does not) but its forecast from how the conversation
ended, learned across customers (``forecast.VisitForecast``). ``"turn"`` stays myopic and
``"return"`` is the realised return to the end of the lifetime.

``distribution`` is the true action distribution of the choice ``act`` makes: exact for ε-greedy
and LinUCB. For Thompson sampling, P(argmax = a) has no closed form; it is estimated from
``draws`` Monte-Carlo draws of the per-action scores. Since ``θ̃_a·x ~ N(θ_a·x, (vR)²·xᵀA_a⁻¹x)``
independently per action, a draw is ``μ + σ·z`` with ``z`` a row of a fixed ``[draws, n_actions]``
standard-normal matrix generated once from the learner's seed (common random numbers: the
estimate is a deterministic function of the state, so OPE recomputes the same numbers). ``act``
then samples the action from that estimate, so the logged propensity is exactly the probability
with which the action was chosen; the estimate only decides how closely the policy follows
textbook Thompson sampling (each probability within about ``1/√draws``).
"""

from __future__ import annotations

import numpy as np

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Episode, Learner, epsilon_soft
from dialog_rl.policies.forecast import VisitForecast

CREDITS = ("turn", "outcome", "return")
#: seed stream of the Thompson common random numbers (distinct from other users of the seed)
_THOMPSON_STREAM = 0x7A0


def masked_argmax(scores: np.ndarray, mask: np.ndarray) -> int:
    """Index of the highest score among allowed actions (ties: the lowest index)."""
    allowed = mask > 0
    if not allowed.any():
        raise ValueError("the action mask allows no action")
    return int(np.argmax(np.where(allowed, scores, -np.inf)))


def one_hot(action: int, n: int) -> np.ndarray:
    probs = np.zeros(n)
    probs[action] = 1.0
    return probs


def reward_scale(domain: Domain) -> float:
    """The largest outcome reward in absolute value (20 in the shipped scenarios), at least 1."""
    return float(max(abs(domain.r_success), abs(domain.r_failure), abs(domain.r_handover), 1.0))


def credit_targets(
    rewards: np.ndarray,
    credit: str,
    turn_reward: float = 0.0,
    gamma: float = 1.0,
    ends: np.ndarray | None = None,
    future: np.ndarray | None = None,
) -> np.ndarray:
    """Per-turn regression targets from an episode's rewards ([T] -> [T]).

    ``turn``: each turn's own reward. ``outcome``: each turn's own reward plus the episode's
    outcome reward (the last reward less the per-turn ``turn_reward``). ``return``: the discounted
    return from the turn to the end.

    ``ends`` (bool [T]) marks the last turn of each conversation of a lifetime episode; with it,
    ``outcome`` credits each turn with its own conversation's outcome reward plus the value of
    the later conversations: ``future[k]`` for conversation ``k`` when given ([K], a forecast),
    else their realised discounted return. Without ``ends`` the episode is one conversation.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    T = len(rewards)
    if credit == "turn" or T == 0:
        return rewards.copy()
    single = ends is None or np.count_nonzero(ends[:-1]) == 0
    if credit == "outcome" and single and future is None:
        out = rewards.copy()
        out[:-1] += rewards[-1] - turn_reward
        return out
    returns = np.empty_like(rewards)
    acc = 0.0
    for t in range(T - 1, -1, -1):
        acc = rewards[t] + gamma * acc
        returns[t] = acc
    if credit == "return":
        return returns
    # the last turn of each conversation, for every turn (the episode's last turn ends one)
    marks = np.zeros(T, dtype=bool) if ends is None else np.asarray(ends, dtype=bool)
    last = [*np.flatnonzero(marks[:-1]).tolist(), T - 1]
    out = rewards.copy()
    start = 0
    for k, end in enumerate(last):
        # the conversation's last reward plus what comes after it
        after = rewards[end] + future[k] if future is not None else returns[end]
        out[start:end] += after - turn_reward
        out[end] = after
        start = end + 1
    return out


class LinearBandit(Learner):
    """Shared machinery: one ridge regression per action, credit assignment, state, cloning.

    Args:
        domain: the compiled scenario.
        spec: the observation spec of the environment.
        seed: the learner's seed (used by Thompson sampling's draws).
        ridge: λ, the prior precision of every weight (the ridge penalty).
        credit: regression target of a turn: ``"turn"`` its own reward, ``"outcome"`` its own
            reward plus the conversation's outcome reward, ``"return"`` the return to the end.
        gamma: discount per turn of later rewards when ``credit="return"``, and of later visits'
            rewards with ``credit="outcome"`` on lifetime episodes.
    """

    algo = "bandit"

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        seed: int = 0,
        *,
        ridge: float = 1.0,
        credit: str = "outcome",
        gamma: float = 1.0,
    ) -> None:
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge}")
        if credit not in CREDITS:
            raise ValueError(f"credit must be one of {CREDITS}, got {credit!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if spec.action_names != domain.act_names:
            raise ValueError("the observation spec's actions differ from the scenario's catalog")
        self.n_actions = domain.n_actions
        self.dim = spec.size + 1
        self.seed = int(seed)
        self.ridge = float(ridge)
        self.credit = credit
        self.gamma = float(gamma)
        self.turn_reward = float(domain.r_turn)
        # Demonstrations say "this action, not those": the targets of behaviour cloning are the
        # scenario's success and failure rewards, the scale online targets live on.
        hi, lo = domain.r_success, domain.r_failure
        self._bc_targets = (float(hi), float(lo)) if hi > lo else (1.0, 0.0)
        #: the scenario's reward scale: exploration widths are given in its units, so the same
        #: hyperparameters mean the same thing on every scenario
        self.reward_scale = reward_scale(domain)
        self.A = np.tile(self.ridge * np.eye(self.dim), (self.n_actions, 1, 1))
        self.b = np.zeros((self.n_actions, self.dim))
        self.counts = np.zeros(self.n_actions)
        self.episodes = 0
        self.A_inv = np.empty_like(self.A)
        self.theta = np.empty_like(self.b)
        self._refresh(range(self.n_actions))
        #: on a lifetime environment, the forecast of the later visits' value (``"outcome"``)
        self.forecast = None
        if VisitForecast.applies(spec):
            self.forecast = VisitForecast(spec, domain.max_turns, self.ridge)

    # -- model ---------------------------------------------------------------------------------

    def _refresh(self, actions) -> None:
        # Recomputed from A and b (never updated incrementally), so a state restored from a
        # checkpoint gives bit-identical parameters.
        for a in actions:
            inv = np.linalg.inv(self.A[a])
            self.A_inv[a] = inv
            self.theta[a] = inv @ self.b[a]

    def features(self, obs: np.ndarray) -> np.ndarray:
        """``[obs, 1]`` as float64: the observation plus a bias feature."""
        x = np.empty(self.dim)
        x[:-1] = obs
        x[-1] = 1.0
        return x

    def means(self, x: np.ndarray) -> np.ndarray:
        """Predicted value of every action, ``θ_a·x`` ([n_actions])."""
        return self.theta @ x

    def widths(self, x: np.ndarray) -> np.ndarray:
        """Posterior standard deviation of every action's value per unit noise, √(xᵀA_a⁻¹x)."""
        return np.sqrt(np.maximum(np.einsum("aij,i,j->a", self.A_inv, x, x), 0.0))

    def _fit(self, X: np.ndarray, actions: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        for a in np.unique(actions):
            rows = actions == a
            Xa, wa = X[rows], w[rows]
            self.A[a] += (Xa * wa[:, None]).T @ Xa
            self.b[a] += Xa.T @ (wa * y[rows])
            self.counts[a] += wa.sum()
        self._refresh(np.unique(actions))

    # -- Learner -------------------------------------------------------------------------------

    def learn(self, episode: Episode) -> dict[str, float]:
        T = len(episode.actions)
        if T == 0:
            self.episodes += 1
            return {}
        X = np.empty((T, self.dim))
        X[:, :-1] = episode.obs
        X[:, -1] = 1.0
        actions = np.asarray(episode.actions, dtype=np.int64)
        metrics = {}
        future = None
        if self.forecast is not None and self.credit == "outcome":
            Z, spans = self.forecast.endings(episode)
            future = self.forecast.predict(Z)
            # the realised value after each conversation: the discounted return of the rest
            realised = np.zeros(len(spans))
            acc = 0.0
            for k in range(len(spans) - 1, -1, -1):
                realised[k] = self.gamma * acc  # discounted to the conversation's last turn
                first, last = spans[k]
                for t in range(last, first - 1, -1):
                    acc = episode.rewards[t] + self.gamma * acc
            metrics["losses/forecast_mse"] = float(np.mean((realised - future) ** 2))
            self.forecast.fit(Z, realised)
        y = credit_targets(
            episode.rewards, self.credit, self.turn_reward, self.gamma, episode.ends, future
        )
        predicted = np.einsum("td,td->t", self.theta[actions], X)
        self._fit(X, actions, y, np.ones(T))
        # a lifetime counts each of its conversations, so schedules mean the same in both modes
        self.episodes += int(episode.ends.sum()) if episode.ends is not None else 1
        return {"losses/mse": float(np.mean((y - predicted) ** 2)), **metrics}

    def clone(
        self, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray, weights: np.ndarray
    ) -> dict[str, float]:
        """Behaviour cloning as a supervised fit of the linear models, one-vs-rest.

        At each demonstrated state, the demonstrated action is fitted to the scenario's success
        reward and every other allowed action to its failure reward (weighted by ``weights``),
        so the greedy choice imitates the demonstrator until real outcomes say otherwise.
        """
        obs = np.asarray(obs, dtype=np.float64)
        masks = np.asarray(masks) > 0
        actions = np.asarray(actions, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        n = len(actions)
        if not (obs.shape == (n, self.dim - 1) and masks.shape == (n, self.n_actions)):
            raise ValueError(
                f"clone expects obs [N, {self.dim - 1}] and masks [N, {self.n_actions}], "
                f"got {obs.shape} and {masks.shape}"
            )
        X = np.concatenate([obs, np.ones((n, 1))], axis=1)
        hi, lo = self._bc_targets
        touched = []
        for a in range(self.n_actions):
            rows = masks[:, a]
            if not rows.any():
                continue
            Xa, wa = X[rows], weights[rows]
            ya = np.where(actions[rows] == a, hi, lo)
            self.A[a] += (Xa * wa[:, None]).T @ Xa
            self.b[a] += Xa.T @ (wa * ya)
            self.counts[a] += wa.sum()
            touched.append(a)
        self._refresh(touched)
        chosen = np.array(
            [masked_argmax(self.theta @ X[i], masks[i]) for i in range(n)], dtype=np.int64
        )
        agree = float(np.average(chosen == actions, weights=weights)) if n else float("nan")
        return {"bc/accuracy": agree, "bc/rows": float(n)}

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {"A": self.A.copy(), "b": self.b.copy(), "counts": self.counts.copy()}
        if self.forecast is not None:
            arrays.update(self.forecast.state())
        return arrays, {"episodes": self.episodes}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        shapes = {
            "A": (self.n_actions, self.dim, self.dim),
            "b": (self.n_actions, self.dim),
            "counts": (self.n_actions,),
        }
        for key, shape in shapes.items():
            if key not in arrays:
                raise ValueError(f"{self.algo} state lacks the array {key!r}")
            if arrays[key].shape != shape or arrays[key].dtype != np.float64:
                raise ValueError(
                    f"{self.algo} state array {key!r} is {arrays[key].dtype}{list(arrays[key].shape)}"
                    f", expected float64{list(shape)}"
                )
        episodes = meta.get("episodes")
        if not isinstance(episodes, int) or episodes < 0:
            raise ValueError(f"{self.algo} state has a bad episode count {episodes!r}")
        self.A = np.array(arrays["A"], dtype=np.float64)
        self.b = np.array(arrays["b"], dtype=np.float64)
        self.counts = np.array(arrays["counts"], dtype=np.float64)
        self.episodes = episodes
        self._refresh(range(self.n_actions))
        if self.forecast is not None:
            self.forecast.load_state(arrays)

    def config(self) -> dict:
        return {"ridge": self.ridge, "credit": self.credit, "gamma": self.gamma}


class EpsilonGreedyLearner(LinearBandit):
    """ε-greedy over the linear models, with ε decaying linearly per episode.

    Args (besides ``LinearBandit``'s):
        epsilon_start: ε at the first episode.
        epsilon_end: ε once decay is over.
        decay_episodes: conversations over which ε goes from start to end (a lifetime
            episode counts each of its visits).
    """

    name = algo = "egreedy"
    stochastic = True

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        seed: int = 0,
        *,
        epsilon_start: float = 0.5,
        epsilon_end: float = 0.02,
        decay_episodes: int = 2000,
        **common,
    ) -> None:
        super().__init__(domain, spec, seed, **common)
        for key, value in (("epsilon_start", epsilon_start), ("epsilon_end", epsilon_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {value}")
        if int(decay_episodes) != decay_episodes or decay_episodes < 0:
            raise ValueError(f"decay_episodes must be a whole number >= 0, got {decay_episodes}")
        self.epsilon_start = float(epsilon_start)
        self.epsilon_end = float(epsilon_end)
        self.decay_episodes = int(decay_episodes)

    @property
    def epsilon(self) -> float:
        """ε after the conversations learned so far."""
        if self.decay_episodes == 0:
            return self.epsilon_end
        frac = min(self.episodes / self.decay_episodes, 1.0)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)

    def distribution(self, obs, mask, explore=True):
        q = self.means(self.features(obs))
        a = masked_argmax(q, mask)
        eps = self.epsilon
        if explore and eps > 0:
            return q, epsilon_soft(a, mask, eps)
        return q, one_hot(a, self.n_actions)

    def learn(self, episode: Episode) -> dict[str, float]:
        metrics = super().learn(episode)
        metrics["charts/epsilon"] = self.epsilon
        return metrics

    def config(self) -> dict:
        return {
            **super().config(),
            "epsilon_start": self.epsilon_start,
            "epsilon_end": self.epsilon_end,
            "decay_episodes": self.decay_episodes,
        }


class LinUCBLearner(LinearBandit):
    """LinUCB with disjoint linear models (Li, Chu, Langford, Schapire 2010, Algorithm 1).

    Args (besides ``LinearBandit``'s):
        alpha: width of the confidence bonus per unit of √(xᵀA⁻¹x), in units of the scenario's
            reward scale (``reward_scale``: 20 reward points in the shipped scenarios). It must
            be of the order of the success reward: a smaller bonus lets the sure -1 of ending
            the conversation at once beat every action whose value is still being learned.
    """

    name = algo = "linucb"
    stochastic = False

    def __init__(
        self, domain: Domain, spec: ObservationSpec, seed: int = 0, *, alpha: float = 1.0, **common
    ) -> None:
        super().__init__(domain, spec, seed, **common)
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)

    def distribution(self, obs, mask, explore=True):
        x = self.features(obs)
        scores = self.means(x)
        if explore:
            scores = scores + self.alpha * self.reward_scale * self.widths(x)
        return scores, one_hot(masked_argmax(scores, mask), self.n_actions)

    def config(self) -> dict:
        return {**super().config(), "alpha": self.alpha}


class ThompsonLearner(LinearBandit):
    """Linear Thompson sampling (Agrawal & Goyal 2013) with disjoint per-action posteriors.

    Args (besides ``LinearBandit``'s):
        v: scale of the posterior, ``θ̃_a ~ N(θ_a, v²A_a⁻¹)``, in units of the scenario's reward
            scale (``reward_scale``); about the std of the targets.
        draws: Monte-Carlo draws used to estimate the action probabilities.
    """

    name = algo = "thompson"
    stochastic = True

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        seed: int = 0,
        *,
        v: float = 0.25,
        draws: int = 1000,
        **common,
    ) -> None:
        super().__init__(domain, spec, seed, **common)
        if not v >= 0:
            raise ValueError(f"v must be >= 0, got {v}")
        if int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a whole number >= 1, got {draws}")
        self.v = float(v)
        self.draws = int(draws)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _THOMPSON_STREAM]))
        self._z = rng.standard_normal((self.draws, self.n_actions))

    def distribution(self, obs, mask, explore=True):
        x = self.features(obs)
        mu = self.means(x)
        if not explore:
            return mu, one_hot(masked_argmax(mu, mask), self.n_actions)
        allowed = mask > 0
        if not allowed.any():
            raise ValueError("the action mask allows no action")
        sampled = mu + (self.v * self.reward_scale) * self.widths(x) * self._z
        sampled[:, ~allowed] = -np.inf
        wins = np.bincount(np.argmax(sampled, axis=1), minlength=self.n_actions)
        return mu, wins / self.draws

    def config(self) -> dict:
        return {**super().config(), "v": self.v, "draws": self.draws}
