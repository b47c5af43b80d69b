"""Stable-Baselines3 as a consumer: sb3_contrib's MaskablePPO against dialog-rl's PPO and rule.

Same scenario, noise and number of training conversations for both learners; MaskablePPO trains
on ``gymnasium.make("dialog_rl/Restaurant-v0", noise=...)`` with the env's ``action_masks()``
(no wrapper, no glue in this script), with SB3's default hyperparameters, and stops after the
same number of conversations as ``dialog-rl train --algo ppo --dialogues N`` plays (SB3's
``StopTrainingOnMaxEpisodes``). Each trained policy, and the rule policy, then plays the same
held-out conversations greedily (the held-out set of ``benchmarks/learning.py``: seed ``s`` is
measured on set ``100 + s``). Wall and CPU time are the training call's, one process, one
thread for torch (both learners).

Prints a Markdown table: mean reward and success over seeds with a 95% t-interval of the mean,
and the wall seconds of one training run.

Run: python benchmarks/sb3.py [--dialogues 4000] [--seeds 0 1 2] [--scenario restaurant]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

HELD_OUT_BASE = 100
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}


def held_out(env, act, episodes: int, seed: int) -> dict:
    """Greedy reward and success of ``act(obs, mask) -> action`` on the held-out conversations."""
    from dialog_rl.train import evaluation_seeds

    rewards, successes = [], []
    for s in evaluation_seeds(episodes, HELD_OUT_BASE + seed):
        obs, info = env.reset(seed=s)
        done, total = False, 0.0
        while not done:
            obs, r, term, trunc, info = env.step(act(obs, info["action_mask"]))
            total += r
            done = term or trunc
        rewards.append(total)
        successes.append(env.outcome()["success"])
    return {"reward": float(np.mean(rewards)), "success": float(np.mean(successes))}


def run_maskable_ppo(scenario: str, noise: float, dialogues: int, seed: int, episodes: int):
    import gymnasium as gym
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes

    import dialog_rl.env  # noqa: F401  (registers the gymnasium ids)
    from dialog_rl.env.registration import env_name

    env = gym.make(f"dialog_rl/{env_name(scenario)}-v0", noise=noise)
    model = MaskablePPO("MlpPolicy", env, seed=seed, verbose=0)
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(10**9, callback=StopTrainingOnMaxEpisodes(dialogues))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    steps = model.num_timesteps

    def act(obs, mask):
        action, _ = model.predict(obs, action_masks=mask.astype(bool), deterministic=True)
        return int(action)

    m = held_out(env.unwrapped, act, episodes, seed)
    return {**m, "wall": wall, "cpu": cpu, "steps": steps}


def run_dialog_rl(algo: str, scenario: str, noise: float, dialogues: int, seed: int, episodes: int):
    from dialog_rl.domain import load_domain
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.train import TrainConfig, train

    domain = load_domain(scenario)
    env = DialogueEnv(domain, noise=noise)
    wall = cpu = None
    if algo == "rule":
        policy = make_policy("rule", domain, env.spec_obs)
    else:
        config = TrainConfig(
            algo, dialogues=dialogues, seed=seed, noise=noise, eval_every=dialogues, eval_episodes=1
        )
        start, cpu = time.perf_counter(), time.process_time()
        policy = train(domain, config).learner
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu

    def act(obs, mask):
        return policy.act(obs, mask.astype(np.int8), explore=False).action

    return {**held_out(env, act, episodes, seed), "wall": wall, "cpu": cpu}


def cell(values: list[float], fmt: str = "{:.2f}", scale: float = 1.0) -> str:
    a = np.asarray(values) * scale
    if len(a) < 2:
        return fmt.format(a.mean())
    h = T975.get(len(a), 1.96) * a.std(ddof=1) / math.sqrt(len(a))
    return f"{fmt.format(a.mean())} ± {fmt.format(h)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="restaurant", help="shipped scenario name")
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--dialogues", type=int, default=4000, help="training conversations")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eval-episodes", type=int, default=2000, help="held-out conversations")
    args = ap.parse_args()

    import os

    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    rows = {"rule": [], "dialog-rl ppo": [], "MaskablePPO (sb3-contrib)": []}
    for seed in args.seeds:
        common = (args.scenario, args.noise, args.dialogues, seed, args.eval_episodes)
        rows["rule"].append(run_dialog_rl("rule", *common))
        rows["dialog-rl ppo"].append(run_dialog_rl("ppo", *common))
        rows["MaskablePPO (sb3-contrib)"].append(run_maskable_ppo(*common))
        for name, results in rows.items():
            r = results[-1]
            wall = "" if r["wall"] is None else f", trained in {r['wall']:.1f} s"
            print(
                f"  seed {seed} {name}: reward {r['reward']:.2f}, success {r['success']:.1%}{wall}",
                file=sys.stderr,
            )
    import sb3_contrib

    print(
        f"{args.scenario}, noise {args.noise:.2f}, {args.dialogues} training conversations each, "
        f"seeds {', '.join(map(str, args.seeds))}; greedy on {args.eval_episodes} held-out "
        f"conversations per seed (sb3-contrib {sb3_contrib.__version__}, torch 1 thread)"
    )
    print()
    print(
        "| policy | reward | success | wall s / training run | CPU s / training run "
        "| env steps trained |"
    )
    print("|---|---|---|---|---|---|")
    for name, results in rows.items():
        walls = [r["wall"] for r in results if r["wall"] is not None]
        cpus = [r["cpu"] for r in results if r["cpu"] is not None]
        steps = [r.get("steps") for r in results if r.get("steps")]
        print(
            f"| {name} | {cell([r['reward'] for r in results])} | "
            f"{cell([r['success'] for r in results], '{:.1f}%', 100)} | "
            f"{f'{np.mean(walls):.1f}' if walls else '–'} | "
            f"{f'{np.mean(cpus):.1f}' if cpus else '–'} | "
            f"{f'{np.mean(steps):,.0f}' if steps else '–'} |"
        )
    print()
    print(
        f"(load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, "
        f"{os.cpu_count()} CPUs; wall times grow with the load, CPU times much less)"
    )


if __name__ == "__main__":
    main()
