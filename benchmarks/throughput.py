"""Simulation throughput: turns per second, one process, several workers, Ray, batched.

Part 1, per scenario: one process, rule policy, act-level channel, reward computed every turn
(the env's step does it), no text and no logging: the hot loop of training. A second figure
includes what `dialog-rl simulate --out` adds (utterances and Parquet rows).

Part 2, restaurant, rule policy and an untrained DQN (inference only): the same job through the
rollout backends (in-process; a local process pool of 1 and 2 workers; Ray with 2 actors), then
the batched path (the vector env's array engine, one `act_batch` per step; for the DQN one
forward pass per step) at each of ``--batches`` (1,024 conversations, `simulate`'s default,
and 32,768; each headline figure is the faster's), per wall second and per CPU second
(``time.process_time``: on a machine shared with other jobs the wall figures measure the free
cores as much as the code). Pool and
Ray start-up are measured separately (a job of one episode per worker) and reported next to the
steady-state figure, which excludes them.

``--profile`` adds where the batched DQN path spends its CPU time (cProfile on the CPU-time
clock, grouped by component: policy, turn, new conversations, vector env).

Part 3, what users run: ``dialog-rl simulate --workers 2`` with its Parquet log (wall clock,
start-up included) and ``dialog-rl train --algo dqn`` (CPU seconds); ``--only-commands`` runs
just these.

Last, each figure the run measured is printed against the single-engine issue's (#15) target,
met or not, on the machine and at the load it ran at.

Run: python benchmarks/throughput.py [--episodes N] [--scale-episodes N] [--batches N ...]
[--batch N (--profile)] [--batched-episodes N] [--no-ray] [--only-scale | --only-commands]
[--profile] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from dialog_rl.domain import load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.runner import run_episode
from dialog_rl.rollout.worker import VECTOR_ENVS

ROOT = Path(__file__).resolve().parent.parent


def measure(domain, episodes: int, text: bool, record: bool, noise: float) -> tuple[float, float]:
    """Turns per CPU second and per wall second of a user's loop: ``run_episode`` on one
    ``DialogueEnv``, one conversation at a time.

    The loop is single-threaded, so on a quiet machine the two agree; on a shared one the wall
    figure also measures how much of a core the other jobs left it (at load average 2.4 one run
    read 50-65k turns/s wall where the loop's own CPU time gave 82-87k), so the CPU figure is
    the headline."""
    env = DialogueEnv(domain, noise=noise, text=text)
    policy = RulePolicy(domain, env.spec_obs)
    turns = 0
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(episodes):
        turns += run_episode(env, policy, i, seed=0, record=record).outcome["turns"]
    return turns / (time.process_time() - cpu), turns / (time.perf_counter() - start)


# -- part 2: workers, Ray, batched ------------------------------------------------------------


def batched_dqn(domain, spec):
    """An untrained DQN whose ``act_batch`` scores the whole batch in one forward pass.

    The DQN's own ``act_batch`` when it has one (``DQNLearner.act_batch``: one forward pass,
    the ε-greedy choice and the draw compiled in one pass over the rows); otherwise this
    template: the same ε-greedy rule as ``DQNLearner.distribution`` row by row (first allowed
    maximum, ε spread over allowed actions), sampled per row with ``sample_rows``. The forward pass runs under
    ``inference_mode`` in blocks of ``BLOCK`` rows (activations that stay in cache run ~1.8x
    faster than one 16k-row pass), one intra-op thread, float32 shared with numpy (no copies).
    """
    import torch

    from dialog_rl.policies.base import Policy, sample_rows
    from dialog_rl.policies.deep import configure_torch
    from dialog_rl.policies.dqn import DQNLearner

    configure_torch(1)
    if DQNLearner.act_batch is not Policy.act_batch:  # the DQN has its own batched act
        return DQNLearner(domain, spec, 0)

    class BatchedDQN(DQNLearner):
        BLOCK = 2048

        def act_batch(self, obs, masks, *, explore=True, rng=None):
            n = len(obs)
            x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
            blocked = torch.from_numpy(masks == 0)
            greedy = torch.empty(n, dtype=torch.int64)
            with torch.inference_mode():
                for a in range(0, n, self.BLOCK):
                    q = self.q_network(x[a : a + self.BLOCK])
                    # first allowed maximum, as argmax over the allowed q-values row by row
                    greedy[a : a + self.BLOCK] = q.masked_fill_(
                        blocked[a : a + self.BLOCK], -np.inf
                    ).argmax(1)
            eps = self.epsilon() if explore else 0.0
            m = masks.astype(np.float64)
            probs = m / m.sum(axis=1, keepdims=True) * eps
            probs[np.arange(n), greedy.numpy()] += 1.0 - eps
            return sample_rows(probs, rng, explore)

    return BatchedDQN(domain, spec, 0)


def _batched_setup(scenario: str, policy_name: str, noise: float, batch: int):
    from dialog_rl.env.vector import DialogueVectorEnv

    d = load_domain(scenario)
    spec = DialogueEnv(d).spec_obs
    policy = RulePolicy(d, spec) if policy_name == "rule" else batched_dqn(d, spec)
    return policy, DialogueVectorEnv(d, batch, noise=noise, engine="array")


def _batched_half(args: tuple) -> tuple[int, float, float]:
    """One process of the batched figure: its share of the episodes (seeded by index).

    Turns, wall seconds and this process's CPU seconds. Finished episodes come back as
    columns (``run_batched_columns``), so no Python object is made per conversation.
    """
    from dialog_rl.rollout.batched import run_batched_columns

    scenario, policy_name, noise, batch, episodes = args
    policy, vec = _batched_setup(scenario, policy_name, noise, batch)
    for _ in run_batched_columns(vec, policy, range(episodes.stop, episodes.stop + batch), 1):
        pass  # warm up (first-touch of the arrays, torch's first call)
    start, cpu = time.perf_counter(), time.process_time()
    turns = sum(int(c["turns"].sum()) for c in run_batched_columns(vec, policy, episodes, 0))
    return turns, time.perf_counter() - start, time.process_time() - cpu


def batched_rate(
    scenario: str, policy: str, noise: float, batch: int, n: int, procs: int
) -> tuple[float, float]:
    """Turns per wall second and per CPU second of the batched path over ``procs`` processes."""
    import multiprocessing

    bounds = [n * k // procs for k in range(procs + 1)]
    tasks = [(scenario, policy, noise, batch, range(a, b)) for a, b in itertools.pairwise(bounds)]
    if procs == 1:
        results = [_batched_half(tasks[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            results = pool.map(_batched_half, tasks)
    turns = sum(t for t, _, _ in results)
    return turns / max(w for _, w, _ in results), turns / sum(c for _, _, c in results)


#: where the batched DQN path spends its time: (label, function, file suffix(es), caller or None).
#: The engine's turn is one compiled call (numba), so cProfile sees it whole.
_PARTS = (
    ("policy: forward pass (torch)", "forward_rows", "forward.py", None),
    (
        "policy: act_batch all (forward, mask, eps-greedy, sampling)",
        "act_batch",
        ("dqn.py", "deep.py", "throughput.py"),
        None,
    ),
    ("env: turn (Engine.step: act, reply, channel, tracker, features)", "step", "engine.py", None),
    ("env: new conversations (Engine.start)", "start", "engine.py", None),
)


def profile_batched(args) -> None:
    """cProfile (CPU-time clock) of one process of the batched DQN path, grouped by component."""
    import cProfile
    import pstats

    from dialog_rl.rollout.batched import run_batched_columns

    scenario = str(ROOT / "scenarios" / "restaurant.yaml")
    policy, vec = _batched_setup(scenario, "dqn", args.noise, args.batch)
    n = args.batched_episodes // 2
    for _ in run_batched_columns(vec, policy, range(n, n + args.batch), 1):
        pass
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    turns = sum(int(c["turns"].sum()) for c in run_batched_columns(vec, policy, n, 0))
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(tt for _, _, tt, _, _ in stats.values())

    def seconds(name, suffix, caller) -> float:
        out = 0.0
        for (file, _, fn), (_, _, tt, ct, callers) in stats.items():
            if not file.endswith(suffix) or (name is not None and fn != name):
                continue
            if name is None:
                out += tt
            elif caller is None:
                out += ct
            else:
                out += sum(v[3] for (_, _, c), v in callers.items() if c == caller)
        return out

    print(
        f"profile: batched DQN, 1 process x {args.batch} envs, {n} episodes, {turns:,} turns, "
        f"{total:.2f} CPU-s under cProfile ({turns / total:,.0f} turns/CPU-s with its overhead)"
    )
    rows = [(label, seconds(name, suffix, caller)) for label, name, suffix, caller in _PARTS]
    own = seconds("step_columns", "vector.py", None) - seconds("step", "engine.py", "_turn")
    own -= seconds("_start", "vector.py", "step_columns")
    rows.append(("env: vector env's own work (outcomes, guards, restarts)", own))
    top = [sec for label, sec in rows if not label.startswith(("  ", "policy: forward"))]
    rows.append(("rollout loop and the rest", total - sum(top)))
    for label, sec in rows:
        print(f"  {label:<52} {sec:6.2f} s {sec / total:6.1%}")


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


def scale_report(args) -> dict[tuple[str, str], float]:
    import os
    import tempfile

    from dialog_rl.policies.checkpoint import CheckpointError, load_policy, save_checkpoint
    from dialog_rl.rollout.backends import RolloutJob, start_ray

    d = load_domain(str(ROOT / "scenarios" / "restaurant.yaml"))
    env = DialogueEnv(d, noise=args.noise)
    n = args.scale_episodes
    tmp = tempfile.TemporaryDirectory(prefix="dialog-rl-bench-")
    dqn = batched_dqn(d, env.spec_obs)
    dqn_dir = save_checkpoint(Path(tmp.name) / "dqn", dqn, d, env.spec_obs, seed=0)
    policies = {"rule": "rule", "dqn": str(dqn_dir)}
    try:  # the process-pool and Ray workers load the DQN from this checkpoint
        load_policy(str(dqn_dir), d, env.spec_obs)
    except CheckpointError as err:
        print(f"(the DQN checkpoint does not load, so its worker rows are skipped: {err})")
        policies["dqn"] = ""
    load = os.getloadavg()[0]
    print(f"restaurant, noise {args.noise}, {n} episodes per figure, load average {load:.1f}")
    print(f"{'path':<34} {'rule turns/s':>14} {'dqn turns/s':>14}")
    order = ["1 process (in-process)", "process pool, 1 worker", "process pool, 2 workers"]
    order += ["Ray, 2 actors"] if not args.no_ray else []
    rows: dict[str, dict[str, str]] = {label: {} for label in order}
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
        start_ray(num_cpus=2)  # as dialog-rl starts one: workers at this process's priority
        ray_init = time.perf_counter() - t
    for name, policy in policies.items():
        scenario = str(ROOT / "scenarios" / "restaurant.yaml")
        for batch in args.batches:  # each figure is the faster batch size's
            for procs in (1, 2):
                bn = args.batched_episodes
                rate, per_cpu = batched_rate(scenario, name, args.noise, batch, bn, procs)
                key = (f"batched{procs}", name)
                rates[key] = max(rates.get(key, 0.0), rate)
                put(f"batched, {procs} x {batch} envs", name, f"{rate:,.0f}")
                put(f"  same, per CPU-second ({procs}x{batch})", name, f"{per_cpu:,.0f}")
        if not policy:
            continue
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
    if ray is not None:
        ray.shutdown()
    for label, cells in rows.items():
        print(f"{label:<34} {cells.get('rule', '-'):>14} {cells.get('dqn', '-'):>14}")
    for name in policies:
        beff = rates[("batched2", name)] / (2 * rates[("batched1", name)])
        if ("pool2", name) not in rates:
            print(f"scaling 1 -> 2 processes ({name}): {beff:.0%} efficiency (batched)")
            continue
        eff = rates[("pool2", name)] / (2 * rates[("pool1", name)])
        work = rates[("pool2cpu", name)] / rates[("pool1cpu", name)]
        print(
            f"scaling 1 -> 2 workers ({name}): {eff:.0%} efficiency (process pool), "
            f"{beff:.0%} (batched); turns per worker CPU-second, 2 vs 1 workers: {work:.0%}"
        )
    print(
        "(process pool and Ray: steady-state rate, start-up in parentheses; batched: "
        f"{args.batched_episodes} episodes, array engine, one act_batch per step, episodes "
        "split by index between processes; wall figures share 2 cores with whatever else runs)"
    )
    if ray is not None:
        print(f"(Ray local instance started in {ray_init:.1f}s, not counted above)")
    tmp.cleanup()
    return rates


def commands_report(args) -> dict[str, float]:
    """What users run: ``dialog-rl simulate`` with two workers (wall-clock turns/s, Parquet log
    written) and ``dialog-rl train --algo dqn`` (CPU seconds of the whole command)."""
    import json
    import resource
    import subprocess
    import tempfile

    scenario = str(ROOT / "scenarios" / "restaurant.yaml")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dialog-rl-bench-") as tmp:
        cmd = ["dialog-rl", "simulate", "--scenario", scenario, "--policy", "rule"]
        cmd += ["--episodes", str(args.simulate_episodes), "--workers", "2", "--seed", "0"]
        cmd += ["--noise", str(args.noise), "--out", f"{tmp}/sim"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - start
        summary = json.loads(Path(f"{tmp}/sim/summary.json").read_text())
        turns = summary["metrics"]["turns"]["mean"] * args.simulate_episodes
        out["simulate_2w"] = turns / wall
        print(
            f"dialog-rl simulate --episodes {args.simulate_episodes} --workers 2 (rule, Parquet "
            f"log): {turns / wall:,.0f} turns/s wall ({wall:.1f} s, start-up included)"
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = ["dialog-rl", "train", "--scenario", scenario, "--algo", "dqn", "--dialogues"]
        cmd += [str(args.train_dialogues), "--seed", "0", "--noise", str(args.noise)]
        cmd += ["--out", f"{tmp}/train", "--no-progress"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out["train_dqn_cpu_s"] = cpu
        print(
            f"dialog-rl train --algo dqn --dialogues {args.train_dialogues}: {cpu:.1f} CPU s "
            f"({wall:.1f} s wall, start-up and evaluations included)"
        )
    return out


def machine() -> str:
    """The CPU the figures were measured on: model, LLVM's name for it (what numba compiles
    for), whether it has AVX-512, and how many CPUs this process may use."""
    import os

    from llvmlite import binding

    model, flags = "unknown CPU", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    except OSError:
        pass
    avx512 = "yes" if " avx512f" in flags else "no" if flags else "?"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {binding.get_host_cpu_name()}, AVX-512 {avx512}, {cpus} CPUs"


#: the single-engine issue's (#15) targets: key, label, bound, whether more is better
TARGETS = (
    ("single_rule", "one conversation at a time, rule (turns/s)", 60_000, True),
    ("batched_rule_1p", "batched, one process, rule (turns/s)", 500_000, True),
    ("batched_dqn_1p", "batched, one process, DQN inference (turns/s)", 600_000, True),
    ("batched_dqn_2p", "batched, two processes, DQN inference (turns/s)", 1_000_000, True),
    ("simulate_2w", "dialog-rl simulate --workers 2, wall (turns/s)", 200_000, True),
    ("train_dqn_cpu_s", "dialog-rl train --algo dqn, CPU seconds", 10, False),
)


def print_targets(figures: dict) -> None:
    """The figures this run measured against the issue's targets, one line each."""
    rows = [t for t in TARGETS if t[0] in figures]
    if not rows:
        return
    print("\ntargets (issue #15; on this machine, at this load):")
    for key, label, bound, more in rows:
        value = figures[key]
        met = value >= bound if more else value <= bound
        shown = f"{value:,.0f}" if more else f"{value:.1f}"
        sign = ">=" if more else "<="
        print(f"  {label:<50} {shown:>10} {sign} {bound:>9,}  {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument(
        "--scale-episodes", type=int, default=12000, help="episodes per part-2 figure"
    )
    parser.add_argument(
        "--batch", type=int, default=VECTOR_ENVS, help="conversations per vector env (--profile)"
    )
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[VECTOR_ENVS, 32768],
        help=f"batch sizes of the batched figures (each headline figure is the fastest's; "
        f"{VECTOR_ENVS} is simulate's default: a batch's state stays in the cache, so a turn "
        "costs less)",
    )
    parser.add_argument(
        "--batched-episodes",
        type=int,
        default=200_000,
        help="episodes per batched figure (many batches, so the idle slots of the last steps weigh little)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print where the batched DQN path spends its time"
    )
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray figures")
    parser.add_argument("--only-scale", action="store_true", help="part 2 only")
    parser.add_argument(
        "--only-commands", action="store_true", help="part 3 only (simulate and train)"
    )
    parser.add_argument(
        "--only-scenarios", action="store_true", help="part 1 only (one conversation at a time)"
    )
    parser.add_argument("--simulate-episodes", type=int, default=200_000)
    parser.add_argument("--train-dialogues", type=int, default=4000)
    parser.add_argument(
        "--json",
        metavar="OUT",
        help="also write the headline figures (turns/s; train CPU seconds) to this JSON file",
    )
    args = parser.parse_args()
    import json
    import os

    figures: dict[str, float | str] = {"load_average": os.getloadavg()[0]}
    if not (args.only_scale or args.only_commands):
        print(
            f"{'scenario':<22} {'hot loop turns/s':>18} {'(wall)':>10} {'with text+log rows':>20}"
            f" {'vs restaurant':>14}"
        )
        domains = [load_domain(str(p)) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
        for d in domains:
            measure(d, 200, False, False, args.noise)  # warm up
        # interleaved: each repeat runs every scenario once, so a busy minute hits them alike
        runs: dict[str, list] = {d.name: [] for d in domains}
        for _ in range(args.repeats):
            for d in domains:
                runs[d.name].append(measure(d, args.episodes, False, False, args.noise))
        base = runs.get("restaurant") or runs[domains[0].name]
        for d in domains:
            hot = statistics.median(cpu for cpu, _ in runs[d.name])
            wall = statistics.median(w for _, w in runs[d.name])
            ratio = statistics.median(a[0] / b[0] for a, b in zip(runs[d.name], base))
            full, _ = measure(d, args.episodes // 2, True, True, args.noise)
            print(f"{d.name:<22} {hot:>18,.0f} {wall:>10,.0f} {full:>20,.0f} {ratio:>14.2f}")
            if d.name == "restaurant":
                figures["single_rule"] = hot
                figures["single_rule_wall"] = wall
        print(
            f"(median of {args.repeats} interleaved runs of {args.episodes} episodes; turns per CPU "
            f"second of the loop, per wall second in parentheses; vs restaurant: median ratio "
            f"within a repeat; noise {args.noise}; 1 process)"
        )
        print()
    if args.only_scenarios:
        print(f"load average (1 min, at the end): {os.getloadavg()[0]:.1f}")
        print(f"machine: {machine()}")
        print_targets(figures)
        return
    if not args.only_commands:
        rates = scale_report(args)
        figures["batched_rule_1p"] = rates[("batched1", "rule")]
        figures["batched_dqn_1p"] = rates[("batched1", "dqn")]
        figures["batched_dqn_2p"] = rates[("batched2", "dqn")]
        print()
    figures.update(commands_report(args))
    figures["load_average"] = max(figures["load_average"], os.getloadavg()[0])
    print(f"load average (1 min, highest of start and end): {figures['load_average']:.1f}")
    figures["machine"] = machine()
    print(f"machine: {figures['machine']} (figures from different machines do not compare)")
    print_targets(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if args.profile:
        print()
        profile_batched(args)


if __name__ == "__main__":
    main()
