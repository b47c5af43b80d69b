"""dialog-rl's estimators against Open Bandit Pipeline 0.4.1 and SCOPE-RL 0.2.1.

For each of ``--datasets`` independent logs (restaurant, 15% noise, ``--conversations`` each,
the rule policy exploring with ε = 0.3; target: the greedy rule policy), on identical arrays:

1. the point estimates: dialog-rl's IPS and SNIPS against OBP's IPW and SNIPW (one round per
   decision); IS, WIS, PDIS and WPDIS against SCOPE-RL's TIS, SNTIS, PDIS and SNPDIS (each
   conversation padded to one length with steps of ratio 1 and reward 0, as `dialog-rl logs
   export --format scope-rl` writes them). Printed: the largest relative difference.
2. the 95% bootstrap intervals of the self-normalised estimators (1000 resamples each), against
   the width they should have: 3.92 times the standard deviation of the estimate across the
   independent logs. OBP and SCOPE-RL normalise the weights once, on the whole log, and then
   resample the normalised per-trajectory (per-round) values; dialog-rl re-normalises in every
   resample, so its interval carries the ratio estimator's own variance.

Needs `pip install obp==0.4.1 scope-rl==0.2.1 torch==2.13.0` (a throwaway venv: they pin gym and
gymnasium versions of their own) with dialog-rl importable (PYTHONPATH=the checkout).

Run: python benchmarks/ope_libraries.py [--datasets 40] [--conversations 1000]
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def play(domain, n: int, seed: int):
    """One log: padded arrays [n, h] of rewards, propensities, actions, and the target's dist."""
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.seeding import episode_seed

    env = DialogueEnv(domain, noise=0.15)
    logger = make_policy("rule", domain, env.spec_obs, epsilon=0.3)
    target = make_policy("rule", domain, env.spec_obs)
    rng = np.random.default_rng(seed)
    episodes = []
    for i in range(n):
        obs, info = env.reset(seed=episode_seed(seed, i))
        rows, done = [], False
        while not done:
            d = logger.act(obs, info["action_mask"], explore=True, rng=rng)
            dist = target.probabilities(obs, info["action_mask"], explore=False)
            obs, r, term, trunc, info = env.step(d.action)
            rows.append((d.action, d.propensity, r, dist))
            done = term or trunc
        episodes.append(rows)
    h = max(len(e) for e in episodes)
    k = domain.n_actions
    action = np.zeros((n, h), dtype=np.int64)
    pscore = np.ones((n, h))
    reward = np.zeros((n, h))
    dist = np.zeros((n, h, k))
    dist[..., 0] = 1.0  # padding: the target takes action 0 with probability 1 (ratio 1)
    valid = np.zeros((n, h), dtype=bool)
    for i, rows in enumerate(episodes):
        for t, (a, p, r, pi) in enumerate(rows):
            action[i, t], pscore[i, t], reward[i, t], dist[i, t], valid[i, t] = a, p, r, pi, True
    return action, pscore, reward, dist, valid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=40)
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()

    import obp
    import obp.ope as obp_ope
    import scope_rl
    import scope_rl.ope.discrete as scope

    from dialog_rl.domain import load_domain
    from dialog_rl.ope import bandit, trajectory

    domain = load_domain("restaurant")
    ours_traj = {
        "IS": trajectory.IS(),
        "WIS": trajectory.WIS(),
        "PDIS": trajectory.PDIS(),
        "WPDIS": trajectory.WPDIS(),
    }
    theirs_traj = {
        "IS": scope.TrajectoryWiseImportanceSampling(),
        "WIS": scope.SelfNormalizedTIS(),
        "PDIS": scope.PerDecisionImportanceSampling(),
        "WPDIS": scope.SelfNormalizedPDIS(),
    }
    ours_dec = {"IPS": bandit.IPS(), "SNIPS": bandit.SNIPS()}
    theirs_dec = {
        "IPS": obp_ope.InverseProbabilityWeighting(),
        "SNIPS": obp_ope.SelfNormalizedInverseProbabilityWeighting(),
    }
    intervals = ("WIS", "WPDIS", "SNIPS")
    gap = {name: 0.0 for name in (*ours_traj, *ours_dec)}
    values: dict[str, list[float]] = {name: [] for name in intervals}
    widths: dict[str, dict[str, list[float]]] = {n: {"ours": [], "theirs": []} for n in intervals}
    for s in range(args.datasets):
        action, pscore, reward, dist, valid = play(domain, args.conversations, 1000 + s)
        n, h = valid.shape
        target_prob = np.take_along_axis(dist, action[..., None], 2)[..., 0]
        scope_args = dict(
            step_per_trajectory=h,
            action=action.ravel(),
            reward=reward.ravel(),
            pscore=pscore.ravel(),
            evaluation_policy_action_dist=dist.reshape(n * h, -1),
            gamma=1.0,
        )
        for name, est in ours_traj.items():
            mine = est.estimate_policy_value(reward, pscore, target_prob, valid)
            theirs = theirs_traj[name].estimate_policy_value(**scope_args)
            gap[name] = max(gap[name], abs(mine - theirs) / abs(mine))
            if name in intervals:
                values[name].append(mine)
                ci = est.estimate_interval(
                    reward, pscore, target_prob, valid, n_bootstrap=args.bootstrap, seed=s
                )
                widths[name]["ours"].append(ci.high - ci.low)
                lib = theirs_traj[name].estimate_interval(
                    **scope_args, n_bootstrap_samples=args.bootstrap, random_state=s
                )
                widths[name]["theirs"].append(lib["95.0% CI (upper)"] - lib["95.0% CI (lower)"])
        flat = (reward[valid], action[valid], pscore[valid], dist[valid])
        groups = np.nonzero(valid)[0]
        obp_args = dict(
            reward=flat[0],
            action=flat[1],
            pscore=flat[2],
            action_dist=flat[3][:, :, None],
            position=np.zeros(len(flat[0]), dtype=int),
        )
        for name, est in ours_dec.items():
            mine = est.estimate_policy_value(*flat)
            theirs = theirs_dec[name].estimate_policy_value(**obp_args)
            gap[name] = max(gap[name], abs(mine - theirs) / abs(mine))
            if name in intervals:
                values[name].append(mine)
                ci = est.estimate_interval(*flat, None, groups, n_bootstrap=args.bootstrap, seed=s)
                widths[name]["ours"].append(ci.high - ci.low)
                lib = theirs_dec[name].estimate_interval(
                    **obp_args, n_bootstrap_samples=args.bootstrap, random_state=s
                )
                widths[name]["theirs"].append(lib["95.0% CI (upper)"] - lib["95.0% CI (lower)"])
        print(f"  dataset {s + 1}/{args.datasets} done", file=sys.stderr)

    print(
        f"restaurant, noise 0.15, logger rule eps 0.3, target greedy rule; {args.datasets} logs "
        f"of {args.conversations} conversations; obp {obp.__version__}, scope-rl "
        f"{getattr(scope_rl, '__version__', '0.2.1')}; {args.bootstrap} bootstrap resamples"
    )
    print()
    print("point estimates on identical arrays: largest relative difference over the logs")
    for name, g in gap.items():
        lib = "OBP" if name in ours_dec else "SCOPE-RL"
        print(f"  {name:<6} vs {lib:<9} {g:.1e}")
    print()
    print("95% interval width, mean over the logs, against 3.92 x the sd across the logs")
    print(f"  {'estimator':<10} {'should be':>9} {'dialog-rl':>10} {'library':>9} {'ratio':>6}")
    for name in intervals:
        right = 3.92 * float(np.std(values[name], ddof=1))
        ours = float(np.mean(widths[name]["ours"]))
        theirs = float(np.mean(widths[name]["theirs"]))
        lib = "OBP" if name in ours_dec else "SCOPE-RL"
        print(
            f"  {name:<10} {right:>9.3f} {ours:>10.3f} {theirs:>9.3f} {theirs / ours:>5.2f}x"
            f"  ({lib})"
        )


if __name__ == "__main__":
    main()
