"""The learning table: random, rule, each bandit, DQN and PPO on every shipped scenario.

For every scenario in scenarios/*.yaml, at 15% and 30% semantic noise, and for seeds 0, 1, 2:
each learner trains online for 4000 dialogues (PyDial's budget) through ``dialog_rl.train.train``
(the code path of ``dialog-rl train``, writing no files), then plays ``--eval-episodes`` held-out
conversations greedily (episodes never seen in training; seed ``s`` uses held-out set ``100 + s``,
so the three seeds are measured on three different sets). Random (which is only random when it
samples) and rule play the same held-out sets without training.

Prints a Markdown table: success, reward and turns as the mean over seeds with a 95% confidence
interval of that mean (Student t over the per-seed means, so it covers training variance and the
evaluation sample alike), and the CPU seconds of one training run (mean over seeds; all threads,
setup included, evaluation excluded). Learners that cannot be imported are skipped with a note.

Run: python benchmarks/learning.py [--quick] [--algos linucb thompson ...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ("random", "rule")
LEARNERS = ("egreedy", "linucb", "thompson", "dqn", "ppo")
#: Student t quantile t_{0.975, n-1} for n seeds
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}
HELD_OUT_BASE = 100


def run_one(task: dict) -> dict:
    """Train (or not) one policy with one seed and evaluate it; runs in a worker process."""
    from dialog_rl.domain import load_domain
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.train import TrainConfig, evaluate, train

    domain = load_domain(task["scenario"])
    env = DialogueEnv(domain, noise=task["noise"])
    cpu = None
    if task["algo"] in BASELINES:
        policy = make_policy(task["algo"], domain, env.spec_obs)
    else:
        config = TrainConfig(
            task["algo"],
            dialogues=task["dialogues"],
            seed=task["seed"],
            noise=task["noise"],
            eval_every=task["dialogues"] or 1,
            eval_episodes=1,  # the loop's own curve is not needed: evaluated below, once
            hyperparameters=task.get("hp", {}).get(task["algo"], {}),
        )
        result = train(domain, config)
        policy, cpu = result.learner, result.cpu_seconds
    m = evaluate(
        env,
        policy,
        task["eval_episodes"],
        HELD_OUT_BASE + task["seed"],
        explore=task["algo"] == "random",
    )
    return {
        **task,
        "scenario": domain.name,
        "success": m["success"]["mean"],
        "reward": m["reward"]["mean"],
        "turns": m["turns"]["mean"],
        "cpu_seconds": cpu,
    }


def available(algo: str) -> str | None:
    """None if the learner can be built here, else why not."""
    if algo in BASELINES:
        return None
    import importlib

    from dialog_rl.policies import LEARNERS as REGISTRY

    module, cls = REGISTRY[algo]
    try:
        getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval."""
    a = np.asarray(values, dtype=np.float64)
    if len(a) < 2:
        return float(a.mean()), float("nan")
    t = T975.get(len(a), 1.96)
    return float(a.mean()), float(t * a.std(ddof=1) / math.sqrt(len(a)))


def cell(values: list[float], pct: bool = False) -> str:
    m, h = mean_ci(values)
    if pct:
        return f"{100 * m:.1f}% ± {100 * h:.1f}"
    return f"{m:.2f} ± {h:.2f}"


def table(results: list[dict], algos: list[str]) -> str:
    lines = [
        "| scenario | noise | policy | success | reward | turns | CPU s / training run |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["scenario"], r["noise"]) for r in results})
    for scenario, noise in keys:
        for algo in algos:
            rows = [
                r
                for r in results
                if r["scenario"] == scenario and r["noise"] == noise and r["algo"] == algo
            ]
            if not rows:
                continue
            cpu = [r["cpu_seconds"] for r in rows if r["cpu_seconds"] is not None]
            cpu_cell = f"{np.mean(cpu):.1f}" if cpu else "–"
            lines.append(
                f"| {scenario} | {noise:.0%} | {algo} | {cell([r['success'] for r in rows], True)}"
                f" | {cell([r['reward'] for r in rows])} | {cell([r['turns'] for r in rows])}"
                f" | {cpu_cell} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 dialogues, 2 seeds")
    parser.add_argument("--algos", nargs="+", default=[*BASELINES, *LEARNERS])
    parser.add_argument("--scenarios", nargs="+", default=None, help="scenario YAML files")
    parser.add_argument("--noise", nargs="+", type=float, default=None)
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--dialogues", type=int, default=None, help="training dialogues (4000)")
    parser.add_argument("--eval-episodes", type=int, default=None, help="held-out (1000)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--json", default=None, help="also write per-seed results here")
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="ALGO:KEY=VALUE",
        help="a learner's hyperparameter (dqn:exploration_episodes=3000); repeatable",
    )
    parser.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        help="print the table of saved per-seed results only (rows of later files win)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.algos) - {*BASELINES, *LEARNERS})
    if unknown:
        parser.error(f"unknown policy {unknown[0]!r}")
    if args.from_json:
        saved: dict[tuple, dict] = {}
        for path in args.from_json:
            for r in json.loads(Path(path).read_text()):
                saved[(Path(r["scenario"]).stem, r["noise"], r["algo"], r["seed"])] = r
        results = list(saved.values())
        present = {r["algo"] for r in results}
        print(table(results, [a for a in args.algos if a in present]))
        return
    from dialog_rl.cli.train import hyperparameters

    hp: dict[str, dict] = {}
    for item in args.hp:
        algo, _, pair = item.partition(":")
        if algo not in LEARNERS or "=" not in pair:
            parser.error(f"--hp {item!r}: expected ALGO:KEY=VALUE with ALGO one of {LEARNERS}")
        hp.setdefault(algo, {}).update(hyperparameters([pair]))
    quick = args.quick
    seeds = args.seeds or (2 if quick else 3)
    dialogues = args.dialogues or (300 if quick else 4000)
    eval_episodes = args.eval_episodes or (200 if quick else 1000)
    noises = args.noise or ([0.15] if quick else [0.15, 0.3])
    scenarios = args.scenarios or [str(p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]

    algos = []
    for algo in args.algos:
        why = available(algo)
        if why is None:
            algos.append(algo)
        else:
            print(f"note: skipping {algo}: it is not available here ({why})", file=sys.stderr)
    tasks = [
        {
            "scenario": s,
            "noise": n,
            "algo": a,
            "seed": seed,
            "dialogues": dialogues,
            "eval_episodes": eval_episodes,
            "hp": hp,
        }
        for s in scenarios
        for n in noises
        for a in algos
        for seed in range(seeds)
    ]
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for r in pool.map(run_one, tasks):
            cpu = f", {r['cpu_seconds']:.1f} CPU s" if r["cpu_seconds"] is not None else ""
            print(
                f"  {r['scenario']} noise {r['noise']:.2f} {r['algo']} seed {r['seed']}: "
                f"success {r['success']:.3f}, reward {r['reward']:.2f}, turns {r['turns']:.2f}{cpu}",
                file=sys.stderr,
                flush=True,
            )
            results.append(r)
    print(table(results, algos))
    print(
        f"\n{dialogues} training dialogues per learner; greedy evaluation on {eval_episodes} "
        f"held-out conversations per seed ({seeds} seeds); mean ± 95% CI half-width over seeds "
        f"(Student t); wall {time.perf_counter() - start:.0f} s with {args.jobs} job(s)."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
