"""Every estimator on one set of logs and one target policy, with diagnostics and a printed table.

This is what ``dialog-rl ope`` runs. ``evaluate_logged`` computes the per-trajectory estimates of
the expected return per conversation (the number to trust), the per-decision (bandit-view)
estimates, the weight diagnostics and the support check; ``online_value`` plays the target in the
simulator for the ground truth; ``format_report`` prints them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from dialog_rl.ope import bandit, trajectory
from dialog_rl.ope.bootstrap import Estimate
from dialog_rl.ope.diagnostics import (
    SupportReport,
    WeightDiagnostics,
    support_report,
    weight_diagnostics,
)
from dialog_rl.ope.fqe import FQE
from dialog_rl.ope.logged import LoggedDialogues
from dialog_rl.ope.magic import MAGIC
from dialog_rl.ope.stationary import StationaryRatio, dialogue_state_keys, lifetime_state_keys

#: the estimator ``dialog-rl ope`` marks as the one to trust by default (see the README guide)
RECOMMENDED = "WDR"

ESTIMATOR_NOTES = {
    "IS": "trajectory importance sampling",
    "WIS": "weighted IS",
    "PDIS": "per-decision IS",
    "WPDIS": "weighted per-decision IS",
    "DR": "doubly robust (Jiang & Li), FQE model",
    "WDR": "weighted DR (Thomas & Brunskill), FQE model",
    "MAGIC": "blend of FQE and WDR; CI too narrow (model held fixed)",
    "FQE": "direct method; CI too narrow (model held fixed)",
    "SR": "state-distribution ratio (Liu et al.), tabular",
    "IPS": "immediate reward per decision",
    "SNIPS": "immediate reward per decision",
    "DM": "immediate reward per decision, reward model",
    "DR(1)": "immediate reward per decision, reward model",
    "Switch-DR": "immediate reward per decision, tau = 10",
}


@dataclass(frozen=True)
class Row:
    """One estimator's result."""

    name: str
    estimate: Estimate
    note: str = ""


@dataclass
class OPEResult:
    """All estimates and diagnostics for one target policy on one set of logs."""

    trajectory: list[Row]
    decision: list[Row]
    weights: WeightDiagnostics
    support: SupportReport
    n_episodes: int
    n_decisions: int
    gamma: float
    warnings: list[str] = field(default_factory=list)
    recommended: str = RECOMMENDED

    def row(self, name: str) -> Row:
        for r in self.trajectory + self.decision:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        w = self.weights
        return {
            "n_episodes": self.n_episodes,
            "n_decisions": self.n_decisions,
            "gamma": self.gamma,
            "recommended": self.recommended,
            "trajectory": {r.name: r.estimate.to_dict() for r in self.trajectory},
            "decision": {r.name: r.estimate.to_dict() for r in self.decision},
            "weights": {
                "ess": w.ess,
                "ess_fraction": w.ess_fraction,
                "min_step_ess": w.min_step_ess,
                "max_weight": w.max_weight,
                "mean_weight": w.mean_weight,
                "max_ratio": w.max_ratio,
            },
            "support": {
                "unsupported_mass": self.support.unsupported_mass,
                "decisions_affected": self.support.decisions_affected,
                "never_logged": list(self.support.never_logged),
                "logger_known": self.support.logger_known,
            },
            "warnings": self.warnings,
        }


def evaluate_logged(
    logged: LoggedDialogues,
    target_dist: np.ndarray,
    *,
    feature_names: tuple[str, ...] | list[str],
    gamma: float = 1.0,
    n_bootstrap: int = 1000,
    seed: int = 0,
    fqe: FQE | None = None,
    logger_dist: np.ndarray | None = None,
    action_names: tuple[str, ...] | list[str] | None = None,
    sr_bootstrap: int = 30,
) -> OPEResult:
    """Run every estimator on ``logged`` for the target whose distribution is ``target_dist``.

    Args:
        logged: the logs (``load_logged``).
        target_dist: float [n_episodes, horizon, n_actions] target distribution at each logged
            state (``logged.target_distribution(policy)``).
        feature_names: names of the observation features (for the tabular state keys).
        gamma: discount per decision.
        n_bootstrap: bootstrap replicates for the intervals.
        sr_bootstrap: at most this many for the stationary-ratio estimator, which re-solves a
            sparse least-squares problem per replicate.
        seed: seed of the bootstrap and of FQE.
        fqe: the FQE configuration; None skips the model-based estimators (DR, WDR, MAGIC, FQE,
            DM, DR(1), Switch-DR).
        logger_dist: the logger's full distribution at each state, when it can be recomputed,
            for an exact support check.
    """
    v = logged.valid
    a = logged.action
    target_prob = np.take_along_axis(target_dist, a[..., None], 2)[..., 0]
    args = (logged.reward, logged.pscore, target_prob, v)
    est = {"n_bootstrap": n_bootstrap, "seed": seed}
    rows: list[Row] = []
    for e in (trajectory.IS, trajectory.WIS, trajectory.PDIS, trajectory.WPDIS):
        rows.append(Row(e.name, e(gamma=gamma).estimate_interval(*args, **est)))

    q_hat = v_hat = None
    if fqe is not None:
        fqe = dataclasses.replace(fqe, gamma=gamma, seed=seed)
        q = fqe.fit_predict(logged.obs, a, logged.reward, target_dist, v)
        q_hat = np.take_along_axis(q, a[..., None], 2)[..., 0]
        v_hat = (q * target_dist).sum(2)
        margs = (*args, q_hat, v_hat)
        for e in (trajectory.DR(gamma=gamma), trajectory.WDR(gamma=gamma), MAGIC(gamma, seed=seed)):
            rows.append(Row(e.name, e.estimate_interval(*margs, **est)))
        dm = _mean_interval(v_hat[:, 0], n_bootstrap, seed)
        rows.append(Row("FQE", dm))
    keys = dialogue_state_keys(logged.obs, feature_names, v)
    if logged.max_visits is not None and logged.visit is not None:
        keys = lifetime_state_keys(keys, logged.visit, logged.max_visits, v)
    sr = StationaryRatio(gamma=gamma, tol=1e-6).estimate_interval(
        keys, *args, n_bootstrap=min(n_bootstrap, sr_bootstrap), seed=seed
    )
    rows.append(Row("SR", sr))
    rows = [Row(r.name, r.estimate, ESTIMATOR_NOTES[r.name]) for r in rows]

    # Per decision: the bandit view on immediate rewards, rows grouped by episode.
    flat_dist = target_dist[v]
    groups = np.nonzero(v)[0]
    flat = (logged.reward[v], a[v], logged.pscore[v], flat_dist)
    drows = [
        Row(e.name, e.estimate_interval(*flat, None, groups, **est))
        for e in (bandit.IPS(), bandit.SNIPS())
    ]
    if fqe is not None:
        # The reward model: one regression round of FQE is a regression of r on (s, a).
        r_model = dataclasses.replace(fqe, iterations=1)
        q1 = r_model.fit_predict(logged.obs, a, logged.reward, target_dist, v)[v]
        for name, e in (
            ("DM", bandit.DM()),
            ("DR(1)", bandit.DecisionDR()),
            ("Switch-DR", bandit.SwitchDR(tau=10.0)),
        ):
            drows.append(Row(name, e.estimate_interval(*flat, q1, groups, **est)))
    drows = [Row(r.name, r.estimate, ESTIMATOR_NOTES[r.name]) for r in drows]

    weights = weight_diagnostics(logged.pscore, target_prob, v)
    support = support_report(
        flat_dist,
        a[v],
        logged.pscore[v],
        logged.mask[v],
        None if logger_dist is None else logger_dist[v],
    )
    warnings = list(logged.warnings) + support.warnings(action_names)
    if weights.ess_fraction < 0.01:
        warnings.append(
            f"weights: effective sample size {weights.ess:.0f} of {weights.n_episodes} episodes "
            "(<1%): the target is far from the logger; importance-sampling estimates are noisy "
            "and their intervals may undercover"
        )
    return OPEResult(
        trajectory=rows,
        decision=drows,
        weights=weights,
        support=support,
        n_episodes=logged.n_episodes,
        n_decisions=int(v.sum()),
        gamma=gamma,
        warnings=warnings,
    )


def _mean_interval(values: np.ndarray, n_bootstrap: int, seed: int) -> Estimate:
    """Bootstrap interval of a mean over episodes."""
    from dialog_rl.ope.bootstrap import bootstrap_replicates, percentile_interval

    values = np.asarray(values, dtype=np.float64)
    reps = bootstrap_replicates(lambda c: c @ values / c.sum(1), len(values), n_bootstrap, seed)
    return percentile_interval(float(values.mean()), reps)


def online_value(
    env,
    policy,
    *,
    episodes: int,
    seed: int,
    explore: bool = False,
    gamma: float = 1.0,
    max_visits: int | None = None,
) -> tuple[Estimate, np.ndarray]:
    """The target's value by playing it: mean (discounted) return and its normal 95% interval.

    Actions are drawn from ``policy.probabilities(obs, mask, explore)``, the same distribution
    the estimators weight by, so truth and estimate refer to the same policy. Episode ``i`` is
    seeded as in every rollout (``episode_seed(seed, i)``). With ``max_visits`` (a
    ``LifetimeEnv``), a customer's lifetime stops when their visit ``max_visits`` ends, as
    ``LoggedDialogues.first_visits`` cuts logged lifetimes.

    Returns the estimate and the per-episode returns, float64 [episodes].
    """
    from dialog_rl.policies.base import sample
    from dialog_rl.rollout.runner import episode_seed, policy_rng

    returns = np.zeros(episodes)
    for i in range(episodes):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        total, disc = 0.0, 1.0
        while True:
            probs = policy.probabilities(obs, info["action_mask"], explore)
            obs, reward, terminated, truncated, info = env.step(sample(probs, rng))
            total += disc * reward
            disc *= gamma
            if terminated or truncated or getattr(env, "visit", 0) >= (max_visits or math.inf):
                break
        returns[i] = total
    mean = float(returns.mean())
    half = (
        1.959963984540054 * float(returns.std(ddof=1)) / math.sqrt(episodes)
        if episodes > 1
        else math.nan
    )
    return Estimate(mean, mean - half, mean + half), returns


def format_report(
    result: OPEResult, truth: Estimate | None = None, unit: str = "conversation"
) -> str:
    """The table ``dialog-rl ope`` prints; ``unit`` is what one trajectory is."""
    lines = []
    head = f"  {'estimator':<10} {'estimate':>9}  {'95% CI':<20}"
    if truth is not None:
        head += f" {'error':>8} {'rel.err':>8} {'covers':>6}"
    head += "  note"

    def row_line(r: Row, mark: str = "") -> str:
        e = r.estimate
        ci = f"[{e.low:.3f}, {e.high:.3f}]"
        line = f"  {r.name + mark:<10} {e.value:>9.3f}  {ci:<20}"
        if truth is not None:
            err = e.value - truth.value
            rel = abs(err) / abs(truth.value) if truth.value != 0 else math.inf
            line += (
                f" {err:>+8.3f} {100 * rel:>7.1f}% {'yes' if e.covers(truth.value) else 'NO':>6}"
            )
        return line + f"  {r.note}"

    g = "" if result.gamma == 1.0 else f", discount {result.gamma:g} per decision"
    lines.append(
        f"value per {unit} (expected return{g}); {result.n_episodes} episodes, "
        f"{result.n_decisions} decisions"
    )
    lines.append(head)
    for r in result.trajectory:
        lines.append(row_line(r, " *" if r.name == result.recommended else ""))
    if truth is not None:
        lines.append(
            f"  {'truth':<10} {truth.value:>9.3f}  [{truth.low:.3f}, {truth.high:.3f}]"
            "  (target played online)"
        )
    if any(r.name == result.recommended for r in result.trajectory):
        lines.append(f"  * recommended default ({result.recommended})")
    else:
        lines.append(f"  (the recommended default, {result.recommended}, needs FQE: drop --no-fqe)")
    lines.append("")
    lines.append("per decision (bandit view: expected immediate reward of one decision at the")
    lines.append("logger's states; blind to later turns, so not a conversation's value)")
    lines.append(f"  {'estimator':<10} {'estimate':>9}  {'95% CI':<20}")
    for r in result.decision:
        e = r.estimate
        lines.append(f"  {r.name:<10} {e.value:>9.3f}  [{e.low:.3f}, {e.high:.3f}]")
    w = result.weights
    lines.append("")
    lines.append("diagnostics")
    lines.append(
        f"  effective sample size {w.ess:.0f} of {w.n_episodes} episodes "
        f"({100 * w.ess_fraction:.1f}%); smallest per-decision ESS {w.min_step_ess:.0f}"
    )
    lines.append(
        f"  importance weights: max {w.max_weight:.4g} per episode, max {w.max_ratio:.4g} per "
        f"decision, mean {w.mean_weight:.3f} (1 expected)"
    )
    s = result.support
    if s.decisions_affected == 0 and not s.never_logged:
        how = "exact: logger recomputed" if s.logger_known else "from propensities and masks"
        lines.append(f"  support: the target only takes actions the logger could take ({how})")
    for msg in result.warnings:
        lines.append(f"  warning: {msg}")
    return "\n".join(lines)
