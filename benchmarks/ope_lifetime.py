"""Off-policy evaluation over customer lifetimes: estimator error against lifetime length.

A trajectory is one customer's lifetime (``simulate --lifetime``: all their visits, each reward
discounted by the day it happens), and the estimand is the target's expected lifetime value.
The lifetime length is varied by a visit cap ``K``: each logged lifetime is cut after its first
``K`` visits (``LoggedDialogues.first_visits``), the lifetime that a cap of ``K`` visits gives
(the cap only truncates; the only feature that sees it, ``life.visit``, is read by neither the
logger nor the targets here). The truth for each ``K`` is the same cut of many lifetimes played
online by the target, with its 95% interval. The customers are the same at every ``K``, so only
the horizon changes.

Logger: the rule policy exploring with epsilon 0.3 (``simulate --lifetime --epsilon 0.3``, real
Parquet logs), or with ``--logger RUN`` a trained policy sampling its own actions. Targets: the
greedy rule policy, and the rule policy exploring with epsilon 0.1 (closer to the logger), or
``--targets`` (``rule``, ``rule:EPS``, run directories acting greedily). Per ``K``, target and
estimator, the error is the relative RMSE over ``--datasets`` independent logs; ESS is the
trajectory weights' effective sample size. With two or more targets a ranking table says in how
many datasets each estimator orders the first two as the truth does: what a team choosing
between them would learn.

Estimators: IS, WIS, PDIS, WPDIS (``dialog_rl.ope.trajectory``), DR and WDR with FQE fitted per
``K`` on the cut logs (one fold, one epoch per round, to keep the CPU budget: the default FQE of
``dialog-rl ope`` costs about 45 CPU-seconds per fit on 3,000 whole lifetimes), FQE itself, and
SR, the stationary-ratio estimator (``dialog_rl.ope.stationary``) over per-decision state keys:
the dialogue key (``dialogue_state_keys``, which drops the conversation's and the lifetime's
clocks) plus a flag "this is the last visit the cap allows", which is what makes the cut
lifetime's visit boundary Markov (after it, the customer is gone).

What it showed on order support (benchmarks/results/ope_lifetime.txt): every estimator's error
grows with the lifetime, and all of them underestimate at length, because the logger loses the
customers the target keeps, so the logs hold few of the late visits the target reaches; the
products of ratios (IS, WIS, PDIS, WPDIS) collapse first and furthest.

    python benchmarks/ope_lifetime.py    # ~8 CPU-minutes (8 min wall on 2 quiet cores); CSV+PNG+TXT

    # can the lifetime-trained PPO be validated offline from the per-conversation PPO's logs?
    dialog-rl train --scenario scenarios/shopping.yaml --algo ppo --dialogues 5997 --out runs/shop-ppo-conv
    dialog-rl train --scenario scenarios/shopping.yaml --algo ppo --lifetime --dialogues 3000 --out runs/shop-ppo-life
    python benchmarks/ope_lifetime.py --scenario scenarios/shopping.yaml --logger runs/shop-ppo-conv \
        --targets runs/shop-ppo-conv,runs/shop-ppo-life --name ope_lifetime_shopping_ppo
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ESTIMATORS = ("IS", "WIS", "PDIS", "WPDIS", "DR", "WDR", "FQE", "SR")
#: the default targets: the greedy rule policy, and the rule policy exploring with epsilon 0.1
TARGETS = "rule,rule:0.1"


def make_targets(text: str, domain, spec) -> list[tuple[str, object, bool]]:
    """(label, policy, explore) per comma-separated target: ``rule`` (greedy), ``rule:EPS`` (the
    rule policy exploring with epsilon EPS), or a trained run directory (greedy, as deployed)."""
    from dialog_rl.policies import make_policy
    from dialog_rl.policies.checkpoint import load_policy

    targets = []
    for item in text.split(","):
        if item == "rule":
            targets.append(("greedy rule", make_policy("rule", domain, spec), False))
        elif item.startswith("rule:"):
            eps = float(item[5:])
            targets.append((f"rule eps {eps:g}", make_policy("rule", domain, spec, eps), True))
        else:
            targets.append((f"{Path(item).name} (greedy)", load_policy(item, domain, spec), False))
    return targets


def lifetime_truth(env, policy, explore: bool, customers: int, seed: int, caps: list[int]):
    """Lifetime value of the first ``K`` visits, per customer and cap: float64 [customers, caps].

    Plays whole lifetimes online with ``policy.probabilities`` (the distribution the estimators
    weight by) and sums each visit's rewards; customer ``i`` is seeded as in every rollout.
    """
    from dialog_rl.policies.base import sample
    from dialog_rl.rollout.runner import episode_seed, policy_rng

    top = max(caps)
    per_visit = np.zeros((customers, top))
    for i in range(customers):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        while True:
            probs = policy.probabilities(obs, info["action_mask"], explore)
            obs, reward, terminated, truncated, info = env.step(sample(probs, rng))
            if info["visit"] < top:
                per_visit[i, info["visit"]] += reward
            if terminated or truncated:
                break
    cum = np.cumsum(per_visit, axis=1)
    return cum[:, [k - 1 for k in caps]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "order_support.yaml"))
    ap.add_argument("--customers", type=int, default=2500, help="logged lifetimes per dataset")
    ap.add_argument("--datasets", type=int, default=4, help="independent logs per point")
    ap.add_argument("--caps", default=None, help="visit caps (default: 1, 2, 4, ... and the "
                    "scenario's max_visits)")  # fmt: skip
    ap.add_argument("--logger", default="rule", help="rule, or a trained run directory (it "
                    "logs sampling its own actions)")  # fmt: skip
    ap.add_argument("--epsilon", type=float, default=0.3, help="the rule logger's exploration")
    ap.add_argument("--targets", default=TARGETS, help="comma-separated: rule, rule:EPS, or run "
                    f"directories (greedy); default {TARGETS}")  # fmt: skip
    ap.add_argument("--name", default="ope_lifetime", help="output files' name (.csv/.png/.txt)")
    ap.add_argument("--noise", type=float, default=None, help="default: the scenario's")
    ap.add_argument("--truth-customers", type=int, default=30_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench-ope-lifetime"), help="logs")
    args = ap.parse_args()

    from dialog_rl.domain import load_domain
    from dialog_rl.env import LifetimeEnv
    from dialog_rl.ope import trajectory
    from dialog_rl.ope.diagnostics import effective_sample_size
    from dialog_rl.ope.fqe import FQE
    from dialog_rl.ope.logged import load_logged
    from dialog_rl.ope.stationary import (
        StationaryRatio,
        dialogue_state_keys,
        lifetime_state_keys,
    )

    # One snapshot of the scenario for logs and truth alike, should the file change meanwhile.
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # (its whole directory: a scenario may name a knowledge-base file beside it)
    src = Path(args.scenario)
    shutil.copytree(src.parent, work / "scenario", dirs_exist_ok=True)
    scenario = work / "scenario" / src.name
    domain = load_domain(str(scenario))
    if domain.lifetime is None:
        sys.exit(f"{args.scenario}: no `lifetime` section")
    top = domain.lifetime.max_visits
    if args.caps:
        caps = sorted({int(k) for k in args.caps.split(",")})
    else:
        caps = sorted({2**j for j in range(10) if 2**j < top} | {top})
    env = LifetimeEnv(domain, noise=args.noise)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    out_lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out_lines.append(line)

    logger = f"rule eps {args.epsilon}" if args.logger == "rule" else f"{args.logger} (sampling)"
    say(
        f"OPE over customer lifetimes: {domain.name}, noise {env.noise:.2f}, logger {logger}, "
        f"{args.datasets} datasets x {args.customers} customers, caps {caps}"
    )
    targets = make_targets(args.targets, domain, env.spec_obs)
    policies = {label: policy for label, policy, _ in targets}
    truth = {}
    for j, (label, _, explore) in enumerate(targets):
        values = lifetime_truth(
            env, policies[label], explore, args.truth_customers, 3_000_017 + j, caps
        )
        mean = values.mean(0)
        half = 1.959963984540054 * values.std(0, ddof=1) / math.sqrt(len(values))
        truth[label] = (mean, half)
        say(
            f"truth {label} ({args.truth_customers} lifetimes online): "
            + ", ".join(f"K={k} {m:.2f}+-{h:.2f}" for k, m, h in zip(caps, mean, half))
        )

    est = {(t, n, k): [] for t, *_ in targets for n in ESTIMATORS for k in caps}
    ess = {(t, k): [] for t, *_ in targets for k in caps}
    decisions = {k: [] for k in caps}
    visits = {k: [] for k in caps}
    for ds in range(args.datasets):
        logs = work / f"logs-{ds}"
        cmd = [sys.executable, "-m", "dialog_rl.cli", "simulate", "--scenario", str(scenario),
               "--lifetime", "--policy", args.logger,
               "--episodes", str(args.customers), "--seed", str(200 + ds), "--out", str(logs),
               "--force", "--no-progress"]  # fmt: skip
        if args.logger == "rule":
            cmd += ["--epsilon", str(args.epsilon)]
        if args.noise is not None:
            cmd += ["--noise", str(args.noise)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(done.stderr)
        full = load_logged(logs)
        names = env.spec_obs.names
        dists = {
            label: full.target_distribution(policies[label], explore=explore)
            for label, _, explore in targets
        }
        base_keys = dialogue_state_keys(full.obs, names, full.valid)
        for k in caps:
            cut = full.first_visits(k)
            h = cut.valid.shape[1]
            decisions[k].append(float(cut.valid.sum(1).mean()))
            visits[k].append(float(np.where(cut.valid, cut.visit + 1, 0).max(1).mean()))
            # the last visit the cap allows ends the lifetime: part of the state for SR
            keys = lifetime_state_keys(base_keys[:, :h], cut.visit, k, cut.valid)
            for label, _, _ in targets:
                dist = dists[label][:, :h] * cut.valid[..., None]
                tp = np.take_along_axis(dist, cut.action[..., None], 2)[..., 0]
                a = (cut.reward, cut.pscore, tp, cut.valid)
                fqe = FQE(epochs=1, n_folds=1, seed=ds)
                q = fqe.fit_predict(cut.obs, cut.action, cut.reward, dist, cut.valid)
                q_hat = np.take_along_axis(q, cut.action[..., None], 2)[..., 0]
                v_hat = (q * dist).sum(2)
                values = {
                    "IS": trajectory.IS().estimate_policy_value(*a),
                    "WIS": trajectory.WIS().estimate_policy_value(*a),
                    "PDIS": trajectory.PDIS().estimate_policy_value(*a),
                    "WPDIS": trajectory.WPDIS().estimate_policy_value(*a),
                    "DR": trajectory.DR().estimate_policy_value(*a, q_hat, v_hat),
                    "WDR": trajectory.WDR().estimate_policy_value(*a, q_hat, v_hat),
                    "FQE": float(v_hat[:, 0].mean()),
                    "SR": StationaryRatio(tol=1e-6).estimate_policy_value(keys, *a),
                }
                for n, v in values.items():
                    est[(label, n, k)].append(v)
                ratio = np.where(cut.valid, tp / cut.pscore, 1.0)
                ess[(label, k)].append(effective_sample_size(ratio.prod(1)))
        say(
            f"dataset {ds + 1}/{args.datasets} done ({time.process_time() - cpu0:.0f} CPU-s, "
            f"{time.perf_counter() - wall0:.0f} s)"
        )

    rows = []
    for label, _, _ in targets:
        mean, half = truth[label]
        say()
        say(f"target {label}: relative RMSE over {args.datasets} datasets, against the truth")
        say(
            f"  {'K':>3} {'visits':>6} {'decis.':>6} {'truth':>14} {'ESS':>7} "
            + " ".join(f"{n:>7}" for n in ESTIMATORS)
        )
        for i, k in enumerate(caps):
            t = mean[i]
            e_ess = float(np.mean(ess[(label, k)]))
            line = (
                f"  {k:>3} {np.mean(visits[k]):>6.2f} {np.mean(decisions[k]):>6.1f} "
                f"{t:>8.2f}+-{half[i]:<4.2f} {e_ess:>7.1f} "
            )
            for n in ESTIMATORS:
                e = np.asarray(est[(label, n, k)])
                rmse = float(np.sqrt(np.mean((e - t) ** 2)) / abs(t))
                bias = float((e.mean() - t) / abs(t))
                line += f" {100 * rmse:>6.1f}%"
                rows.append(
                    {
                        "target": label,
                        "max_visits": k,
                        "visits_per_lifetime": float(np.mean(visits[k])),
                        "decisions_per_lifetime": float(np.mean(decisions[k])),
                        "customers": args.customers,
                        "datasets": args.datasets,
                        "estimator": n,
                        "rel_rmse": rmse,
                        "rel_bias": bias,
                        "mean_estimate": float(e.mean()),
                        "truth": float(t),
                        "truth_ci_half": float(half[i]),
                        "ess": e_ess,
                    }
                )
            say(line)
    if len(targets) >= 2:
        # what a team deciding between the first two targets learns: is the order right?
        a, b = targets[0][0], targets[1][0]
        say()
        say(
            f"ranking: datasets (of {args.datasets}) whose estimate orders {a} and {b} as the truth does"
        )
        say(f"  {'K':>3} {'truth':>17} " + " ".join(f"{n:>7}" for n in ESTIMATORS))
        for i, k in enumerate(caps):
            order = np.sign(truth[a][0][i] - truth[b][0][i])
            line = (
                f"  {k:>3} {truth[a][0][i]:>8.2f}{'<' if order < 0 else '>'}{truth[b][0][i]:<8.2f}"
            )
            for n in ESTIMATORS:
                diff = np.asarray(est[(a, n, k)]) - np.asarray(est[(b, n, k)])
                line += f" {int((np.sign(diff) == order).sum()):>7}"
            say(line)
    say()
    say(
        f"ESS: effective sample size of the lifetime importance weights (of {args.customers}); "
        "truth +- its 95% half-width"
    )
    say(
        f"total {time.process_time() - cpu0:.0f} CPU-s in this process "
        f"({time.perf_counter() - wall0:.0f} s wall), plus the simulate subprocesses"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / args.name
    with open(f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, f"{stem}.png", [t[0] for t in targets], logger, args, domain.name)
    say(f"wrote {stem}.csv, {stem}.png, {stem}.txt")
    Path(f"{stem}.txt").write_text("\n".join(out_lines) + "\n")
    return 0


def _plot(rows: list[dict], path: str, labels: list[str], logger: str, args, scenario: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(labels), figsize=(11, 4.5), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, label in zip(axes, labels):
        for n in ESTIMATORS:
            r = [x for x in rows if x["target"] == label and x["estimator"] == n]
            ax.plot(
                [x["max_visits"] for x in r],
                [100 * x["rel_rmse"] for x in r],
                marker="o",
                label=n,
                linewidth=2.5 if n == "SR" else 1.5,
                linestyle="--" if n in ("DR", "FQE") else "-",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("lifetime length: visits per customer, at most")
        ax.set_title(f"target: {label}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("relative RMSE of lifetime value (%)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(
        f"OPE over customer lifetimes ({scenario}): {args.datasets} x {args.customers} logged "
        f"customers, logger {logger}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
