"""Imported by the fork server of a worker pool (``pool.PRELOAD``) to load the engine's compiled
code once, so the workers it forks start playing at once.

A worker's first engine costs about 0.4 s of CPU: numba's own start-up and loading the cached
kernels that build the engine's structs (``customer_state.as_struct`` and the engine's own),
then those of a turn (start, step, outcomes, the rule policy).
Their compiled code depends only on the types of the engine's arrays, the same for every
scenario, so one engine of a shipped scenario, built here before any fork, serves every worker
whatever its scenario. Importing this anywhere else only costs that time once.

The fork server outlives the command by its own exit, and a reader of the command's output (a
pipe, ``subprocess.run(..., capture_output=True)``) waits for it: its final garbage-collection
passes over the loaded kernels took about 0.5 s, so they are skipped as the command's own are
(``gc.freeze`` at exit; the workers it forks end with ``os._exit`` and never run it).
"""

from __future__ import annotations

import atexit
import contextlib
import gc

import numpy as np

from dialog_rl.domain import load_domain
from dialog_rl.env.engine import Engine
from dialog_rl.policies.rule import RulePolicy
from dialog_rl.shipped import shipped_scenarios


def _prewarm() -> None:
    scenarios = shipped_scenarios()
    if "restaurant" not in scenarios:  # an install without the shipped files: nothing to do
        return
    # A warm-up only: whatever fails here fails again in the workers, which report it; a fork
    # server that died of it would take every pool with it.
    with contextlib.suppress(Exception):
        domain = load_domain(str(scenarios["restaurant"]))
        engine = Engine(domain, 1)
        # one turn, so the kernels of a turn (start, step, guard, outcomes, the rule policy's)
        # are loaded here once rather than in every worker
        rows = np.zeros(1, dtype=np.int64)
        engine.start(rows, np.zeros(1, dtype=np.uint64))
        RulePolicy(domain, engine.spec).act_batch(engine.obs, engine.masks, explore=False)
        engine.step(rows, rows)
        engine.finite(np.zeros(1), rows)
        engine.outcomes(rows)


_prewarm()
atexit.register(gc.freeze)
