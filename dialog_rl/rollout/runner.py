"""Run conversations: one policy, one environment, episodes seeded by their index.

Episode ``i`` of a run with seed ``S`` is seeded from ``(S, i)`` alone, never from which worker or
in which order it runs, so any backend reproduces the same conversations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dialog_rl.acts import format_user_acts
from dialog_rl.counter_rng import KeyedStream
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import Policy

# the seeding rule sits below the env layer, which uses it too; ``episode_seed`` stays importable
# from here
from dialog_rl.seeding import episode_seed


def policy_rng(episode_seed: int, gen: KeyedStream | None = None) -> KeyedStream:
    """The policy's own stream for one episode (exploration draws), keyed by the episode seed.

    Counter-based (``dialog_rl.counter_rng.KeyedStream``): batched rollouts draw the same
    numbers for the episode's row. Pass ``gen`` to re-seed an existing stream in place.
    """
    return gen.reseed(episode_seed) if isinstance(gen, KeyedStream) else KeyedStream(episode_seed)


@dataclass
class EpisodeRecord:
    """Everything logged about one episode: per-turn columns and the outcome."""

    episode: int
    outcome: dict
    persona: str
    turns: dict[str, list] = field(default_factory=dict)


def run_episode(
    env: DialogueEnv,
    policy: Policy,
    episode: int,
    seed: int,
    *,
    explore: bool = True,
    record: bool = False,
    on_decision: Callable | None = None,
    rng: KeyedStream | None = None,
) -> EpisodeRecord:
    """Play one conversation; with ``record`` keep the per-turn log columns.

    ``rng`` is a scratch generator to re-seed for the policy (one is made if not given).
    """
    s = episode_seed(seed, episode)
    obs, info = env.reset(seed=s)
    rng = policy_rng(s, rng)
    d = env.domain
    cols: dict[str, list] = {}
    if record:
        for key in LOG_TURN_COLUMNS:
            cols[key] = []
    lifetime = hasattr(env, "visit")  # a LifetimeEnv: log which visit each turn belongs to
    if record and lifetime:
        cols["visit"] = []
    user_acts, user_text = info["user_acts"], info["user_text"]
    observed = info["observed_acts"]
    t = 0
    while True:
        mask = info["action_mask"]
        decision = policy.act(obs, mask, explore=explore, rng=rng)
        if on_decision is not None:
            on_decision(obs, mask, decision)
        visit = getattr(env, "visit", 0)
        next_obs, reward, terminated, truncated, info = env.step(decision.action)
        if record:
            if lifetime:
                cols["visit"].append(visit)
            cols["turn"].append(t)
            cols["obs"].append(obs)
            cols["mask"].append(mask)
            cols["action"].append(decision.action)
            cols["action_name"].append(d.act_names[decision.action])
            cols["propensity"].append(decision.propensity)
            cols["reward"].append(reward)
            cols["terminated"].append(terminated)
            cols["truncated"].append(truncated)
            cols["user_acts"].append(format_user_acts(d, user_acts))
            cols["observed_acts"].append(format_user_acts(d, observed))
            cols["user_text"].append(user_text)
            cols["system_text"].append(info["system_text"])
            cols["reply_acts"].append(format_user_acts(d, info["user_acts"]))
            cols["reply_text"].append(info["user_text"])
        # a lifetime env starts the customer's next visit within the step: act on its opening
        user_acts = info.get("next_user_acts", info["user_acts"])
        user_text = info.get("next_user_text", info["user_text"])
        observed = info.get("next_observed_acts", info["observed_acts"])
        obs = next_obs
        t += 1
        if terminated or truncated:
            break
    return EpisodeRecord(episode, info["outcome"], env.user.persona.name, cols)


LOG_TURN_COLUMNS = (
    "turn",
    "obs",
    "mask",
    "action",
    "action_name",
    "propensity",
    "reward",
    "terminated",
    "truncated",
    "user_acts",
    "observed_acts",
    "user_text",
    "system_text",
    "reply_acts",
    "reply_text",
)


def run_episodes(
    env: DialogueEnv,
    policy: Policy,
    episodes: range,
    seed: int,
    *,
    explore: bool = True,
    record: bool = False,
) -> Iterator[EpisodeRecord]:
    """Play the given episode indices in order."""
    rng = KeyedStream(0)  # re-seeded per episode
    for i in episodes:
        yield run_episode(env, policy, i, seed, explore=explore, record=record, rng=rng)
