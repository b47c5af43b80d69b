"""Simulation throughput: turns per second, one process, several workers, Ray, batched.

Part 1, per scenario: one process, rule policy, act-level channel, reward computed every turn
(the env's step does it), no text and no logging: the hot loop of training. A second figure
includes what `dialog-rl simulate --out` adds (utterances and Parquet rows).

Part 2, restaurant, rule policy and an untrained DQN (inference only): the same job through the
rollout backends (in-process; a local process pool of 1 and 2 workers; Ray with 2 actors), then
the batched path (the vector env's array engine, one `act_batch` per step; for the DQN one
forward pass per step). Pool and Ray start-up are measured separately (a job of one episode per
worker) and reported next to the steady-state figure, which excludes them.

Run: python benchmarks/throughput.py [--episodes N] [--scale-episodes N] [--batch N] [--no-ray]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.runner import run_episode
from dialog_rl.scenario import load_domain

ROOT = Path(__file__).resolve().parent.parent


def measure(domain, episodes: int, text: bool, record: bool, noise: float) -> float:
    env = DialogueEnv(domain, noise=noise, text=text)
    policy = RulePolicy(domain, env.spec_obs)
    turns = 0
    start = time.perf_counter()
    for i in range(episodes):
        turns += run_episode(env, policy, i, seed=0, record=record).outcome["turns"]
    return turns / (time.perf_counter() - start)


# -- part 2: workers, Ray, batched ------------------------------------------------------------


def batched_dqn(domain, spec):
    """An untrained DQN whose ``act_batch`` scores the whole batch in one forward pass.

    The same ε-greedy rule as ``DQNLearner.distribution`` row by row (first allowed maximum,
    ε spread over allowed actions), sampled per row with ``sample_rows``.
    """
    import torch

    from dialog_rl.policies.base import sample_rows
    from dialog_rl.policies.dqn import DQNLearner

    class BatchedDQN(DQNLearner):
        def act_batch(self, obs, masks, *, explore=True, rng=None):
            with torch.no_grad():
                q = self.q_network(torch.from_numpy(obs)).numpy().astype(np.float64)
            allowed = masks.astype(bool)
            greedy = np.where(allowed, q, -np.inf).argmax(axis=1)
            eps = self.epsilon() if explore else 0.0
            m = masks.astype(np.float64)
            probs = m / m.sum(axis=1, keepdims=True) * eps
            probs[np.arange(len(q)), greedy] += 1.0 - eps
            return sample_rows(probs, rng, explore)

    return BatchedDQN(domain, spec, 0)


def _batched_half(args: tuple) -> tuple[int, float]:
    """One process of the 2-process batched figure: its half of the episodes (seeded by index)."""
    scenario, policy_name, noise, batch, episodes = args
    from dialog_rl.env.vector import DialogueVectorEnv
    from dialog_rl.rollout.batched import run_batched

    d = load_domain(scenario)
    spec = DialogueEnv(d).spec_obs
    policy = RulePolicy(d, spec) if policy_name == "rule" else batched_dqn(d, spec)
    vec = DialogueVectorEnv(d, batch, noise=noise, engine="array")
    list(run_batched(vec, policy, range(episodes.stop, episodes.stop + batch), 1))  # warm up
    start = time.perf_counter()
    turns = sum(e.outcome["turns"] for e in run_batched(vec, policy, episodes, 0))
    return turns, time.perf_counter() - start


def batched_rate(scenario: str, policy: str, noise: float, batch: int, n: int, procs: int):
    """Turns/s of the batched path over ``procs`` processes (each half of the episodes)."""
    import multiprocessing

    bounds = [n * k // procs for k in range(procs + 1)]
    tasks = [(scenario, policy, noise, batch, range(a, b)) for a, b in itertools.pairwise(bounds)]
    if procs == 1:
        results = [_batched_half(tasks[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            results = pool.map(_batched_half, tasks)
    return sum(t for t, _ in results) / max(s for _, s in results)


def timed_job(job, pool: int = 0, **backend) -> tuple[float, int, float, float]:
    """Wall seconds, turns, start-up (time to the first chunk less the time it took to play),
    and the workers' CPU seconds."""
    from dialog_rl.rollout.backends import run_pool, run_rollouts

    start = time.perf_counter()
    startup = None
    turns, cpu = 0, 0.0
    for chunk in run_pool(job, pool) if pool else run_rollouts(job, **backend):
        if startup is None:
            startup = max(time.perf_counter() - start - chunk.seconds, 0.0)
        turns += chunk.turns
        cpu += chunk.cpu_seconds
    return time.perf_counter() - start, turns, startup or 0.0, cpu


def scale_report(args) -> None:
    import os
    import tempfile

    from dialog_rl.policies.checkpoint import save_checkpoint
    from dialog_rl.rollout.backends import RolloutJob

    d = load_domain(str(ROOT / "scenarios" / "restaurant.yaml"))
    env = DialogueEnv(d, noise=args.noise)
    n = args.scale_episodes
    tmp = tempfile.TemporaryDirectory(prefix="dialog-rl-bench-")
    dqn = batched_dqn(d, env.spec_obs)
    dqn_dir = save_checkpoint(Path(tmp.name) / "dqn", dqn, d, env.spec_obs, seed=0)
    policies = {"rule": "rule", "dqn": str(dqn_dir)}
    load = os.getloadavg()[0]
    print(f"restaurant, noise {args.noise}, {n} episodes per figure, load average {load:.1f}")
    print(f"{'path':<34} {'rule turns/s':>14} {'dqn turns/s':>14}")
    rows: dict[str, dict[str, str]] = {}
    rates: dict[tuple[str, str], float] = {}

    def put(label: str, policy: str, text: str) -> None:
        rows.setdefault(label, {})[policy] = text

    ray = None
    if not args.no_ray:
        try:
            import ray
        except ImportError:
            print("(Ray is not installed: pip install 'dialog-rl[ray]'; Ray rows skipped)")
    if ray is not None:
        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_init = time.perf_counter() - t
    for name, policy in policies.items():
        job = RolloutJob(d, policy=policy, episodes=n, seed=0, noise=args.noise)
        el, turns, _, _ = timed_job(job)
        rates[("in-process", name)] = turns / el
        put("1 process (in-process)", name, f"{turns / el:,.0f}")
        for workers in (1, 2):
            el, turns, startup, cpu = timed_job(job, pool=workers)
            rate = turns / max(el - startup, 1e-9)
            rates[(f"pool{workers}", name)] = rate
            rates[(f"pool{workers}cpu", name)] = turns / cpu
            label = f"process pool, {workers} worker{'s' if workers > 1 else ''}"
            put(label, name, f"{rate:,.0f} ({startup:.1f}s)")
        if ray is not None:
            el, turns, startup, _ = timed_job(job, backend="ray", workers=2)
            put("Ray, 2 actors", name, f"{(turns / max(el - startup, 1e-9)):,.0f} ({startup:.1f}s)")
        scenario = str(ROOT / "scenarios" / "restaurant.yaml")
        for procs in (1, 2):
            rate = batched_rate(scenario, name, args.noise, args.batch, n, procs)
            rates[(f"batched{procs}", name)] = rate
            put(f"batched, {procs} x {args.batch} envs", name, f"{rate:,.0f}")
    if ray is not None:
        ray.shutdown()
    for label, cells in rows.items():
        print(f"{label:<34} {cells.get('rule', '-'):>14} {cells.get('dqn', '-'):>14}")
    for name in policies:
        eff = rates[("pool2", name)] / (2 * rates[("pool1", name)])
        beff = rates[("batched2", name)] / (2 * rates[("batched1", name)])
        work = rates[("pool2cpu", name)] / rates[("pool1cpu", name)]
        print(
            f"scaling 1 -> 2 workers ({name}): {eff:.0%} efficiency (process pool), "
            f"{beff:.0%} (batched); turns per worker CPU-second, 2 vs 1 workers: {work:.0%}"
        )
    print(
        "(process pool and Ray: steady-state rate, start-up in parentheses; batched: "
        "array engine, one act_batch per step, episodes split by index between processes)"
    )
    if ray is not None:
        print(f"(Ray local instance started in {ray_init:.1f}s, not counted above)")
    tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument(
        "--scale-episodes", type=int, default=12000, help="episodes per part-2 figure"
    )
    parser.add_argument("--batch", type=int, default=4096, help="conversations per vector env")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray figures")
    parser.add_argument("--only-scale", action="store_true", help="part 2 only")
    args = parser.parse_args()
    if not args.only_scale:
        print(f"{'scenario':<15} {'hot loop turns/s':>18} {'with text+log rows':>20}")
        for path in sorted((ROOT / "scenarios").glob("*.yaml")):
            d = load_domain(str(path))
            measure(d, 200, False, False, args.noise)  # warm up
            hot = [measure(d, args.episodes, False, False, args.noise) for _ in range(args.repeats)]
            full = measure(d, args.episodes // 2, True, True, args.noise)
            print(f"{d.name:<15} {statistics.median(hot):>18,.0f} {full:>20,.0f}")
        print(
            f"(median of {args.repeats} runs of {args.episodes} episodes; noise {args.noise}; "
            "1 process)"
        )
        print()
    scale_report(args)


if __name__ == "__main__":
    main()
