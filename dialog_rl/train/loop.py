"""The online training loop: play a conversation, learn from it, evaluate, checkpoint, repeat.

Training conversation ``i`` of a run with seed ``S`` is the one ``dialog-rl simulate --seed S``
plays as episode ``i`` (same customer, same noise, same exploration stream), so nothing in the
loop holds random state of its own: the episode counter and the learner's state (which includes
its generators) are all a checkpoint needs to continue exactly.

Greedy evaluation uses a fixed set of held-out conversations: episodes ``EVAL_OFFSET + j`` of
``eval_seed``, never played in training (checked at start).

With ``TrainConfig.lifetime`` an episode is a customer's whole lifetime of visits
(``LifetimeEnv``): the learner's return is the lifetime value, ``dialogues`` counts customers, and
evaluation measures retention, visits and lifetime value on held-out customers.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dialog_rl.counter_rng import KeyedStream
from dialog_rl.domain import Domain
from dialog_rl.env import DialogueEnv, LifetimeEnv
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.numerics import NumericalError, check_losses
from dialog_rl.policies import Policy, make_learner
from dialog_rl.policies.base import Episode
from dialog_rl.rollout.batched import run_batched
from dialog_rl.rollout.metrics import summarize, summarize_lifetimes
from dialog_rl.rollout.runner import episode_seed, policy_rng, run_episode
from dialog_rl.train.callbacks import Callback, CallbackList, ProgressBar
from dialog_rl.train.demos import load_demos
from dialog_rl.train.rundir import RunDirectory, TrainError

# what the loop is told and what it knows (TrainConfig and the rest stay importable from here)
from dialog_rl.train.state import (
    EVAL_OFFSET,
    EVAL_ROWS,
    EVAL_SEED,
    LoopState,
    TrainConfig,
    TrainResult,
)


def play_episode(
    env: DialogueEnv,
    policy: Policy,
    episode: int,
    seed: int,
    rng: np.random.Generator,
    callback: Callback | None = None,
    loop: LoopState | None = None,
) -> Episode | None:
    """Play training conversation (or lifetime) ``episode`` exploring; None if a callback
    stopped it."""
    s = episode_seed(seed, episode)
    obs, info = env.reset(seed=s)
    policy_rng(s, rng)
    observations, masks, actions, rewards, props, ends = [], [], [], [], [], []
    while True:
        mask = info["action_mask"]
        decision = policy.act(obs, mask, explore=True, rng=rng)
        next_obs, reward, terminated, truncated, info = env.step(decision.action)
        observations.append(obs)
        masks.append(mask)
        actions.append(decision.action)
        rewards.append(reward)
        props.append(decision.propensity)
        ends.append("conversation" in info)  # a lifetime env says when a visit's conversation ended
        if callback is not None:
            loop.decision = decision
            if not callback.on_step():
                return None
        obs = next_obs
        if terminated or truncated:
            break
    return Episode(
        obs=np.stack(observations).astype(np.float32, copy=False),
        masks=np.stack(masks).astype(np.int8, copy=False),
        actions=np.asarray(actions, dtype=np.int64),
        rewards=np.asarray(rewards, dtype=np.float64),
        propensities=np.asarray(props, dtype=np.float64),
        final_obs=obs,
        final_mask=info["action_mask"],
        terminated=bool(terminated),
        truncated=bool(truncated),
        outcome=info["outcome"],
        ends=np.asarray(ends, dtype=bool) if any(ends) else None,
    )


def make_env(domain: Domain, config: TrainConfig) -> DialogueEnv | LifetimeEnv:
    """The training environment ``config`` asks for: conversations, or customer lifetimes."""
    args = dict(noise=config.noise, channel=config.channel, max_turns=config.max_turns)
    if not config.lifetime:
        return DialogueEnv(domain, **args)
    if domain.lifetime is None:
        raise TrainError(
            f"scenario {domain.name!r} has no `lifetime` section: training on lifetimes needs one"
        )
    return LifetimeEnv(domain, **args)


def evaluation_seeds(episodes: int, eval_seed: int = EVAL_SEED) -> list[int]:
    """Environment seeds of the held-out conversations."""
    return [episode_seed(eval_seed, EVAL_OFFSET + j) for j in range(episodes)]


def evaluate(
    env: DialogueEnv | LifetimeEnv | DialogueVectorEnv,
    policy: Policy,
    episodes: int,
    eval_seed: int = EVAL_SEED,
    *,
    explore: bool = False,
) -> dict:
    """Success, reward, turns (with 95% CIs) over the held-out conversations; greedy by default.

    On a ``DialogueVectorEnv`` the conversations are played as a batch (one ``act_batch`` per
    step; the same conversations and outcomes). On a ``LifetimeEnv`` the episodes are held-out
    customers and the summary is ``summarize_lifetimes``' (retention, visits, lifetime value,
    per-conversation success).
    """
    held_out = range(EVAL_OFFSET, EVAL_OFFSET + episodes)
    if isinstance(env, DialogueVectorEnv):
        played = run_batched(env, policy, held_out, eval_seed, explore=explore)
        return summarize([ep.outcome for ep in played])
    rng = KeyedStream(0)  # re-seeded per episode
    outcomes = []
    for k in held_out:
        try:
            rec = run_episode(env, policy, k, eval_seed, explore=explore, rng=rng)
        except NumericalError as err:
            err.what += f" (held-out evaluation conversation {k - EVAL_OFFSET})"
            raise err.at_episode(k) from None
        outcomes.append(rec.outcome)
    return summarize_lifetimes(outcomes) if isinstance(env, LifetimeEnv) else summarize(outcomes)


def _check_held_out(config: TrainConfig) -> None:
    held_out = set(evaluation_seeds(config.eval_episodes, config.eval_seed))
    clash = [i for i in range(config.dialogues) if episode_seed(config.seed, i) in held_out]
    if clash:  # a 64-bit hash collision: astronomically unlikely, but never train on test data
        raise TrainError(
            f"training dialogue {clash[0]} of seed {config.seed} is also a held-out evaluation "
            "conversation; choose another --seed"
        )


def _eval_row(
    env: DialogueEnv | LifetimeEnv | DialogueVectorEnv,
    loop: LoopState,
    config: TrainConfig,
    extra: dict,
) -> dict:
    m = evaluate(env, loop.learner, config.eval_episodes, config.eval_seed)
    row = {"episode": loop.episode, "turns": loop.turns}
    if config.lifetime:
        row["conversations"] = loop.conversations
        row["dialog/success"] = m["conversation_success"]["mean"]
        for key, name in (
            ("lifetime_value", "value"),
            ("retention", "retention"),
            ("visits", "visits"),
            ("turns", "turns"),
        ):
            row[f"life/{name}"] = m[key]["mean"]
    else:
        for key in ("success", "reward", "turns", "hangup", "handover"):
            row[f"dialog/{key}"] = m[key]["mean"]
    row.update(loop.window_means())
    row.update(extra)
    return row


def check_inputs(domain: Domain, config: TrainConfig) -> None:
    """Raise what ``train`` would raise about its inputs (learner, hyperparameters,
    demonstrations), without training: ``--force`` asks before it deletes the run it replaces."""
    spec = make_env(domain, config).spec_obs
    make_learner(config.algo, domain, spec, config.seed, **config.learner_hyperparameters())
    if config.demos:
        load_demos(config.demos, domain, spec, config.override_weight)


def train(
    domain: Domain,
    config: TrainConfig,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    run_info: dict | None = None,
) -> TrainResult:
    """Train ``config.algo`` on ``domain``; with ``out``, write curve, checkpoints and final policy.

    ``resume`` continues the run in ``out`` from its newest valid checkpoint (or starts it if it
    has none); a resumed run ends with the same bytes as one never interrupted. ``run_info`` is
    extra JSON stored in ``run.json`` (scenario path, command line).
    """
    frozen: list[bool] = []  # set by _train once it froze the objects it set up
    try:
        return _train(
            domain,
            config,
            out,
            resume=resume,
            callbacks=callbacks,
            progress=progress,
            run_info=run_info,
            frozen=frozen,
        )
    finally:
        if frozen:
            gc.unfreeze()


def _train(
    domain: Domain,
    config: TrainConfig,
    out: str | Path | None,
    *,
    resume: bool,
    callbacks: Sequence[Callback],
    progress: bool,
    run_info: dict | None,
    frozen: list[bool],
) -> TrainResult:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    env_args = dict(noise=config.noise, channel=config.channel, max_turns=config.max_turns)
    if config.lifetime:
        env, eval_env = make_env(domain, config), make_env(domain, config)
    else:  # held-out conversations played as one batch; rounds are played by the collector
        eval_env = DialogueVectorEnv(domain, min(config.eval_episodes, EVAL_ROWS), **env_args)
        env = make_env(domain, config) if config.rollout_batch == 1 else None
    spec = eval_env.spec_obs
    learner = make_learner(
        config.algo, domain, spec, config.seed, **config.learner_hyperparameters()
    )
    _check_held_out(config)
    loop = LoopState(config.algo, config.dialogues, learner)
    run = RunDirectory(out) if out is not None else None

    restored = None
    if run is not None:
        if resume:
            if run.check_resumable(config.to_dict(), domain) is not None:
                restored = run.latest_checkpoint(domain, spec)
        else:
            run.check_fresh()
    demos, bc_metrics = None, {}
    if restored is None and config.demos is not None:
        demos = load_demos(config.demos, domain, spec, config.override_weight)
        try:
            fitted = learner.clone(demos.obs, demos.masks, demos.actions, demos.weights)
        except NotImplementedError as err:
            raise TrainError(f"--demos: {err}") from None
        bc_metrics = {k: float(v) for k, v in fitted.items()}
        bc_metrics["bc/overridden"] = float(demos.overridden)
    if run is not None:
        info = {
            "config": config.to_dict(),
            "scenario": {"name": domain.name, "hash": domain.content_hash},
            **(run_info or {}),
        }
        run.create(info)

    if restored is not None:
        t = restored.meta["training"]
        learner.load_state(restored.arrays, restored.meta["learner_state"])
        loop.episode, loop.turns = t["episode"], t["turns"]
        loop.conversations = t.get("conversations", loop.episode)
        loop.curve, loop.window = t["curve"], t["window"]
        demos_sha = t["config"]["demos_sha256"]
    else:
        demos_sha = demos.sha256 if demos is not None else None

    title = f"{domain.name} · {config.algo} · seed {config.seed} · noise {eval_env.noise:.2f}"
    if config.lifetime:
        title += " · lifetimes"
    trained_on = "lifetimes" if config.lifetime else "conversations"
    cbs = [*callbacks]
    if progress:
        cbs.append(ProgressBar())
    callback = CallbackList(cbs)
    callback.init_callback(loop)
    callback.on_training_start()

    final_at = None

    def checkpoint(final: bool) -> None:
        nonlocal final_at
        state = loop.training_state(config, demos_sha)
        kw = dict(seed=config.seed, training=state, trained_on=trained_on)
        run.save_checkpoint(loop.episode, learner, domain, spec, keep=config.keep_checkpoints, **kw)
        if final:
            run.save_final(learner, domain, spec, **kw)
            run.write_curve(loop.curve, plot=True, title=title, lifetime=config.lifetime)
            final_at = loop.episode

    if restored is None:
        row = _eval_row(eval_env, loop, config, bc_metrics)
        loop.curve.append(row)
        callback.on_evaluation(row)
        if run is not None:
            run.write_curve(loop.curve, plot=False)

    stopped = False
    rng = KeyedStream(0)  # re-seeded per episode
    collector, queue = _collector(domain, config, env_args), []
    # What is set up (torch, numpy, the scenario, the learner: ~350k objects) stays out of the
    # collector's full passes while training runs (none of it is garbage; each pass over it
    # cost ~80 ms, five in a 4000-dialogue DQN run); ``train`` unfreezes it at the end. Not if
    # the caller froze objects of its own.
    if gc.get_freeze_count() == 0:
        gc.freeze()
        frozen.append(True)
    while loop.episode < config.dialogues:
        if collector is not None:  # rounds played by rollout workers (train.collect)
            if not queue:
                queue = collector.collect(learner, _round(loop.episode, config))
            ep = queue.pop(0)
        else:
            try:
                ep = play_episode(env, learner, loop.episode, config.seed, rng, callback, loop)
            except NumericalError as err:
                raise err.at_episode(loop.episode) from None
        if ep is None:
            stopped = True
            break
        metrics = learner.learn(ep)
        # a diverged learner is caught at the update that diverged, not episodes later
        check_losses(metrics, loop.episode, getattr(learner, "updates", None))
        loop.episode += 1
        loop.turns += len(ep.actions)
        loop.conversations += int(ep.ends.sum()) if ep.ends is not None else 1
        loop.episode_data, loop.metrics = ep, metrics
        loop.add({**_rollout_metrics(ep), **{k: v for k, v in metrics.items() if not _is_nan(v)}})
        keep_going = callback.on_episode()
        at_end = loop.episode == config.dialogues or not keep_going
        if loop.episode % config.eval_every == 0 or at_end:
            row = _eval_row(eval_env, loop, config, {})
            loop.curve.append(row)
            callback.on_evaluation(row)
            if run is not None:
                run.write_curve(loop.curve, plot=False)
        if run is not None and (loop.episode % config.checkpoint_every == 0 or at_end):
            checkpoint(final=at_end)
        if not keep_going:
            stopped = True
            break

    if run is not None and final_at != loop.episode:
        # stopped mid-episode, resumed after the last checkpoint, or nothing left to train
        checkpoint(final=True)
    if collector is not None:
        collector.close()
    callback.on_training_end()
    cpu = time.process_time() - cpu0
    if run is not None:
        final_row = loop.curve[-1] if loop.curve else {}
        run.write_summary(
            {
                "episodes": loop.episode,
                "turns": loop.turns,
                "conversations": loop.conversations,
                "stopped_early": stopped,
                "final_evaluation": final_row,
                "cpu_seconds": cpu,
                "wall_seconds": time.perf_counter() - wall0,
            }
        )
    return TrainResult(
        learner,
        loop.curve,
        loop.episode,
        stopped,
        cpu,
        run.path if run else None,
        conversations=loop.conversations,
    )


def _rollout_metrics(ep: Episode) -> dict[str, float]:
    """What the curve shows of an exploring training episode (a conversation or a lifetime)."""
    o = ep.outcome
    if "visits" not in o:
        return {
            "rollout/success": float(o["success"]),
            "rollout/reward": float(o["reward"]),
            "rollout/turns": float(o["turns"]),
        }
    return {
        "rollout/success": float(o["conversation_success"]),
        "rollout/value": float(o["lifetime_value"]),
        "rollout/retention": float(o["returned"]),
        "rollout/visits": float(o["visits"]),
        "rollout/turns": float(o["turns"]),
    }


def _collector(domain: Domain, config: TrainConfig, env_args: dict):
    """Rollout workers for ``rollout_batch`` > 1 (see ``train.collect``), else None."""
    if config.rollout_batch == 1:
        return None
    from dialog_rl.rollout.backends import BackendError
    from dialog_rl.train.collect import Collector, LearnerSpec

    spec = LearnerSpec(
        domain,
        env_args,
        config.algo,
        config.seed,
        config.learner_hyperparameters(),
        lifetime=config.lifetime,
        rows=-(-config.rollout_batch // config.workers),  # a worker's share of a round
    )
    try:
        return Collector(spec, config.workers, config.backend, config.address)
    except BackendError as err:
        raise TrainError(str(err)) from None


def _round(episode: int, config: TrainConfig) -> range:
    """The round starting at ``episode``: up to the next multiple of rollout_batch, never past
    a checkpoint (so a resumed run starts its rounds where an uninterrupted one does)."""
    k, c = config.rollout_batch, config.checkpoint_every
    end = min((episode // k + 1) * k, (episode // c + 1) * c, config.dialogues)
    return range(episode, end)


def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)
