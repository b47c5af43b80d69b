"""The regression gate: is a candidate policy worse than the baseline, with statistics.

Both policies meet the same customers (``crn.paired_env``: same goals, personas, patience and noise),
so each episode gives a paired difference ``d_i = candidate_i - baseline_i`` and the comparison
is a one-sample problem on ``d`` with far less variance than two independent samples.

The decision, on the primary metric (success by default; signs are flipped for metrics where lower
is better, so "worse" always means a negative difference), is a group-sequential test with two
stopping rules, checked at ``looks`` evenly spaced points (Jennison & Turnbull 2000):

- **fail** (worse) when the difference is significantly below zero: ``Z_k <= -c_k``, where the
  critical values ``c_k`` spend the false-alarm rate ``alpha`` over the looks with an
  O'Brien-Fleming-like spending function (Lan & DeMets 1983). Comparing a policy with an
  equivalent one therefore fails with probability ``alpha``, however many looks there are;
- **pass** (no worse within the margin) once a regression as large as the margin is ruled out:
  the repeated lower confidence bound ``mean_k - b_k SE_k`` exceeds ``-margin`` (``b_k``: the same
  spending at level ``alpha``). It is a binding futility stop for the fail test, and the fail
  boundaries are computed knowing it, so the false-alarm rate stays exactly ``alpha``.

With ``lifetime`` one paired episode is one customer's whole lifetime (``LifetimeEnv``): both
policies meet the same customer (persona, first goal, and each visit's draws of whether and when
they come back, which depend on the policy only through the trust it earned), and the metrics
are the lifetime value, retention, visits and the share of conversations that succeeded.

"Better" is a pass whose lower bound is above zero. If the last look is reached with neither
rule met, the candidate is not significantly worse but a regression of the margin is not ruled
out either: the verdict is "inconclusive" (a pass unless ``fail_inconclusive``), and the report
gives the episodes needed. The normal approximation is used throughout; the smallest look has at
least ``MIN_LOOK`` episodes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from dialog_rl.counter_rng import KeyedStream
from dialog_rl.domain import Domain, load_domain
from dialog_rl.env import LifetimeEnv
from dialog_rl.regress.crn import PAIRINGS, paired_env
from dialog_rl.regress.health import HealthReport, check_health
from dialog_rl.regress.sequential import SPENDING, Look, SequentialTest
from dialog_rl.regress.variants import resolve_policy
from dialog_rl.rollout.metrics import Z95
from dialog_rl.rollout.runner import episode_seed, policy_rng

#: metric -> (outcome key, higher is better, shown as a percentage)
METRICS: dict[str, tuple[str, bool, bool]] = {
    "success": ("success", True, True),
    "reward": ("reward", True, False),
    "turns": ("turns", False, False),
    "hangup": ("hangup", False, True),
}
#: the same for lifetime gates: one episode is one customer's lifetime
LIFETIME_METRICS: dict[str, tuple[str, bool, bool]] = {
    "value": ("lifetime_value", True, False),
    "retention": ("returned", True, True),
    "visits": ("visits", True, False),
    "success": ("conversation_success", True, True),
}
MIN_LOOK = 50
#: salt of the candidate's exploration stream when it must be independent of the baseline's
CANDIDATE_STREAM = 0x5EED_CA4D
#: salt of the candidate's customers in an unpaired comparison (pairing="none")
UNPAIRED = 0x0DD_C057


@dataclass(frozen=True)
class GateConfig:
    """What to compare and how strictly."""

    scenario: str
    """Scenario YAML file."""
    baseline: str
    """Baseline policy name (see ``dialog_rl.regress.variants``) or run directory."""
    candidate: str
    """Candidate policy name or run directory."""
    episodes: int = 2000
    """Most episodes (paired conversations) to run; the test may stop earlier."""
    seed: int = 0
    """The one seed of the customers."""
    noise: float | None = None
    """Semantic error rate; default: the scenario's."""
    margin: float = 0.02
    """The regression that matters, in units of the metric (0.02 = 2 points of success)."""
    alpha: float = 0.05
    """False-alarm rate: chance that an equivalent candidate is called worse."""
    metric: str | None = None
    """Primary metric the verdict is about: success, reward, turns or hangup; for a lifetime
    gate value, retention, visits or success. Default: success, or value for a lifetime gate."""
    looks: int = 5
    """Interim analyses (1: a fixed-sample test)."""
    spending: str = "obf"
    """Error-spending function: obf (O'Brien-Fleming-like) or pocock."""
    pairing: str | None = None
    """How the random draws are shared: act, turn or episode (see ``dialog_rl.regress.crn``);
    "none" gives the candidate other customers (an unpaired comparison, for benchmarks).
    Default: act, or episode for a lifetime gate."""
    explore: bool = True
    """Sample from stochastic policies (as ``dialog-rl simulate`` does); False: act greedily."""
    independent_exploration: bool = False
    """Give the candidate its own exploration stream (default: both use the episode's)."""
    max_turns: int | None = None
    """Override the scenario's turn limit."""
    health_episodes: int = 200
    """Conversations per policy for the health checks before scoring (0: skip them)."""
    fail_inconclusive: bool = False
    """Treat an inconclusive verdict as a failure."""
    lifetime: bool = False
    """Compare whole customer lifetimes (the scenario needs a ``lifetime`` section): metrics
    ``LIFETIME_METRICS``, pairing "episode" or "none"; health checks still play conversations."""

    @property
    def metrics(self) -> dict[str, tuple[str, bool, bool]]:
        """The metrics of this kind of gate: name -> (outcome key, higher is better, percent)."""
        return LIFETIME_METRICS if self.lifetime else METRICS

    def __post_init__(self) -> None:
        if self.pairing is None:
            object.__setattr__(self, "pairing", "episode" if self.lifetime else "act")
        if self.metric is None:
            object.__setattr__(self, "metric", "value" if self.lifetime else "success")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if not self.margin > 0:
            raise ValueError(f"margin must be > 0, got {self.margin}")
        if self.metric not in self.metrics:
            kind = "a lifetime gate's" if self.lifetime else "metric"
            raise ValueError(
                f"{kind} must be one of {', '.join(self.metrics)}, got {self.metric!r}"
            )
        if self.looks < 1:
            raise ValueError(f"looks must be >= 1, got {self.looks}")
        if self.spending not in SPENDING:
            raise ValueError(f"spending must be one of {', '.join(SPENDING)}")
        if self.pairing not in (*PAIRINGS, "none"):
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, none")
        if self.lifetime and self.pairing not in ("episode", "none"):
            raise ValueError(
                f"a lifetime gate pairs whole customers: pairing episode or none, not {self.pairing}"
            )
        if self.noise is not None and not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"noise must be between 0 and 1, got {self.noise}")


@dataclass(frozen=True)
class MetricDiff:
    """One metric: both policies' means and the paired difference (candidate - baseline)."""

    name: str
    baseline: float
    candidate: float
    diff: float
    ci95: tuple[float, float]
    """Paired 95% CI of the difference (normal approximation, not adjusted for the looks)."""
    unpaired_ci95: tuple[float, float]
    """The 95% CI the same episodes would give if the two samples were independent."""
    higher_is_better: bool
    pct: bool

    @property
    def variance_ratio(self) -> float:
        """How many times fewer episodes pairing needs for this metric (unpaired / paired var)."""
        paired = (self.ci95[1] - self.ci95[0]) ** 2
        unpaired = (self.unpaired_ci95[1] - self.unpaired_ci95[0]) ** 2
        return unpaired / paired if paired > 0 else math.inf

    @property
    def significantly_worse(self) -> bool:
        lo, hi = self.ci95
        return hi < 0 if self.higher_is_better else lo > 0


@dataclass
class GateResult:
    """The verdict and everything a report shows."""

    config: GateConfig
    verdict: str
    passed: bool
    episodes: int
    looks: list[Look]
    metrics: list[MetricDiff]
    health: HealthReport
    power: float
    """Approximate chance, with all planned episodes, of failing a candidate worse by the margin."""
    episodes_for_power: int
    """Episodes a fixed-sample test would need for 80% power at the margin (observed variance)."""
    identical: int
    """Episodes in which both policies had exactly the same outcome in every metric."""
    elapsed: float
    scenario_name: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def stopped_early(self) -> bool:
        return self.episodes < self.config.episodes

    @property
    def primary(self) -> MetricDiff:
        return next(m for m in self.metrics if m.name == self.config.metric)

    def to_dict(self) -> dict:
        out = {
            "config": asdict(self.config),
            "verdict": self.verdict,
            "passed": self.passed,
            "episodes": self.episodes,
            "stopped_early": self.stopped_early,
            "power_at_margin": self.power,
            "episodes_for_80pct_power": self.episodes_for_power,
            "identical_episodes": self.identical,
            "looks": [asdict(lk) | {"lower": lk.lower, "upper": lk.upper} for lk in self.looks],
            "metrics": [asdict(m) for m in self.metrics],
            "health": [asdict(f) for f in self.health.findings],
            "notes": list(self.notes),
            "elapsed_s": self.elapsed,
        }
        return out


class HealthError(ValueError):
    """The scenario failed its health checks: a verdict would be meaningless (exit code 2)."""

    def __init__(self, report: HealthReport) -> None:
        self.report = report
        lines = "\n  ".join(f.line() for f in report.errors)
        super().__init__(
            f"scenario health check failed, no verdict given:\n  {lines}\n"
            "fix the scenario, or skip the checks with --health-episodes 0"
        )


def look_schedule(episodes: int, looks: int) -> list[int]:
    """Episode counts at which to look: evenly spaced, none smaller than ``MIN_LOOK``."""
    k = max(1, min(looks, episodes // MIN_LOOK))
    return sorted({round(episodes * (j + 1) / k) for j in range(k)})


def run_gate(
    config: GateConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    domain: Domain | None = None,
) -> GateResult:
    """Run the paired comparison and decide; raises ``HealthError`` if the scenario is unhealthy.

    Policy names are resolved with ``resolve_policy``; bad names raise ``PolicyError``, bad
    scenarios ``ScenarioError``. ``domain``: the scenario already compiled (saves loading it
    again when a caller runs many gates on one scenario).
    """
    start = time.perf_counter()
    if domain is None:
        domain = load_domain(config.scenario)
    mode = "episode" if config.pairing == "none" else config.pairing
    if config.lifetime:
        if domain.lifetime is None:
            raise ValueError(
                f"scenario {domain.name!r} has no `lifetime` section: a lifetime gate needs one"
            )
        env_b = LifetimeEnv(domain, config.noise, max_turns=config.max_turns)
        env_c = LifetimeEnv(domain, config.noise, max_turns=config.max_turns)
    else:
        env_b = paired_env(domain, config.noise, max_turns=config.max_turns, pairing=mode)
        env_c = paired_env(domain, config.noise, max_turns=config.max_turns, pairing=mode)
    baseline = resolve_policy(config.baseline, domain, env_b.spec_obs)
    candidate = resolve_policy(config.candidate, domain, env_c.spec_obs)

    health = HealthReport()
    if config.health_episodes > 0:
        policies = {"baseline": baseline, "candidate": candidate}
        if config.lifetime:
            # single conversations: a lifetime policy plays them as first visits
            spec = env_b.conv.spec_obs
            names = {"baseline": config.baseline, "candidate": config.candidate}
            policies = {k: resolve_policy(name, domain, spec) for k, name in names.items()}
        health = check_health(
            domain,
            policies,
            episodes=config.health_episodes,
            seed=config.seed,
            noise=config.noise,
            max_turns=config.max_turns,
            explore=config.explore,
        )
        if not health.ok:
            raise HealthError(health)

    schedule = look_schedule(config.episodes, config.looks)
    n_max = schedule[-1]
    test = SequentialTest(schedule, config.margin, config.alpha, config.spending)
    table = config.metrics
    _, higher, _ = table[config.metric]
    sign = 1.0 if higher else -1.0

    cols = list(table)
    base = np.zeros((n_max, len(cols)))
    cand = np.zeros((n_max, len(cols)))
    rng_b = KeyedStream(0)
    rng_c = KeyedStream(0)
    looks: list[Look] = []
    done = 0
    for n in schedule:
        for i in range(done, n):
            s = episode_seed(config.seed, i)
            ob = _play(env_b, baseline, s, policy_rng(s, rng_b), config.explore)
            s_c = episode_seed(s, CANDIDATE_STREAM) if config.independent_exploration else s
            customer = episode_seed(s, UNPAIRED) if config.pairing == "none" else s
            oc = _play(env_c, candidate, customer, policy_rng(s_c, rng_c), config.explore)
            base[i] = [float(ob[table[m][0]]) for m in cols]
            cand[i] = [float(oc[table[m][0]]) for m in cols]
            if progress is not None:
                progress(i + 1, n_max)
        done = n
        j = cols.index(config.metric)
        looks.append(test.look(sign * (cand[:n, j] - base[:n, j])))
        if looks[-1].decision != "continue":
            break
    decision = looks[-1].decision

    n = done
    last = looks[-1]
    if decision == "fail":
        verdict = "worse"
    elif decision == "pass":
        verdict = "better" if last.lower > 0 else "no worse"
    else:
        verdict = "inconclusive"
    passed = verdict in ("better", "no worse") or (
        verdict == "inconclusive" and not config.fail_inconclusive
    )
    metrics = [_metric_diff(m, table[m], base[:n, j], cand[:n, j]) for j, m in enumerate(cols)]
    sd = last.se * math.sqrt(n) if math.isfinite(last.se) else math.inf
    power, needed = _power(sd, n_max, config.margin, config.alpha, test.pass_critical[-1])
    notes = _notes(config, verdict, metrics, needed, n_max)
    identical = int(np.all(base[:n] == cand[:n], axis=1).sum())
    return GateResult(
        config=config,
        verdict=verdict,
        passed=passed,
        episodes=n,
        looks=looks,
        metrics=metrics,
        health=health,
        power=power,
        episodes_for_power=needed,
        identical=identical,
        elapsed=time.perf_counter() - start,
        scenario_name=domain.name,
        notes=notes,
    )


def _play(env, policy, seed: int, rng: np.random.Generator, explore: bool) -> dict:
    obs, info = env.reset(seed=seed)
    while True:
        decision = policy.act(obs, info["action_mask"], explore=explore, rng=rng)
        obs, _, terminated, truncated, info = env.step(decision.action)
        if terminated or truncated:
            return info["outcome"]


def _metric_diff(
    name: str, spec: tuple[str, bool, bool], b: np.ndarray, c: np.ndarray
) -> MetricDiff:
    _, higher, pct = spec
    n = len(b)
    d = c - b
    mean = float(d.mean())
    if n > 1:
        half = Z95 * float(d.std(ddof=1)) / math.sqrt(n)
        half_u = Z95 * math.sqrt((b.var(ddof=1) + c.var(ddof=1)) / n)
    else:
        half = half_u = math.inf
    return MetricDiff(
        name,
        float(b.mean()),
        float(c.mean()),
        mean,
        (mean - half, mean + half),
        (mean - half_u, mean + half_u),
        higher,
        pct,
    )


def _power(sd: float, n_max: int, margin: float, alpha: float, c_last: float) -> tuple[float, int]:
    """Approximate power at the margin with ``n_max`` episodes, and the fixed-sample episodes
    needed for 80% power (one-sided ``alpha``), from the observed standard deviation.

    ``c_last`` is the last look's critical value of the plain sequential test (the futility stop
    moves it a little; this is a planning figure, not part of the decision)."""
    from statistics import NormalDist

    nd = NormalDist()
    if sd == 0:
        return 1.0, 1
    if not math.isfinite(sd):
        return 0.0, 0
    c = c_last if math.isfinite(c_last) else nd.inv_cdf(1 - alpha)
    power = nd.cdf(margin / (sd / math.sqrt(n_max)) - c)
    needed = math.ceil(((nd.inv_cdf(1 - alpha) + nd.inv_cdf(0.8)) * sd / margin) ** 2)
    return float(power), int(needed)


def _notes(
    config: GateConfig,
    verdict: str,
    metrics: list[MetricDiff],
    needed: int,
    n_max: int,
) -> list[str]:
    notes = []
    primary = next(m for m in metrics if m.name == config.metric)
    margin = f"{100 * config.margin:g} points" if primary.pct else f"{config.margin:g}"
    if verdict == "inconclusive":
        notes.append(
            f"not significantly worse, but a regression of {margin} is not ruled out either: "
            f"about {needed} paired episodes would settle it (ran {n_max})"
        )
    if verdict in ("no worse", "better") and primary.significantly_worse:
        notes.append(
            f"{config.metric} is significantly worse than the baseline's, but by less than the "
            f"margin of {margin}"
        )
    for m in metrics:
        if m.name != config.metric and m.significantly_worse:
            notes.append(f"{m.name} got significantly worse (not the metric the verdict is about)")
    return notes
