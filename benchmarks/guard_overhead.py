"""Cost of the numerical guards: turns per CPU-second with them on vs patched out, interleaved.

The guards (``dialog_rl.numerics``) check every reward and observation of ``DialogueEnv.step``,
and ``Engine.finite`` every batch of the vector env's array engine. Rounds alternate on/off in
one process so machine load hits both alike; CPU time, not wall time. Rule policy, act channel,
no text, no logging.

Run: python benchmarks/guard_overhead.py
"""

from __future__ import annotations

import statistics
import time

import dialog_rl.env.dialogue_env as de
from dialog_rl.domain import load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.env.engine import Engine
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.batched import run_batched
from dialog_rl.rollout.runner import run_episode

ON = (de.check_features, de.check_reward, Engine.finite)
OFF = (lambda *a: None, lambda *a: None, lambda *a: True)
#: rounds alternate which goes first, so a warm-up or a trend does not favour one side
ORDERS = ((("on", ON), ("off", OFF)), (("off", OFF), ("on", ON)))


def setg(g):
    de.check_features, de.check_reward, Engine.finite = g


for name in ["restaurant", "shopping", "order_support"]:
    d = load_domain(f"scenarios/{name}.yaml")
    env = DialogueEnv(d)
    pol = RulePolicy(d, env.spec_obs)
    rates = {"on": [], "off": []}
    for r in range(8):
        for k, g in ORDERS[r % 2]:
            setg(g)
            turns = 0
            t = time.process_time()
            for i in range(800):
                turns += run_episode(env, pol, i, seed=0).outcome["turns"]
            rates[k].append(turns / (time.process_time() - t))
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(
        f"{name:14s} loop    guards on {on:8.0f}  off {off:8.0f} turns/CPU-s  ({on / off - 1:+.1%})"
    )
d = load_domain("scenarios/restaurant.yaml")
vec = DialogueVectorEnv(d, 2048)
pol = RulePolicy(d, vec.spec_obs)
rates = {"on": [], "off": []}
for r in range(6):
    for k, g in ORDERS[r % 2]:
        setg(g)
        t = time.process_time()
        turns = 0
        for ep in run_batched(vec, pol, range(8192), 0):
            turns += ep.outcome["turns"]
        rates[k].append(turns / (time.process_time() - t))
on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
print(
    f"restaurant     batched guards on {on:8.0f}  off {off:8.0f} turns/CPU-s  ({on / off - 1:+.1%})"
)
