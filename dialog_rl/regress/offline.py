"""The offline gate: a verdict from logged conversations, by off-policy evaluation.

Both policies are evaluated on the *same* logged episodes (logged by a third, exploring policy
with propensities), so their estimates are paired: each bootstrap resample of episodes re-weights
both at once, and the interval of the difference is much tighter than two separate intervals.

The verdict follows high-confidence off-policy evaluation (Thomas, Theocharous & Ghavamzadeh,
"High confidence off-policy evaluation", AAAI 2015; "High confidence policy improvement", ICML
2015): the candidate passes only if a ``1 - alpha`` lower confidence bound on
``V(candidate) - V(baseline)`` is above ``-margin`` (better: above 0). The bound is the one-sided
percentile bootstrap over episodes, Thomas et al.'s "semi-safe" bound: approximate, but far
tighter than concentration inequalities at the sample sizes of a CI job. Without evidence the
candidate is not certified, so missing support (a candidate that does what the logger never did)
fails rather than passes; the report gives each policy's effective sample size.

Estimators are the model-free trajectory estimators of ``dialog_rl.ope.trajectory`` (per-decision
or whole-trajectory importance sampling, plain or weighted), recomputed here as count-weighted
sums so that thousands of paired resamples are a few matrix products; their point estimates agree
with ``dialog_rl.ope`` (a test checks it).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from dialog_rl.ope.bootstrap import resample_counts, safe_divide
from dialog_rl.ope.diagnostics import weight_diagnostics
from dialog_rl.ope.logged import LoggedDialogues, load_logged
from dialog_rl.ope.validation import OPEInputError
from dialog_rl.regress.gate import METRICS
from dialog_rl.regress.variants import resolve_policy

#: metrics read from each conversation's recorded outcome
OUTCOME_METRICS = ("success", "hangup")

ESTIMATORS = ("WIS", "IS", "WPDIS", "PDIS")


@dataclass(frozen=True)
class OfflineConfig:
    """What to compare, on which logs, how strictly."""

    scenario: str
    baseline: str
    candidate: str
    logs: str
    """A run directory written by ``dialog-rl simulate --out`` (or its log directory)."""
    margin: float = 0.02
    alpha: float = 0.05
    metric: str = "success"
    estimator: str = "WIS"
    """WIS (default: weighted trajectory IS, which keeps success rates within [0, 1]), IS,
    WPDIS or PDIS (per-decision: lower variance on per-turn rewards, unbounded on rates)."""
    n_bootstrap: int = 2000
    seed: int = 0
    """Seed of the bootstrap resampling."""
    explore: bool = True
    """Evaluate the policies' exploring distributions (as the online gate plays them)."""

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not self.margin > 0:
            raise ValueError(f"margin must be > 0, got {self.margin}")
        if self.n_bootstrap < 100:
            raise ValueError(f"n_bootstrap must be >= 100, got {self.n_bootstrap}")


@dataclass(frozen=True)
class OfflineMetric:
    """Estimated values of both policies for one metric and the paired difference."""

    name: str
    baseline: float
    candidate: float
    diff: float
    ci95: tuple[float, float]
    """Paired 95% percentile-bootstrap interval of the difference."""
    lower_bound: float
    """One-sided ``1 - alpha`` lower bound on the improvement (sign-adjusted: up is better)."""
    higher_is_better: bool
    pct: bool


@dataclass
class OfflineResult:
    """The offline verdict and what its report shows."""

    config: OfflineConfig
    verdict: str
    passed: bool
    episodes: int
    metrics: list[OfflineMetric]
    ess: dict[str, float]
    """Effective sample size of each target's trajectory weights."""
    logger: str
    elapsed: float
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> OfflineMetric:
        return next(m for m in self.metrics if m.name == self.config.metric)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "verdict": self.verdict,
            "passed": self.passed,
            "episodes": self.episodes,
            "metrics": [asdict(m) for m in self.metrics],
            "ess": self.ess,
            "logger": self.logger,
            "notes": list(self.notes),
        }


def metric_rewards(logged: LoggedDialogues, outcomes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-decision "rewards" whose episode sums are each metric: float [n, horizon] per metric.

    ``outcomes`` holds each episode's outcome name (success, failure, hangup, ...).
    """
    n, h = logged.valid.shape
    last = logged.lengths - 1
    at_end = np.zeros((n, h))
    rows = np.arange(n)
    success = at_end.copy()
    success[rows, last] = outcomes == "success"
    hangup = at_end.copy()
    hangup[rows, last] = outcomes == "hangup"
    return {
        "success": success,
        "reward": np.where(logged.valid, logged.reward, 0.0),
        "turns": logged.valid.astype(np.float64),
        "hangup": hangup,
    }


def estimate(
    estimator: str, reward: np.ndarray, weight: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Count-weighted trajectory estimates: float [B] from counts [B, n] (rows: resamples).

    ``weight`` is the cumulative importance weight ``w_t`` [n, horizon] (padding keeps the final
    weight, as in ``dialog_rl.ope.trajectory``).
    """
    if estimator == "PDIS":
        return counts @ (weight * reward).sum(1) / counts.sum(1)
    if estimator == "WPDIS":
        return safe_divide(counts @ (weight * reward), counts @ weight).sum(1)
    ret = reward.sum(1)
    w = weight[:, -1]
    if estimator == "IS":
        return counts @ (w * ret) / counts.sum(1)
    return safe_divide(counts @ (w * ret), counts @ w)  # WIS


def run_offline(config: OfflineConfig) -> OfflineResult:
    """Evaluate both policies on the logs and decide; bad logs raise ``OPEInputError``."""
    import pyarrow as pa

    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.rollout.logs import read_log

    start = time.perf_counter()
    domain = load_domain(config.scenario)
    spec = observation_spec(domain)
    logged = load_logged(config.logs)
    if logged.scenario_hash and logged.scenario_hash != domain.content_hash:
        raise OPEInputError(
            f"{config.logs}: logged on another scenario (sha256 {logged.scenario_hash[:12]}) than "
            f"{config.scenario} ({domain.content_hash[:12]})"
        )
    if logged.obs.shape[2] != spec.size or logged.n_actions != domain.n_actions:
        raise OPEInputError(
            f"{config.logs}: observations of {logged.obs.shape[2]} features and "
            f"{logged.n_actions} actions do not fit {config.scenario} ({spec.size}, "
            f"{domain.n_actions})"
        )
    try:
        table = read_log(config.logs).select(["episode", "outcome"])
    except (pa.ArrowException, OSError, KeyError) as err:
        raise OPEInputError(f"{config.logs}: cannot read the outcome column: {err}") from None
    episode = np.asarray(table.column("episode").to_numpy())
    outcome = np.asarray(table.column("outcome").to_pylist(), dtype=object)
    by_episode = dict(zip(episode.tolist(), outcome.tolist()))
    outcomes = np.array([by_episode[int(e)] for e in logged.episode_ids], dtype=object)
    # Logs imported without an `outcome` column (`dialog-rl logs import`) say nothing of success
    # or hang-ups: those metrics are left out rather than read as 0.
    unknown = int(sum(o is None for o in outcomes))
    if unknown and config.metric in OUTCOME_METRICS:
        raise OPEInputError(
            f"{config.logs}: {unknown} of {len(outcomes)} conversations have no recorded outcome "
            f"(logs imported without an `outcome` column), so --metric {config.metric} cannot be "
            "judged: pass --metric reward (or turns), or import the logs with an outcome column"
        )

    policies = {
        "baseline": resolve_policy(config.baseline, domain, spec),
        "candidate": resolve_policy(config.candidate, domain, spec),
    }
    weights, ess = {}, {}
    steps = np.arange(logged.valid.shape[0])[:, None], np.arange(logged.valid.shape[1])[None, :]
    for label, policy in policies.items():
        dist = logged.target_distribution(policy, explore=config.explore)
        target = np.where(logged.valid, dist[steps[0], steps[1], logged.action], 1.0)
        diag = weight_diagnostics(logged.pscore, target, logged.valid)
        ratio = np.where(logged.valid, target / np.where(logged.valid, logged.pscore, 1.0), 1.0)
        weights[label] = np.cumprod(ratio, axis=1)
        ess[label] = diag.ess

    rewards = metric_rewards(logged, outcomes)
    n = logged.n_episodes
    ones = np.ones((1, n))
    metrics = []
    for name, (_, higher, pct) in METRICS.items():
        if unknown and name in OUTCOME_METRICS:
            continue
        r = rewards[name]
        vb = float(estimate(config.estimator, r, weights["baseline"], ones)[0])
        vc = float(estimate(config.estimator, r, weights["candidate"], ones)[0])
        reps = []
        for counts in resample_counts(n, config.n_bootstrap, config.seed):
            reps.append(
                estimate(config.estimator, r, weights["candidate"], counts)
                - estimate(config.estimator, r, weights["baseline"], counts)
            )
        d = np.concatenate(reps)
        sign = 1.0 if higher else -1.0
        lo95, hi95 = np.quantile(d, [0.025, 0.975])
        lower = float(np.quantile(sign * d, config.alpha))
        metrics.append(
            OfflineMetric(name, vb, vc, vc - vb, (float(lo95), float(hi95)), lower, higher, pct)
        )
    primary = next(m for m in metrics if m.name == config.metric)
    if primary.lower_bound > 0:
        verdict = "better"
    elif primary.lower_bound > -config.margin:
        verdict = "no worse"
    else:
        verdict = "worse"
    notes = list(logged.warnings)
    for label, value in ess.items():
        if value < max(30.0, 0.02 * n):
            notes.append(
                f"the {label}'s importance weights have an effective sample size of {value:.0f} "
                f"of {n} episodes: the logs rarely do what it does, so its estimate is weak"
            )
    if verdict == "worse" and primary.diff > -config.margin:
        notes.append(
            "the point estimate shows no regression, but its lower bound cannot rule one out: "
            "more logged episodes (or a logger closer to the policies) would be needed"
        )
    logged_policy = (logged.summary or {}).get("policy") or {}
    logger = logged_policy.get("name") or logged.metadata.get("dialog_rl.policy", "unknown")
    if logged_policy.get("epsilon"):
        logger = f"{logger}, epsilon {logged_policy['epsilon']:g}"
    return OfflineResult(
        config=config,
        verdict=verdict,
        passed=verdict != "worse",
        episodes=n,
        metrics=metrics,
        ess=ess,
        logger=str(logger),
        elapsed=time.perf_counter() - start,
        notes=notes,
    )


def offline_headline(result: OfflineResult) -> str:
    """One sentence: the offline verdict and why."""
    m = result.primary
    scale = 100 if m.pct else 1
    margin = f"{scale * result.config.margin:g}{' points' if m.pct else ''}"
    return {
        "better": "BETTER: the lower bound on the improvement is above 0",
        "no worse": f"NO WORSE within {margin}: the lower bound on the improvement is above "
        "-margin",
        "worse": f"NOT CERTIFIED: a regression of {margin} cannot be ruled out from these logs",
    }[result.verdict]


def offline_text(result: OfflineResult) -> str:
    """The terminal report of an offline verdict."""
    cfg = result.config
    m = result.primary

    def num(x: float, pct: bool, signed: bool = False) -> str:
        if not math.isfinite(x):
            return "n/a"
        if pct:
            return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}%"
        return f"{x:+.2f}" if signed else f"{x:.2f}"

    head = offline_headline(result)
    out = [
        "dialog-rl regress (offline, off-policy evaluation)",
        f"  logs      {cfg.logs} ({result.episodes} episodes, logged by {result.logger})",
        f"  scenario  {cfg.scenario}",
        f"  baseline  {cfg.baseline}   (effective sample size {result.ess['baseline']:.0f})",
        f"  candidate {cfg.candidate}   (effective sample size {result.ess['candidate']:.0f})",
        f"  estimator {cfg.estimator}, paired percentile bootstrap over episodes "
        f"({cfg.n_bootstrap} resamples)",
        "",
        ("PASS  " if result.passed else "FAIL  ") + head,
        f"  {cfg.metric}: {1 - cfg.alpha:.0%} lower bound on the improvement "
        f"{num(m.lower_bound, m.pct, True)}{' pts' if m.pct else ''}",
        "",
    ]
    rows = [("metric", "baseline", "candidate", "difference [paired 95% CI]")]
    for x in result.metrics:
        lo, hi = x.ci95
        rows.append(
            (
                x.name,
                num(x.baseline, x.pct),
                num(x.candidate, x.pct),
                f"{num(x.diff, x.pct, True)} [{num(lo, x.pct, True)}, {num(hi, x.pct, True)}]",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out += [f"note: {n}" for n in result.notes]
    return "\n".join(out) + "\n"


def offline_markdown(result: OfflineResult) -> str:
    """The offline report as Markdown."""
    icon = "✅" if result.passed else "❌"
    return (
        f"## {icon} dialog-rl regression gate (offline): {result.verdict}\n\n"
        f"```\n{offline_text(result)}```\n"
    )


def offline_junit(result: OfflineResult) -> bytes:
    """The offline verdict as JUnit XML (see ``dialog_rl.regress.report.junit_document``)."""
    from dialog_rl.regress.report import junit_document

    cfg = result.config
    text = offline_text(result)
    cases = [
        (
            f"{cfg.metric}: {cfg.candidate} no worse than {cfg.baseline} on logs "
            f"(margin {cfg.margin:g}, alpha {cfg.alpha:g})",
            None if result.passed else offline_headline(result),
            text,
        )
    ]
    for m in result.metrics:
        if m.name != cfg.metric:
            lo, hi = m.ci95
            cases.append(
                (f"{m.name}: estimated difference", None, f"{m.diff:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            )
    props = {
        "logs": cfg.logs,
        "baseline": cfg.baseline,
        "candidate": cfg.candidate,
        "estimator": cfg.estimator,
        "verdict": result.verdict,
    }
    return junit_document("dialog-rl regress offline", cases, props, result.elapsed)
