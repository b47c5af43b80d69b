"""The curse of horizon and its cure: OPE error against trajectory length.

Conversations are short, so long trajectories are made by chaining: ``K`` consecutive logged
conversations form one trajectory (the next customer arrives when one conversation ends), and the
estimand is the target's value per conversation (chain return / K), which does not depend on K.
The data budget is fixed (``--conversations`` logged from the epsilon-soft rule policy, cut into
chains of K), so only the horizon changes. Per K and estimator, the error is measured over
``--datasets`` independent logs against the truth (the greedy rule policy played online).

Estimators that multiply importance ratios along the trajectory (IS, PDIS, WPDIS) see their
error grow with K; the stationary-ratio estimator (SR, Liu et al. 2018) weights each decision by
a ratio of state visitation instead, and its error does not grow. DR's model for a chain is FQE
fitted on single conversations, plus the model's value of each conversation still to come: it is
told the chain structure. Once every trajectory weight has vanished DR is that model alone, a
direct method; how it fares in between depends on the model (benchmarks/results/ope_horizon.txt:
1-5% throughout on the current engine, where a worse model once let a few huge weights make it
the worst estimator at K = 8-16).

    python benchmarks/ope_horizon.py            # about 2 minutes on a quiet 2-core machine; PNG + CSV
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ESTIMATORS = ("IS", "PDIS", "WPDIS", "DR", "SR")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "restaurant.yaml"))
    ap.add_argument("--conversations", type=int, default=4096, help="logged per dataset")
    ap.add_argument("--datasets", type=int, default=6, help="independent logs per point")
    ap.add_argument("--chains", default="1,2,4,8,16,32,64,128", help="conversations per trajectory")
    ap.add_argument("--epsilon", type=float, default=0.3)
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--truth-episodes", type=int, default=20_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench-ope-horizon"), help="logs")
    args = ap.parse_args()

    from dialog_rl.domain import load_domain
    from dialog_rl.env import DialogueEnv
    from dialog_rl.ope import trajectory
    from dialog_rl.ope.fqe import FQE
    from dialog_rl.ope.logged import chain_array, load_logged
    from dialog_rl.ope.report import online_value
    from dialog_rl.ope.stationary import StationaryRatio, dialogue_state_keys
    from dialog_rl.policies import make_policy

    ks = [int(k) for k in args.chains.split(",")]
    domain = load_domain(args.scenario)
    env = DialogueEnv(domain, noise=args.noise)
    target = make_policy("rule", domain, env.spec_obs)
    t0 = time.perf_counter()
    truth, _ = online_value(env, target, episodes=args.truth_episodes, seed=2_000_003)
    print(
        f"truth (greedy rule, {args.truth_episodes} online conversations): {truth.value:.3f} "
        f"[{truth.low:.3f}, {truth.high:.3f}]",
        flush=True,
    )
    est = {name: {k: [] for k in ks} for name in ESTIMATORS}
    horizon = {k: [] for k in ks}
    work = Path(args.work)
    for ds in range(args.datasets):
        logs = work / f"logs-{ds}"
        cmd = [sys.executable, "-m", "dialog_rl.cli", "simulate", "--scenario", args.scenario,
               "--policy", "rule", "--epsilon", str(args.epsilon), "--noise", str(args.noise),
               "--episodes", str(args.conversations), "--seed", str(100 + ds), "--out", str(logs),
               "--force", "--no-progress"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(done.stderr)
        logged = load_logged(logs)
        dist = logged.target_distribution(target)
        # FQE on single conversations: the chain's model is it plus the model's value of each
        # conversation still to come in the chain.
        q = FQE(seed=ds).fit_predict(logged.obs, logged.action, logged.reward, dist, logged.valid)
        q_hat = np.take_along_axis(q, logged.action[..., None], 2)[..., 0]
        v_hat = (q * dist).sum(2)
        v0 = float(v_hat[:, 0].mean())
        tp = np.take_along_axis(dist, logged.action[..., None], 2)[..., 0]
        keys = dialogue_state_keys(logged.obs, env.spec_obs.names, logged.valid)
        for k in ks:
            chain = logged.chained(k)
            later = (k - 1 - np.arange(logged.n_episodes) % k)[:, None] * v0
            c_q = chain_array(logged.valid, np.where(logged.valid, q_hat + later, 0.0), k, 0.0)
            c_v = chain_array(logged.valid, np.where(logged.valid, v_hat + later, 0.0), k, 0.0)
            c_tp = chain_array(logged.valid, tp, k, 1.0)
            c_keys = chain_array(logged.valid, keys, k, -1)
            a = (chain.reward, chain.pscore, c_tp, chain.valid)
            horizon[k].append(float(chain.valid.sum(1).mean()))
            values = {
                "IS": trajectory.IS().estimate_policy_value(*a),
                "PDIS": trajectory.PDIS().estimate_policy_value(*a),
                "WPDIS": trajectory.WPDIS().estimate_policy_value(*a),
                "DR": trajectory.DR().estimate_policy_value(*a, c_q, c_v),
                "SR": StationaryRatio(tol=1e-6).estimate_policy_value(c_keys, *a),
            }
            for name, v in values.items():
                est[name][k].append(v / k)
        print(
            f"dataset {ds + 1}/{args.datasets} done ({time.perf_counter() - t0:.0f} s)", flush=True
        )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"\nrelative RMSE over {args.datasets} datasets of {args.conversations} conversations")
    print(f"  {'K':>4} {'decisions':>9} " + " ".join(f"{n:>8}" for n in ESTIMATORS))
    for k in ks:
        line = f"  {k:>4} {np.mean(horizon[k]):>9.1f} "
        for name in ESTIMATORS:
            e = np.asarray(est[name][k])
            rmse = float(np.sqrt(np.mean((e - truth.value) ** 2)) / abs(truth.value))
            bias = float((e.mean() - truth.value) / abs(truth.value))
            line += f" {100 * rmse:>7.1f}%"
            rows.append(
                {
                    "chain": k,
                    "decisions_per_trajectory": float(np.mean(horizon[k])),
                    "trajectories": args.conversations // k,
                    "estimator": name,
                    "rel_rmse": rmse,
                    "rel_bias": bias,
                    "mean_estimate": float(e.mean()),
                    "truth": truth.value,
                }
            )
        print(line)
    with open(out / "ope_horizon.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, out / "ope_horizon.png", args)
    print(
        "note: where all trajectory weights vanish, DR equals its model (FQE + the value of the\n"
        "conversations still to come, which knows the chain structure): a direct method then"
    )
    print(f"wrote {out / 'ope_horizon.csv'} and {out / 'ope_horizon.png'}")
    return 0


def _plot(rows: list[dict], path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in ESTIMATORS:
        r = [x for x in rows if x["estimator"] == name]
        ax.plot(
            [x["decisions_per_trajectory"] for x in r],
            [100 * x["rel_rmse"] for x in r],
            marker="o",
            label=name,
            linewidth=2.5 if name == "SR" else 1.5,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("decisions per trajectory (chains of 1 ... K conversations)")
    ax.set_ylabel("relative RMSE of value per conversation (%)")
    ax.set_title(
        f"Curse of horizon: {args.conversations} logged conversations (rule, eps {args.epsilon}), "
        "target greedy rule",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
