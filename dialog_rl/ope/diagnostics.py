"""Diagnostics that say when not to trust an estimate: weight degeneracy and missing support."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.ope.validation import check_pscore


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 if every weight is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    ss = float((w * w).sum())
    return float(w.sum() ** 2 / ss) if ss > 0 else 0.0


@dataclass(frozen=True)
class WeightDiagnostics:
    """How degenerate the importance weights are."""

    n_episodes: int
    ess: float
    """Effective sample size of the trajectory weights (IS, WIS): compare with ``n_episodes``."""
    min_step_ess: float
    """Smallest effective sample size of the per-decision weights ``w_t`` (PDIS, DR) over the
    decision indices ``t`` that at least 1% of episodes (and 10) reach."""
    max_weight: float
    """Largest trajectory weight: one episode counts this many times in IS."""
    mean_weight: float
    """Mean trajectory weight; 1 in expectation, far below 1 suggests missing support."""
    max_ratio: float
    """Largest single-decision ratio ``pi / mu``."""

    @property
    def ess_fraction(self) -> float:
        return self.ess / self.n_episodes if self.n_episodes else 0.0


def weight_diagnostics(
    pscore: np.ndarray, target_prob: np.ndarray, valid: np.ndarray | None = None
) -> WeightDiagnostics:
    """Weight diagnostics from [n_episodes, horizon] logging and target probabilities."""
    valid = np.ones(np.shape(pscore), dtype=bool) if valid is None else np.asarray(valid, bool)
    p = check_pscore(pscore, valid)
    ratio = np.where(valid, np.asarray(target_prob, np.float64) / np.where(valid, p, 1.0), 1.0)
    cum = np.cumprod(ratio, axis=1)
    w = cum[:, -1]
    # Only decision indices enough episodes reach: the rare long tail would always read 0.
    reach = valid.sum(0)
    live = reach >= max(10, 0.01 * valid.shape[0])
    step_ess = [effective_sample_size(cum[valid[:, t], t]) for t in np.flatnonzero(live)]
    return WeightDiagnostics(
        n_episodes=int(ratio.shape[0]),
        ess=effective_sample_size(w),
        min_step_ess=float(min(step_ess)) if step_ess else 0.0,
        max_weight=float(w.max()),
        mean_weight=float(w.mean()),
        max_ratio=float(ratio[valid].max()),
    )


@dataclass(frozen=True)
class SupportReport:
    """Target probability mass on actions the logger could not (or did not) take."""

    unsupported_mass: float
    """Mean over logged decisions of the target's mass on actions with logging probability 0."""
    decisions_affected: float
    """Fraction of logged decisions where that mass is above 1e-9."""
    never_logged: tuple[int, ...]
    """Actions the target uses somewhere that appear nowhere in the log."""
    logger_known: bool
    """True if the logger's full distribution was given; else only deterministic (propensity 1)
    decisions and the action mask could be checked, and ``unsupported_mass`` is a lower bound."""

    def warnings(self, action_names: tuple[str, ...] | list[str] | None = None) -> list[str]:
        out = []
        if self.decisions_affected > 0:
            bound = "" if self.logger_known else " at least"
            out.append(
                f"support: the target puts{bound} {100 * self.unsupported_mass:.2f}% of its "
                f"probability on actions the logger never takes in those states "
                f"({100 * self.decisions_affected:.1f}% of decisions); importance-sampling "
                "estimators are biased there (towards the logger's choices) and only the model "
                "(DM, FQE) speaks for those actions"
            )
        if self.never_logged:
            names = [
                action_names[a] if action_names is not None else str(a) for a in self.never_logged
            ]
            out.append(
                f"support: the target takes actions never seen in the log: {', '.join(names)}"
            )
        return out


def support_report(
    target_dist: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    mask: np.ndarray | None = None,
    logger_dist: np.ndarray | None = None,
) -> SupportReport:
    """Where the target acts outside the logger's support.

    Args:
        target_dist: float [N, n_actions] target distribution at each logged decision.
        action: int [N] logged actions.
        pscore: float [N] logging probabilities of the logged actions.
        mask: bool [N, n_actions] allowed actions; without ``logger_dist``, the logger is assumed
            to put mass only on allowed actions.
        logger_dist: float [N, n_actions] the logger's full distribution, when it can be
            recomputed (a built-in or saved policy); then the check is exact.
    """
    target_dist = np.asarray(target_dist, dtype=np.float64)
    action = np.asarray(action, dtype=np.int64)
    p = check_pscore(pscore)
    n, k = target_dist.shape
    if logger_dist is not None:
        outside = np.asarray(logger_dist) <= 0
    else:
        outside = np.zeros((n, k), dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
        # A propensity of 1 means the logger was deterministic there: only the logged action.
        sure = p >= 1.0 - 1e-12
        outside[sure] = True
        outside[sure, action[sure]] = False
    mass = (target_dist * outside).sum(1)
    used = np.flatnonzero((target_dist > 1e-9).any(0))
    logged = set(np.unique(action).tolist())
    return SupportReport(
        unsupported_mass=float(mass.mean()) if n else 0.0,
        decisions_affected=float((mass > 1e-9).mean()) if n else 0.0,
        never_logged=tuple(int(a) for a in used if int(a) not in logged),
        logger_known=logger_dist is not None,
    )
