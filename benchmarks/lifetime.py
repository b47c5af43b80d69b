"""Per-conversation versus lifetime training: which policy keeps its customers.

For every scenario with a ``lifetime`` section and every training seed ``s``:

- **lifetime-trained**: ``--algo`` trains on ``--customers`` customer lifetimes through
  ``dialog_rl.train.train`` with ``lifetime=True`` (the code path of ``dialog-rl train
  --lifetime``; its return is the lifetime value);
- **per-conversation-trained**: the same algorithm, hyperparameters and seed train on as many
  single conversations as the lifetime run played (the same budget, counted in conversations);
- **rule** and **random**: no training.

Each policy then plays the same held-out customers in the lifetime environment (customers
``EVAL_OFFSET + j`` of seed ``100 + s``, never trained on): greedily, except random, which only
is random when it samples. The per-conversation policy sees the features it was trained on (the
``life.*`` history features are sliced off, as ``simulate --lifetime --policy`` does).

Reported per policy: success, reward (undiscounted: the per-conversation objective), turns,
annoyances (repeated questions, rejected offers, wrong actions, "say that again"), hang-ups and
hand-overs per conversation, the customers' mean satisfaction with a conversation (hidden from
every policy; the scenario's ``lifetime.satisfaction`` weights), retention (came back at least
once), visits and lifetime value per customer. Cells are
the mean over seeds ± the half-width of a 95% interval: Student t over the per-seed figures with
several seeds (it covers training variance and the customer sample alike), or over customers
with one seed. A second table gives, for every figure, lifetime minus per-conversation (what
training on lifetime value changed) and per-conversation minus rule (whether the per-conversation
learner wins conversations and loses customers), paired by held-out customer.

``--explore-fraction`` (DQN) makes each run explore over that share of its own episodes: DQN
counts its ε schedule in episodes, and a lifetime is one episode of several conversations.

Run: python benchmarks/lifetime.py [--quick] [--algo ppo] [--customers 3000] [--seeds 10]
     [--first-seed 0] [--gamma 0.995] [--explore-fraction 0.5] [--hp KEY=VALUE]
``--first-seed 5 --seeds 5`` adds seeds 5-9 to a saved run of seeds 0-4; ``--from-json A B``
prints the tables over both files' seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from dialog_rl.counter_rng import KeyedStream

ROOT = Path(__file__).resolve().parent.parent
Z95 = 1.959963984540054
#: Student t quantile t_{0.975, n-1} for n seeds
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}
HELD_OUT_BASE = 100
POLICIES = ("random", "rule", "per-conversation", "lifetime")
#: (column, key, per conversation?, percent?)
COLUMNS = (
    ("success / conv.", "success", True, True),
    ("reward / conv.", "reward", True, False),
    ("turns / conv.", "turns", True, False),
    ("annoyances / conv.", "annoyances", True, False),
    ("hang-ups", "hangup", True, True),
    ("hand-overs", "handover", True, True),
    ("satisfaction", "satisfaction", True, False),
    ("retention", "returned", False, True),
    ("visits", "visits", False, False),
    ("lifetime value", "value", False, False),
)


#: (column, which decisions): what each policy does with its turns, as shares of its decisions
DECISIONS = (
    ("questions", "request(slot) or confirm(slot)"),
    ("open prompts", "greet or reqmore: the customer says what they want next"),
    ("offers", "offer"),
    ("early offers", "offer while 6 or more products still match"),
)


def decision_kinds(spec) -> tuple[np.ndarray, int, int]:
    """Per action, its index in ``DECISIONS`` (-1: none of them), the ``offer`` action and the
    feature that says 6 or more products still match."""
    kinds = np.full(len(spec.action_names), -1)
    for a, name in enumerate(spec.action_names):
        if name.startswith(("request(", "confirm(")):
            kinds[a] = 0
        elif name in ("greet", "reqmore"):
            kinds[a] = 1
        elif name == "offer":
            kinds[a] = 2
    return kinds, spec.action_names.index("offer"), spec.index("matches_6_plus")


def play_customers(env, policy, customers: int, eval_seed: int, explore: bool) -> dict:
    """Play held-out customers' lifetimes; per-customer sums as arrays.

    Customer ``j`` is episode ``EVAL_OFFSET + j`` of ``eval_seed``, seeded as ``run_episode``
    seeds it (so ``dialog-rl simulate --lifetime`` plays the same customers for those indices).
    """
    from dialog_rl.rollout.runner import episode_seed, policy_rng
    from dialog_rl.train import EVAL_OFFSET

    keys = (
        "value",
        "returned",
        "visits",
        "success",
        "reward",
        "hangup",
        "handover",
        "turns",
        "annoyances",
        "satisfaction",
    )
    out = {k: np.zeros(customers) for k in keys}
    kinds, offer, crowded = decision_kinds(env.spec_obs)
    decisions = np.zeros(len(DECISIONS) + 1)  # the last one counts every decision
    rng = KeyedStream(0)
    for j in range(customers):
        seed = episode_seed(eval_seed, EVAL_OFFSET + j)
        obs, info = env.reset(seed=seed)
        policy_rng(seed, rng)
        while True:
            action = policy.act(obs, info["action_mask"], explore=explore, rng=rng).action
            decisions[-1] += 1
            if kinds[action] >= 0:
                decisions[kinds[action]] += 1
            if action == offer and obs[crowded] > 0.5:
                decisions[3] += 1
            obs, _, terminated, truncated, info = env.step(action)
            conv = info.get("conversation")
            if conv is not None:
                out["success"][j] += conv["success"]
                out["reward"][j] += conv["reward"]  # undiscounted: the per-conversation objective
                out["annoyances"][j] += conv["annoyances"]
                out["hangup"][j] += conv["hangup"]
                out["handover"][j] += conv["handover"]
                out["turns"][j] += conv["turns"]
                out["satisfaction"][j] += conv["satisfaction"]
            if terminated or truncated:
                break
        o = info["outcome"]
        out["value"][j] = o["lifetime_value"]
        out["returned"][j] = o["returned"]
        out["visits"][j] = o["visits"]
    out["decisions"] = decisions[:-1] / decisions[-1]
    return out


def figure(rows: dict, key: str, per_conversation: bool) -> tuple[float, float]:
    """A policy's figure over customers and the half-width of its 95% CI over customers
    (per-conversation figures are ratios of sums over customers, with a delta-method CI)."""
    y = rows[key]
    n = len(y)
    if not per_conversation:
        return float(y.mean()), float(Z95 * y.std(ddof=1) / math.sqrt(n))
    v = rows["visits"]
    ratio = y.sum() / v.sum()
    return float(ratio), float(Z95 * (y - ratio * v).std(ddof=1) / math.sqrt(n) / v.mean())


def paired_difference(a: dict, b: dict) -> dict:
    """Each figure of policy ``a`` minus policy ``b`` on the same held-out customers, with the
    half-width of its 95% CI over customers.

    Per-customer figures are differences paired by customer. A per-conversation figure is a ratio
    ``Σ y / Σ visits`` per policy; its difference's CI is the delta method on the customer-level
    residuals ``(y_a - r_a v_a) / mean(v_a) - (y_b - r_b v_b) / mean(v_b)``, so the pairing (the
    same customer's goal, persona and patience) narrows it as it does for the others.
    """
    out = {}
    for _, key, per_conv, _ in COLUMNS:
        if per_conv:
            va, vb = a["visits"], b["visits"]
            ra, rb = a[key].sum() / va.sum(), b[key].sum() / vb.sum()
            d = (a[key] - ra * va) / va.mean() - (b[key] - rb * vb) / vb.mean()
            mean = ra - rb
        else:
            d = a[key] - b[key]
            mean = d.mean()
        out[key] = (float(mean), float(Z95 * d.std(ddof=1) / math.sqrt(len(d))))
    return out


def explore_over(task: dict, episodes: int) -> dict:
    """The task's hyperparameters, with DQN's exploration schedule spanning ``explore_fraction``
    of this run's episodes when that is set.

    DQN counts its schedule in episodes, and a lifetime is one episode of several conversations:
    the same ``exploration_episodes`` would explore over a larger share of a lifetime run's
    budget than of the per-conversation run's (the bandits count conversations in both modes).
    """
    hp = dict(task["hyperparameters"])
    fraction = task.get("explore_fraction")
    if fraction is not None and task["algo"] == "dqn":
        hp["exploration_episodes"] = max(1, round(fraction * episodes))
    return hp


def run_one(task: dict) -> dict:
    """Train both policies for one scenario and seed, and play every policy's customers."""
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # 1-customer loop evaluations
    from dialog_rl.domain import load_domain
    from dialog_rl.env import LifetimeEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.policies.remap import RemappedPolicy, feature_map
    from dialog_rl.train import TrainConfig, train

    domain = load_domain(task["scenario"])
    env = LifetimeEnv(domain, noise=task["noise"])
    seed = task["seed"]
    common = dict(
        seed=seed,
        noise=task["noise"],
        eval_episodes=2,  # the loop's own curve is not needed: evaluated below, once
        rollout_batch=1,  # lifetimes are played one at a time: conversations too, to compare
    )
    life = train(
        domain,
        TrainConfig(
            task["algo"],
            dialogues=task["customers"],
            eval_every=task["customers"],
            lifetime=True,
            gamma=task.get("gamma"),
            hyperparameters=explore_over(task, task["customers"]),
            **common,
        ),
    )
    conv = train(
        domain,
        TrainConfig(
            task["algo"],
            dialogues=life.conversations,
            eval_every=life.conversations,
            hyperparameters=explore_over(task, life.conversations),
            **common,
        ),
    )
    from dialog_rl.env import DialogueEnv

    policies = {
        "random": make_policy("random", domain, env.spec_obs),
        "rule": make_policy("rule", domain, env.spec_obs),
        "per-conversation": RemappedPolicy(
            conv.learner, feature_map(DialogueEnv(domain).spec_obs, env.spec_obs)
        ),
        "lifetime": life.learner,
    }
    eval_seed = HELD_OUT_BASE + seed
    played = {
        name: play_customers(env, p, task["eval_customers"], eval_seed, explore=name == "random")
        for name, p in policies.items()
    }
    result = {
        **task,
        "scenario": domain.name,
        "conversations": life.conversations,
        "cpu_seconds": {"lifetime": life.cpu_seconds, "per-conversation": conv.cpu_seconds},
        "figures": {},
    }
    for name, rows in played.items():
        result["figures"][name] = {
            key: figure(rows, key, per_conv) for _, key, per_conv, _ in COLUMNS
        }
    result["decisions"] = {name: rows["decisions"].tolist() for name, rows in played.items()}
    result["difference"] = paired_difference(played["lifetime"], played["per-conversation"])
    result["difference_vs_rule"] = paired_difference(played["per-conversation"], played["rule"])
    return result


def _cell(values: list[tuple[float, float]], pct: bool) -> str:
    means = np.array([m for m, _ in values])
    if len(values) >= 2:
        half = T975.get(len(values), 1.96) * means.std(ddof=1) / math.sqrt(len(values))
    else:
        half = values[0][1]
    scale = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    digits = 1 if pct or abs(means.mean()) >= 10 else 2
    return f"{scale * means.mean():.{digits}f}{unit} ± {scale * half:.{digits}f}"


def tables(results: list[dict]) -> str:
    head = "| scenario | policy | " + " | ".join(c for c, *_ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    scenarios = sorted({r["scenario"] for r in results})
    for sc in scenarios:
        rows = [r for r in results if r["scenario"] == sc]
        for policy in POLICIES:
            cells = [
                _cell([r["figures"][policy][key] for r in rows], pct) for _, key, _, pct in COLUMNS
            ]
            label = f"**{policy}**" if policy in ("per-conversation", "lifetime") else policy
            lines.append(f"| {sc} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| scenario | difference (paired by customer) | "
        + " | ".join(c for c, *_ in COLUMNS)
        + " |",
        "|" + "---|" * (len(COLUMNS) + 2),
    ]
    for sc in scenarios:
        rows = [r for r in results if r["scenario"] == sc]
        for label, field, (a, b) in DIFFERENCES:
            cells = [
                _cell([_difference(r, field, a, b, key) for r in rows], pct)
                for _, key, _, pct in COLUMNS
            ]
            lines.append(f"| {sc} | {label} | " + " | ".join(cells) + " |")
    if all("decisions" in r for r in results):  # saved results from before the field lack it
        lines += [
            "",
            "| scenario | policy | " + " | ".join(f"{c} / decisions" for c, _ in DECISIONS) + " |",
            "|" + "---|" * (len(DECISIONS) + 2),
        ]
        for sc in scenarios:
            rows = [r for r in results if r["scenario"] == sc]
            for policy in POLICIES[1:]:
                shares = [[(r["decisions"][policy][k], math.nan) for r in rows] for k in range(4)]
                cells = [_cell(v, pct=True) for v in shares]
                if len(rows) == 1:  # a share over one seed's customers: no interval computed
                    cells = [c.split(" ±")[0] for c in cells]
                lines.append(f"| {sc} | {policy} | " + " | ".join(cells) + " |")
        lines.append(
            "\n"
            + "; ".join(f"{c}: {what}" for c, what in DECISIONS)
            + " (greedy, held-out customers)."
        )
    for sc in scenarios:
        rows = [r for r in results if r["scenario"] == sc]
        wins = sum(_difference(r, "difference", *DIFFERENCES[0][2], "value")[0] > 0 for r in rows)
        lines.append(
            f"\n{sc}: the lifetime-trained policy kept more lifetime value than the "
            f"per-conversation-trained one in {wins} of {len(rows)} seeds."
        )
    return "\n".join(lines)


#: (row label, result field, (policy a, policy b)): the paired differences a − b reported
DIFFERENCES = (
    ("lifetime − per-conversation", "difference", ("lifetime", "per-conversation")),
    ("per-conversation − rule", "difference_vs_rule", ("per-conversation", "rule")),
)


def _difference(result: dict, field: str, a: str, b: str, key: str) -> tuple[float, float]:
    """A seed's paired difference; from the two figures (no interval of its own) for results
    saved before the field existed, which the interval over seeds does not need."""
    if field in result:
        return tuple(result[field][key])
    return result["figures"][a][key][0] - result["figures"][b][key][0], float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 customers, 1 seed")
    parser.add_argument("--algo", default="ppo", help="learning algorithm (ppo)")
    parser.add_argument(
        "--hp", action="append", default=[], metavar="KEY=VALUE", help="learner hyperparameter"
    )
    parser.add_argument(
        "--gamma", type=float, default=None, help="discount per turn of the lifetime runs (0.995)"
    )
    parser.add_argument(
        "--explore-fraction",
        type=float,
        default=None,
        help="DQN: explore over this share of each run's episodes (lifetimes or conversations)",
    )
    parser.add_argument("--scenarios", nargs="+", default=None, help="scenario YAML files")
    parser.add_argument("--noise", type=float, default=None, help="semantic error rate")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="start at this seed (add seeds to a saved run)"
    )
    parser.add_argument("--customers", type=int, default=None, help="training lifetimes (3000)")
    parser.add_argument("--eval-customers", type=int, default=None, help="held-out (1000)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--json", default=None, help="also write per-seed results here")
    parser.add_argument(
        "--from-json", nargs="+", default=None, help="print the tables of saved results only"
    )
    args = parser.parse_args()
    if args.from_json:
        print(tables([r for f in args.from_json for r in json.loads(Path(f).read_text())]))
        return
    quick = args.quick
    seeds = args.seeds or (1 if quick else 10)
    customers = args.customers or (300 if quick else 3000)
    eval_customers = args.eval_customers or (300 if quick else 1000)
    hyper = {}
    for item in args.hp:
        key, _, text = item.partition("=")
        try:
            hyper[key] = json.loads(text)
        except json.JSONDecodeError:
            hyper[key] = text
    if args.scenarios is None:
        from dialog_rl.domain import load_domain

        all_yaml = sorted((ROOT / "scenarios").glob("*.yaml"))
        scenarios = [str(p) for p in all_yaml if load_domain(str(p)).lifetime is not None]
    else:
        scenarios = args.scenarios
    tasks = [
        {
            "scenario": s,
            "algo": args.algo,
            "hyperparameters": hyper,
            "gamma": args.gamma,
            "explore_fraction": args.explore_fraction,
            "noise": args.noise,
            "seed": seed,
            "customers": customers,
            "eval_customers": eval_customers,
        }
        for s in scenarios
        for seed in range(args.first_seed, args.first_seed + seeds)
    ]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for r in pool.map(run_one, tasks):
            f = r["figures"]
            print(
                f"  {r['scenario']} seed {r['seed']}: {r['conversations']} training conversations; "
                + ", ".join(
                    f"{p} value {f[p]['value'][0]:.1f} success {f[p]['success'][0]:.3f}"
                    for p in ("per-conversation", "lifetime")
                ),
                file=sys.stderr,
                flush=True,
            )
            results.append(r)
    print(tables(results))
    cpu = np.mean([sum(r["cpu_seconds"].values()) / 2 for r in results])
    first = np.mean([customers / r["conversations"] for r in results])
    print(
        f"\n{args.algo}, {customers} training customers per lifetime run and as many "
        f"conversations per per-conversation run; {eval_customers} held-out customers per seed "
        f"({seeds} seed(s)); mean ± 95% CI half-width ({'over seeds, Student t' if seeds > 1 else 'over customers'}); "
        f"{cpu:.1f} CPU s per training run; wall {time.perf_counter() - start:.0f} s with "
        f"{args.jobs} job(s). First visits were {first:.0%} of the lifetime runs' training "
        "conversations (100% of the per-conversation runs')."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
