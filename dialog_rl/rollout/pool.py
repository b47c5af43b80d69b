"""How worker processes start: a fork server, started as early as a command knows it needs one.

Light on purpose (it imports nothing but ``multiprocessing``): ``dialog-rl simulate --workers N``
starts the fork server before its own imports, so the server's imports (``PRELOAD``) run while
the command loads the scenario and policy, and the pool made later forks warm workers at once.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

#: what the fork server imports once, so every worker it forks starts with them loaded
PRELOAD = [
    "dialog_rl.rollout.backends",
    "dialog_rl.rollout.runner",
    "dialog_rl.rollout.batched",
    "dialog_rl.rollout.recorder",
    "dialog_rl.env.vector",
    "dialog_rl.policies.rule",
    "dialog_rl.rollout.prewarm",  # last: builds one engine, loading its compiled code
]


def start_method() -> str:
    """forkserver where the platform has it (cheap starts, no inherited threads), else spawn.

    Never plain fork: the parent may hold torch or Ray threads, which fork does not copy safely.
    """
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def pool_context() -> BaseContext:
    """The context pools of rollout workers are made in (its fork server preloads ``PRELOAD``)."""
    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_fork_server() -> None:
    """Start the fork server now, without waiting for its imports (nothing without one)."""
    if start_method() == "forkserver":
        from multiprocessing import forkserver

        from dialog_rl.kernel_cache import cache_dir

        cache_dir()  # settled here, so the server inherits a fallback (and does not say it again)
        pool_context()
        forkserver.ensure_running()
