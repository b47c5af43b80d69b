"""Simulated customers against real ones, side by side: ``dialog-rl compare``.

Both sides are read the same way. The main view is what the scenario's text NLU reads in the
customers' words: the real customers' utterances, and the simulated customers' utterances after
the text channel's word noise (MultiWOZ leaves yes and no unlabelled, so its labels and the
simulator's true acts cannot be compared on those). Beside it, the annotated view: MultiWOZ's
labels against the simulated customers' true acts, for the act types MultiWOZ labels.

Every figure has a 95% interval from a bootstrap over whole dialogues (turns of one dialogue are
not independent). ``act_tv`` is the total-variation distance between the two act-type
distributions of the main view: each user turn counts once for every act type read in it, or
once as ``none`` if nothing is read, and the counts are normalised to sum to one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dialog_rl.acts import INFORM, N_USER_ACTS, USER_ACT_NAMES
from dialog_rl.domain import Domain
from dialog_rl.realism.corpus import Dialogue
from dialog_rl.realism.labels import ANNOTATED_TYPES as LABEL_TYPES
from dialog_rl.realism.labels import Labels
from simulators.nlu import RuleNLU
from simulators.nlu_eval import ActiveDomain

__all__ = ["TurnView", "compare", "format_comparison", "real_side", "simulated_side"]

#: categories of the main view's distribution: the eight user act types, then nothing read
READ_CATEGORIES = (*USER_ACT_NAMES, "none")
#: categories of the annotated view: the types MultiWOZ labels (``LABEL_TYPES``), then none
LABEL_CATEGORIES = (*(USER_ACT_NAMES[t] for t in LABEL_TYPES), "none")

# columns of the per-dialogue count matrix that every figure is a ratio of
_TURNS = 0
_READ = 1  # ... _READ + 9: turns with each read category
_READ_INFORM = _READ + len(READ_CATEGORIES)  # turns with an inform read
_READ_SLOTS = _READ_INFORM + 1  # slots informed in those
_LABELLED = _READ_SLOTS + 1  # turns with labels (real) / every turn (simulated)
_LABEL = _LABELLED + 1  # ... + 6: labelled turns with each annotated category
_LABEL_INFORM = _LABEL + len(LABEL_CATEGORIES)
_LABEL_SLOTS = _LABEL_INFORM + 1
_BOOKING = _LABEL_SLOTS + 1
_DOMAINS = _BOOKING + 1  # domains the conversation spans
_COLUMNS = _DOMAINS + 1


@dataclass(frozen=True)
class TurnView:
    """One customer turn as both views see it."""

    read: frozenset[int]
    """Act types the NLU reads in the words."""
    read_slots: int
    """Distinct slots the NLU reads informed (the task slot aside)."""
    labelled: bool
    """Whether the turn has labels (a real turn may be unannotated; a simulated one never is)."""
    types: frozenset[int] = frozenset()
    """Act types of the labels (real) or of the true acts (simulated), of ``LABEL_TYPES``."""
    inform_slots: int = 0
    """Distinct slots informed in the labels or the true acts."""
    booking: bool = False
    """The turn is about a booking: a label on day, time, people, nights or reference (real), an
    inform of a slot of those kinds (simulated)."""
    domains: int = 0
    """On a conversation's first turn, the number of domains the conversation spans (its
    labels' domains, real; its goal's, simulated); 0 on the others."""
    agent: object = None
    """The agent's turn just before, for reading replies by context (``benchmarks/agent_acts.py``):
    the real agent's labels, or the simulated agent's action and words; None on a first turn."""


def real_side(
    domain: Domain, dialogues: list[Dialogue], corpus_domain: str
) -> list[list[TurnView]]:
    """The user turns of real dialogues, read by the scenario's NLU and by their labels (with
    several domains, a value they share is read as the domain's the customer last spoke of:
    the real agent's acts are not in the scenario's terms)."""
    nlu, labels = RuleNLU(domain), Labels(domain, corpus_domain)
    out = []
    for dialogue in dialogues:
        turns = []
        active = ActiveDomain(domain)
        agent = None
        for turn in dialogue.turns:
            if turn.speaker != "user":
                agent = turn.labels
                continue
            lt = labels.turn(turn.labels)
            got = nlu.parse(turn.text, active.hint)
            active.heard(got)
            read, slots = _read(domain, got)
            types = frozenset(lt.types & set(LABEL_TYPES))
            turns.append(
                TurnView(
                    read, slots, bool(turn.labels), types, lt.inform_slots, lt.booking, 0, agent
                )
            )
        if turns:
            turns[0] = replace(turns[0], domains=len(dialogue.domains))
        out.append(turns)
    return out


def simulated_side(
    domain: Domain, episodes: int, seed: int, noise: float | None = None, policy=None
) -> tuple[list[list[TurnView]], dict[str, int]]:
    """Simulated conversations with ``policy`` (default: the rule policy) on the text channel:
    each customer turn as the NLU read it (after word noise) and as the customer meant it; and
    the outcomes."""
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.rollout.runner import policy_rng
    from dialog_rl.seeding import episode_seed

    env = DialogueEnv(domain, noise=noise, channel="text")
    if policy is None:
        policy = make_policy("rule", domain, env.spec_obs)
    booking_slots = set(domain.booking.slots)
    conversations, outcomes = [], {}

    def view(info: dict, agent: tuple | None = None) -> TurnView:
        true = info["user_acts"]
        read, slots = _read(domain, info["observed_acts"])
        informed = {a[1] for a in true if a[0] == INFORM and a[1] != domain.task_slot}
        return TurnView(
            read,
            slots,
            True,
            frozenset(a[0] for a in true if a[0] in LABEL_TYPES),
            len(informed),
            bool(informed & booking_slots),
            0,
            agent,
        )

    for i in range(episodes):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        turns = [view(info)] if info["user_acts"] else []
        if turns:
            turns[0] = replace(turns[0], domains=len(env.user.goal.domains))
        while True:
            decision = policy.act(obs, info["action_mask"], explore=False, rng=rng)
            obs, _, terminated, truncated, info = env.step(decision.action)
            if info["user_acts"]:
                turns.append(view(info, (decision.action, info["system_text"])))
            if terminated or truncated:
                name = info["outcome"]["outcome"]
                outcomes[name] = outcomes.get(name, 0) + 1
                break
        conversations.append(turns)
    return conversations, outcomes


def compare(
    real: list[list[TurnView]],
    simulated: list[list[TurnView]],
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> dict:
    """Every figure for both sides with its 95% bootstrap interval, and the distances.

    Returns a JSON-ready dict: ``real`` and ``simulated`` (counts), ``figures`` (per figure and
    side: ``mean`` and ``ci95``), ``act_tv`` / ``act_tv_ci95`` (main view),
    ``act_tv_floor`` (the distance a simulator whose customers were exactly the real ones would
    still show, from the real sample's size alone: the mean distance between the real dialogues
    and bootstrap resamples of them), and ``act_tv_annotated`` / ``act_tv_annotated_ci95``.
    """
    if not real or not simulated:
        raise ValueError("compare needs at least one real and one simulated conversation")
    rng = np.random.default_rng(seed)
    counts = {"real": _counts(real), "simulated": _counts(simulated)}
    full = {side: _figures(c.sum(axis=0, keepdims=True), len(c)) for side, c in counts.items()}
    boot = {side: _figures(_resample(c, n_bootstrap, rng), len(c)) for side, c in counts.items()}
    figures: dict[str, dict] = {}
    for name in full["real"]:
        if name.startswith("_"):
            continue
        figures[name] = {
            side: {
                "mean": _number(full[side][name][0]),
                "ci95": _interval(boot[side][name]),
            }
            for side in ("real", "simulated")
        }
    out = {
        "real": _side_counts(real, counts["real"]),
        "simulated": _side_counts(simulated, counts["simulated"]),
        "figures": figures,
    }
    for key, dist in (("act_tv", "_read_dist"), ("act_tv_annotated", "_label_dist")):
        tv = _tv(full["real"][dist], full["simulated"][dist])[0]
        reps = _tv(boot["real"][dist], boot["simulated"][dist])
        out[key] = _number(tv)
        out[key + "_ci95"] = _interval(reps)
    out["act_tv_floor"] = _number(
        np.nanmean(_tv(boot["real"]["_read_dist"], full["real"]["_read_dist"]))
    )
    out["n_bootstrap"] = n_bootstrap
    return out


def format_comparison(result: dict) -> str:
    """The comparison as a table for the terminal."""
    f = result["figures"]
    real, sim = result["real"], result["simulated"]

    def cell(x: dict, pct: bool) -> str:
        lo, hi = x["ci95"]
        if x["mean"] is None or lo is None:
            return "n/a"
        if pct:
            return f"{x['mean']:6.1%} [{lo:5.1%}, {hi:5.1%}]"
        return f"{x['mean']:6.2f} [{lo:5.2f}, {hi:5.2f}]"

    def row(label: str, name: str, pct: bool = True) -> str:
        return f"  {label:<34}{cell(f[name]['real'], pct):>26}{cell(f[name]['simulated'], pct):>26}"

    lines = [
        f"  {'':<34}{'real [95% CI]':>26}{'simulated [95% CI]':>26}",
        row("user turns per conversation", "user_turns", pct=False),
        row("domains per conversation", "domains_per_conversation", pct=False),
        "",
        "  NLU-read (the scenario's NLU reads both sides' words; share of user turns with):",
    ]
    lines += [row(f"  {c}", f"read_share/{c}") for c in READ_CATEGORIES[:-1]]
    lines += [row("  nothing read", "read_share/none")]
    lines += [row("slots per inform (NLU-read)", "read_slots_per_inform", pct=False)]
    tv = result["act_tv"]
    lo, hi = result["act_tv_ci95"]
    lines += [
        f"  act_tv (NLU-read act types)       {tv:.3f} [{lo:.3f}, {hi:.3f}]   (from the real "
        f"sample's size alone: {result['act_tv_floor']:.3f})",
        "",
        f"  annotated (real: MultiWOZ labels of {real['labelled_turns']} annotated turns; "
        "simulated: the customers' true acts):",
    ]
    lines += [row(f"  {c}", f"label_share/{c}") for c in LABEL_CATEGORIES[:-1]]
    lines += [row("  none of these", "label_share/none")]
    lines += [row("slots per inform (annotated)", "label_slots_per_inform", pct=False)]
    lines += [row("booking share (annotated)", "booking_share")]
    tv = result["act_tv_annotated"]
    lo, hi = result["act_tv_annotated_ci95"]
    lines += [
        f"  act_tv (annotated act types)      {tv:.3f} [{lo:.3f}, {hi:.3f}]",
        "",
        f"  real: {real['dialogues']} dialogues, {real['user_turns']} user turns "
        f"({real['user_turns'] - real['labelled_turns']} unannotated: in the NLU-read view only); "
        f"simulated: {sim['dialogues']} conversations, {sim['user_turns']} customer turns",
    ]
    return "\n".join(lines)


# -- pieces ------------------------------------------------------------------------------------


def _read(domain: Domain, acts: list) -> tuple[frozenset[int], int]:
    slots = {a[1] for a in acts if a[0] == INFORM and a[1] != domain.task_slot}
    return frozenset(a[0] for a in acts), len(slots)


def _counts(conversations: list[list[TurnView]]) -> np.ndarray:
    """Per conversation, the counts every figure is a ratio of: ``[n, _COLUMNS]``."""
    c = np.zeros((len(conversations), _COLUMNS), dtype=np.float64)
    for i, turns in enumerate(conversations):
        for t in turns:
            c[i, _TURNS] += 1
            for k in t.read:
                c[i, _READ + k] += 1
            if not t.read:
                c[i, _READ + N_USER_ACTS] += 1
            if INFORM in t.read:
                c[i, _READ_INFORM] += 1
                c[i, _READ_SLOTS] += t.read_slots
            if not t.labelled:
                continue
            c[i, _LABELLED] += 1
            for j, k in enumerate(LABEL_TYPES):
                c[i, _LABEL + j] += k in t.types
            if not t.types:
                c[i, _LABEL + len(LABEL_TYPES)] += 1
            if t.inform_slots:
                c[i, _LABEL_INFORM] += 1
                c[i, _LABEL_SLOTS] += t.inform_slots
            c[i, _BOOKING] += t.booking
        c[i, _DOMAINS] = turns[0].domains if turns else 0
    return c


def _resample(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Column sums of ``n`` bootstrap resamples of the conversations: ``[n, _COLUMNS]``."""
    m = len(counts)
    weights = rng.multinomial(m, np.full(m, 1.0 / m), size=n).astype(np.float64)
    return weights @ counts


def _figures(sums: np.ndarray, conversations: int) -> dict[str, np.ndarray]:
    """Every figure from column sums ``[r, _COLUMNS]`` (one row per replicate)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        turns = sums[:, _TURNS]
        read = sums[:, _READ : _READ + len(READ_CATEGORIES)]
        label = sums[:, _LABEL : _LABEL + len(LABEL_CATEGORIES)]
        labelled = sums[:, _LABELLED]
        out = {
            "user_turns": turns / conversations,
            "domains_per_conversation": sums[:, _DOMAINS] / conversations,
        }
        for j, c in enumerate(READ_CATEGORIES):
            out[f"read_share/{c}"] = read[:, j] / turns
        out["read_slots_per_inform"] = sums[:, _READ_SLOTS] / sums[:, _READ_INFORM]
        for j, c in enumerate(LABEL_CATEGORIES):
            out[f"label_share/{c}"] = label[:, j] / labelled
        out["label_slots_per_inform"] = sums[:, _LABEL_SLOTS] / sums[:, _LABEL_INFORM]
        out["booking_share"] = sums[:, _BOOKING] / labelled
        out["_read_dist"] = read / read.sum(axis=1, keepdims=True)
        out["_label_dist"] = label / label.sum(axis=1, keepdims=True)
    return out


def _tv(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(p - q).sum(axis=-1)


def _side_counts(conversations: list[list[TurnView]], counts: np.ndarray) -> dict:
    return {
        "dialogues": len(conversations),
        "user_turns": int(counts[:, _TURNS].sum()),
        "labelled_turns": int(counts[:, _LABELLED].sum()),
    }


def _interval(replicates: np.ndarray) -> list[float | None]:
    """The 95% percentile interval of bootstrap replicates (those where the figure is defined)."""
    finite = replicates[np.isfinite(replicates)]
    if not len(finite):
        return [None, None]
    return [_number(x) for x in np.percentile(finite, [2.5, 97.5])]


def _number(x: float) -> float | None:
    """A figure for JSON: rounded, and null where it is undefined (no turn to divide by)."""
    x = float(x)
    return None if np.isnan(x) else round(x, 4)
