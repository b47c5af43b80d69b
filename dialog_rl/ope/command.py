"""``dialog-rl ope``: check the inputs, run every estimator, optionally play the target for truth.

The parser is ``dialog_rl/cli/ope.py``'s; this is the work it dispatches to (``run_ope``).

Everything the user can get wrong is checked before any estimator runs, and reported as an
``OPEInputError`` (one line, exit code 2): unreadable or propensity-less logs, a scenario or a
policy that does not match the logs' scenario hash, an observation layout that differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dialog_rl.ope.errors import OPEInputError

#: below this fraction of customers as effective sample size, lifetime estimates get a warning
LIFETIME_ESS = 0.05


@dataclass(frozen=True)
class OPEArgs:
    """Arguments of one ``dialog-rl ope`` run."""

    logs: str
    """Run directory (or log directory, or Parquet file) of the logged conversations."""
    policy: str
    """Target: random, rule, or a run directory of a trained policy."""
    scenario: str | None = None
    """Scenario file; default: the one named in the logs' summary.json."""
    truth: bool = False
    """Also play the target online on the same scenario and noise and report each error."""
    episodes_truth: int = 5000
    """Conversations played for the truth."""
    gamma: float = 1.0
    """Discount per decision."""
    bootstrap: int = 1000
    """Bootstrap replicates per interval."""
    seed: int = 0
    """Seed of the bootstrap, FQE and the truth run."""
    explore: bool = False
    """Evaluate the target as it acts while exploring (default: greedy, as deployed)."""
    fqe: bool = True
    """Fit FQE for the model-based estimators (the slow part)."""
    json_out: str | None = None
    """Write the results as JSON here too."""
    max_visits: int | None = None
    """Lifetime logs: cut each lifetime after this many visits (the truth too)."""
    max_decisions: int | None = None
    """Refuse logs of more decisions (None: ``logged.MAX_DECISIONS``)."""


def run_ope(args: OPEArgs) -> str:
    """Everything ``dialog-rl ope`` prints; raises ``OPEInputError`` on bad input."""
    import numpy as np

    from dialog_rl.ope.fqe import FQE
    from dialog_rl.ope.logged import MAX_DECISIONS, load_logged
    from dialog_rl.ope.report import evaluate_logged, format_report, online_value
    from dialog_rl.outputs import check_replaceable_file, stamp, write_file

    if args.json_out:  # before the work: an existing file is replaced only if ope wrote it
        check_replaceable_file(args.json_out, "ope", "--json")
    if not 0.0 < args.gamma <= 1.0:
        raise OPEInputError(f"--gamma must be in (0, 1], got {args.gamma}")
    logged = load_logged(args.logs, args.max_decisions or MAX_DECISIONS)
    if args.policy == LOGGED or is_features_log(logged):
        return _run_ope_logged_target(args, logged)
    domain, scenario_path = _domain_for(logged, args.scenario)
    lifetime = _is_lifetime(logged)
    if lifetime and domain.lifetime is None:
        raise OPEInputError(
            f"{scenario_path}: the logs are customer lifetimes, but this scenario has no "
            "`lifetime` section to replay them on"
        )
    if args.max_visits is not None:
        if not lifetime or logged.visit is None:
            raise OPEInputError(
                f"--max-visits: {args.logs} holds single conversations, not customer lifetimes "
                "(log them with `simulate --lifetime`)"
            )
        logged = logged.first_visits(args.max_visits)
    env = _make_env(domain, logged, lifetime)
    names = _check_observation_spec(logged, env.spec_obs)
    policy = _target_policy(args.policy, domain, env.spec_obs, logged)
    target_dist = logged.target_distribution(policy, explore=args.explore)
    logger_dist, logger_warning = logger_distribution(logged, domain, env.spec_obs)
    result = evaluate_logged(
        logged,
        target_dist,
        feature_names=names,
        gamma=args.gamma,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        fqe=FQE() if args.fqe else None,
        logger_dist=logger_dist,
        action_names=domain.act_names,
    )
    if logger_warning:
        result.warnings.append(logger_warning)
    result.warnings.extend(
        small_sample_warnings(result, "conversations" if not lifetime else "customers")
    )
    w = result.weights
    # (one visit per customer is a conversation: the general weights warning covers it)
    if lifetime and w.ess_fraction < LIFETIME_ESS and args.max_visits != 1:
        result.warnings.append(
            f"customer lifetimes: the lifetime weights have collapsed (effective sample size "
            f"{w.ess:.0f} of {w.n_episodes}); the logs hold few customers kept the way the target "
            "keeps them. Measured in benchmarks/ope_lifetime.py, every estimator then "
            "underestimated (order support: IS by up to 74%, WDR, FQE and SR by 14-21%; shopping, "
            "a lifetime-trained target on a per-conversation policy's logs: by 47-50%, ranking it "
            "below the policy it beats): evaluate fewer visits (--max-visits), log with a policy "
            "closer to the target, or compare the two on simulated customers (regress --lifetime)"
        )
    truth = None
    if args.truth:
        truth_seed = int(np.random.SeedSequence([args.seed, 0x7EE7]).generate_state(1)[0])
        truth, _ = online_value(
            env,
            policy,
            episodes=args.episodes_truth,
            seed=truth_seed,
            explore=args.explore,
            gamma=args.gamma,
            max_visits=args.max_visits,
        )
    s = logged.summary or {}
    logger = s.get("policy", {}) or {}
    logger_text = logger.get("name", logged.metadata.get("dialog_rl.policy", "?"))
    if logger.get("epsilon"):
        logger_text += f" (epsilon {logger['epsilon']:g})"
    mode = "exploring" if args.explore else "acting greedily, as deployed"
    header = [
        f"off-policy evaluation of {args.policy} ({mode}) on {args.logs}",
        f"  scenario {domain.name} ({domain.content_hash[:12]}, {scenario_path}), noise "
        f"{env.noise:.2f}, turn limit {logged.max_turns or domain.max_turns}"
        + (", customer lifetimes" if lifetime else ""),
        f"  logged by {logger_text}",
    ]
    unit = "conversation"
    if lifetime:
        unit = "customer lifetime"
        visits = f"their first {args.max_visits} visits" if args.max_visits else "all their visits"
        header.append(
            f"  one trajectory per customer: {visits} (rewards discounted by the day they happen)"
        )
    if truth is not None:
        header.append(
            f"  truth: {args.episodes_truth} {unit}s played online, same scenario and noise"
        )
    out = "\n".join(header) + "\n\n" + format_report(result, truth, unit=unit)
    if args.json_out:
        payload = result.to_dict()
        payload["policy"] = args.policy
        payload["logs"] = str(args.logs)
        if truth is not None:
            payload["truth"] = truth.to_dict()
        payload.update(stamp("ope"))
        text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
        write_file(args.json_out, text.encode(), "ope", "--json")
    return out


#: ``--policy logged``: the target's probabilities are in the logs (imported features shape)
LOGGED = "logged"
#: fewer trajectories than this, and ``ope`` warns that its intervals are not to be trusted
MIN_TRAJECTORIES = 30


def small_sample_warnings(result, unit: str = "conversations") -> list[str]:
    """One-line warnings for too few trajectories and for intervals of zero width."""
    out = []
    if result.n_episodes < MIN_TRAJECTORIES:
        out.append(
            f"only {result.n_episodes} {unit} in the logs (fewer than {MIN_TRAJECTORIES}): the "
            "bootstrap intervals are not to be trusted"
        )
    flat = [r for r in (*result.trajectory, *result.decision) if r.estimate.high == r.estimate.low]
    if flat:
        names = ", ".join(r.name for r in flat)
        out.append(
            f"zero-width interval ({names}): every resample gave the same value, which says the "
            "logs are too few or too alike to measure uncertainty, not that there is none"
        )
    return out


def is_features_log(logged) -> bool:
    """An imported log of the features shape (own features, the target's probabilities)."""
    return logged.metadata.get("dialog_rl.log_shape") == "features"


def logged_target_distribution(logged):
    """The target's distribution carried by a features-shaped log: float [n, horizon, K]."""
    import numpy as np
    import pyarrow.parquet as pq

    from dialog_rl.ope.logged import _part_files

    parts = [
        pq.read_table(p, columns=["episode", "turn", "target_probs"])
        for p in _part_files(logged.path)
    ]
    if any("target_probs" not in t.column_names for t in parts):
        raise OPEInputError(f"{logged.path}: no target_probs column: not a features-shaped log")
    out = np.zeros(logged.mask.shape, dtype=np.float64)
    where = {int(e): i for i, e in enumerate(logged.episode_ids)}
    for t in parts:
        ep = t.column("episode").to_numpy()
        turn = t.column("turn").to_numpy()
        probs = t.column("target_probs").combine_chunks()
        values = probs.flatten().to_numpy().reshape(len(probs), probs.type.list_size)
        rows = np.array([where[int(e)] for e in ep], dtype=np.int64)
        out[rows, turn] = values
    return out


def target_distribution(logged, policy: str, scenario: str | None = None, explore: bool = False):
    """A target's distribution at every logged state (``logged``: the log's own target_probs)."""
    if is_features_log(logged) or policy == LOGGED:
        if policy != LOGGED or not is_features_log(logged):
            raise OPEInputError(_logged_policy_mismatch(logged, policy))
        return logged_target_distribution(logged)
    domain, _ = _domain_for(logged, scenario)
    env = _make_env(domain, logged, _is_lifetime(logged))
    _check_observation_spec(logged, env.spec_obs)
    target = _target_policy(policy, domain, env.spec_obs, logged)
    return logged.target_distribution(target, explore=explore)


def _logged_policy_mismatch(logged, policy: str) -> str:
    if policy == LOGGED:
        return (
            f"--policy logged: {logged.path} carries no target probabilities (only logs imported "
            "in the features shape do); name a target policy: rule, random or a run directory"
        )
    return (
        f"--policy {policy}: {logged.path} holds your own features, which dialog-rl's policies "
        "cannot read; its target is the target_probs column: pass --policy logged"
    )


def _run_ope_logged_target(args: OPEArgs, logged) -> str:
    """``ope`` on a features-shaped import: the target is the log's own ``target_probs``."""
    from dialog_rl.ope.fqe import FQE
    from dialog_rl.ope.report import evaluate_logged, format_report

    if args.truth:
        raise OPEInputError(
            "--truth plays the target in dialog-rl's simulator; a target given only by "
            "its probabilities on your logs cannot be played"
        )
    target_dist = target_distribution(logged, args.policy, explore=args.explore)
    names = [f"f{i}" for i in range(logged.obs.shape[2])]
    result = evaluate_logged(
        logged,
        target_dist,
        feature_names=names,
        gamma=args.gamma,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        fqe=FQE() if args.fqe else None,
        action_names=[str(a) for a in range(logged.n_actions)],
    )
    result.warnings.extend(small_sample_warnings(result))
    source = (logged.summary or {}).get("imported", {}).get("source", "?")
    header = [
        f"off-policy evaluation of the target probabilities logged in {args.logs}",
        f"  imported from {source} (features shape: {len(names)} features, "
        f"{logged.n_actions} actions); logged by the policy whose propensities it carries",
    ]
    out = "\n".join(header) + "\n\n" + format_report(result)
    if args.json_out:
        payload = result.to_dict()
        payload["policy"] = args.policy
        payload["logs"] = str(args.logs)
        Path(args.json_out).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return out


def _domain_for(logged, scenario: str | None):
    from dialog_rl.domain import load_domain
    from dialog_rl.scenario import resolve_scenario

    s = logged.summary or {}
    path = scenario or s.get("scenario_path")
    if path is None:
        raise OPEInputError(
            f"{logged.path}: the logs do not name their scenario file; pass --scenario"
        )
    if not resolve_scenario(path).is_file():
        where = "--scenario" if scenario else f"{logged.path}/summary.json scenario_path"
        raise OPEInputError(f"{where}: scenario file {path} not found; pass --scenario")
    domain = load_domain(str(path))
    if logged.scenario_hash and logged.scenario_hash != domain.content_hash:
        raise OPEInputError(
            f"{path}: scenario hash {domain.content_hash[:12]} differs from the one the logs were "
            f"recorded on ({logged.scenario_hash[:12]}): the scenario file changed or is another one"
        )
    return domain, path


def _is_lifetime(logged) -> bool:
    cmd = (logged.summary or {}).get("command") or []
    spec = json.loads(logged.metadata.get("dialog_rl.observation_spec", "{}") or "{}")
    return "--lifetime" in cmd or any(f.startswith("life.") for f in spec.get("features", []))


def _make_env(domain, logged, lifetime: bool):
    from dialog_rl.env import DialogueEnv, LifetimeEnv

    channel = (logged.summary or {}).get("channel", "act")
    cls = LifetimeEnv if lifetime else DialogueEnv
    return cls(domain, noise=logged.noise, channel=channel, max_turns=logged.max_turns)


def _check_observation_spec(logged, spec) -> tuple[str, ...]:
    raw = logged.metadata.get("dialog_rl.observation_spec")
    names = tuple(spec.names)
    if raw:
        logged_names = tuple(json.loads(raw).get("features", []))
        if logged_names != names:
            raise OPEInputError(
                f"{logged.path}: the logged observations have {len(logged_names)} features that "
                f"differ from this scenario's {len(names)}: logs from another version or scenario"
            )
    if logged.obs.shape[2] != len(names) or logged.n_actions != len(spec.action_names):
        raise OPEInputError(
            f"{logged.path}: logged obs/mask widths {logged.obs.shape[2]}/{logged.n_actions} do "
            f"not fit the scenario ({len(names)} features, {len(spec.action_names)} actions)"
        )
    return names


def _target_policy(name: str, domain, spec, logged):
    from dialog_rl.policies import make_policy

    path = Path(name)
    if path.is_dir():
        theirs = _policy_scenario_hash(path)
        if theirs and logged.scenario_hash and theirs != logged.scenario_hash:
            raise OPEInputError(
                f"--policy {name}: trained on scenario hash {theirs[:12]}, but the logs were "
                f"recorded on {logged.scenario_hash[:12]}: evaluate it on logs of its own scenario"
            )
    return make_policy(name, domain, spec)


def _policy_scenario_hash(path: Path) -> str | None:
    """The scenario hash a run or checkpoint directory was made for, if it records one."""
    for candidate in (path / "summary.json", path / "policy.json", *path.glob("*/policy.json")):
        if candidate.is_file():
            try:
                meta = json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # load_policy reports a damaged checkpoint precisely
            if isinstance(meta.get("scenario"), dict) and meta["scenario"].get("hash"):
                return str(meta["scenario"]["hash"])
            if meta.get("scenario_hash"):
                return str(meta["scenario_hash"])
    return None


def logger_distribution(logged, domain, spec):
    """The logger's full distribution, recomputed from the run's summary, if it is a policy we
    can rebuild and it reproduces the logged propensities; else None and maybe a warning."""
    import numpy as np

    from dialog_rl.policies import BUILTIN, make_policy

    s = logged.summary or {}
    conf = s.get("policy") or {}
    name = conf.get("name")
    if name not in BUILTIN:
        return None, None
    logger = make_policy(name, domain, spec, epsilon=float(conf.get("epsilon", 0.0) or 0.0))
    dist = logged.target_distribution(logger, explore=bool(s.get("explore", True)))
    p = np.take_along_axis(dist, logged.action[..., None], 2)[..., 0]
    gap = float(np.abs(p - logged.pscore)[logged.valid].max())
    if gap > 1e-6:
        return None, (
            f"the logged propensities differ from the recomputed logging policy's by up to "
            f"{gap:.3g}; support is checked from propensities and masks only"
        )
    return dist, None
