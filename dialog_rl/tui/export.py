"""What a TUI session writes: transcripts (JSON, Markdown), Parquet logs, demonstrations.

All of it is rebuilt from the session's replayable conversations. The Parquet log has the batch
runs' schema (``dialog_rl.rollout.logs``) with ``overridden`` set on the turns a person picked,
so TUI conversations feed training (``dialog-rl train --demos``) and off-policy evaluation. In a
lifetime session, like ``simulate --lifetime``, one logged episode is one customer's lifetime and
the ``visit`` column says which conversation each turn belongs to.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dialog_rl.acts import format_user_acts
from dialog_rl.outputs import TUI, check_replaceable_directory
from dialog_rl.rollout.logs import EpisodeLogWriter
from dialog_rl.rollout.runner import EpisodeRecord
from dialog_rl.tui.session import Conversation, Session, Turn
from dialog_rl.tui.session_file import write_atomic
from dialog_rl.tui.visits import lifetime_end, visit_end, visit_heading


@dataclass(frozen=True)
class Saved:
    """The files one save wrote."""

    directory: Path
    files: tuple[Path, ...]


def transcript(session: Session, turns: list[Turn] | None = None) -> dict:
    """The current conversation as JSON-safe data: turns with texts, acts and the decision."""
    d = session.domain
    turns = session.turns if turns is None else turns
    rows = []
    for t in turns:
        rows.append(
            {
                "turn": t.index,
                "customer": t.user_text,
                "customer_acts": format_user_acts(d, t.user_acts),
                "heard_acts": format_user_acts(d, t.observed_acts),
                "action": d.act_names[t.action],
                "policy_action": d.act_names[t.policy_action],
                "overridden": t.overridden,
                "propensity": t.propensity,
                "agent": t.system_text,
                "reward": t.reward,
            }
        )
        if session.lifetime:
            rows[-1].update(visit=t.visit, visit_turn=t.visit_turn, day=t.day)
            if t.ended is not None:
                rows[-1]["visit_end"] = {**_words(d, t), **t.ended}
    last = turns[-1] if turns else None
    out = {
        "scenario": d.name,
        "scenario_hash": d.content_hash,
        "policy": session.policy_name,
        "seed": session.seed,
        "episode": session.episode,
        "noise": session.noise,
        "mode": session.mode,
        "turns": rows,
        "closing": (
            {
                "customer": last.reply_text,
                "customer_acts": format_user_acts(d, last.reply_acts),
                "heard_acts": format_user_acts(d, last.reply_observed),
            }
            if last
            else None
        ),
        "outcome": session.outcome() if session.finished else None,
        "reward": session.reward(),
    }
    if session.lifetime:
        out["lifetime"] = _lifetime(session, turns)
    return out


def _words(d, t: Turn) -> dict:
    """The customer's reply to turn ``t``: what they said and what the agent heard."""
    return {
        "customer": t.reply_text,
        "customer_acts": format_user_acts(d, t.reply_acts),
        "heard_acts": format_user_acts(d, t.reply_observed),
    }


def _lifetime(session: Session, turns: list[Turn]) -> dict:
    """A lifetime's visits so far, where it stands, and (once over) its summary."""
    d = session.domain
    next_visit = None
    if turns and turns[-1].ended is not None and not session.finished:
        said, heard, text = session.customer_words
        next_visit = {
            "visit": session.visit,
            "day": session.day,
            "customer": text,
            "customer_acts": format_user_acts(d, said),
            "heard_acts": format_user_acts(d, heard),
        }
    return {
        "visit": session.visit,
        "day": session.day,
        "value": float(session.env.history.value),
        "visits": [{"visit": t.visit, **t.ended} for t in turns if t.ended is not None],
        "next_visit": next_visit,
        "outcome": session.life_outcome,
    }


def transcript_markdown(session: Session) -> str:
    """The current conversation as Markdown a product person can read."""
    data = transcript(session)
    life = data.get("lifetime")
    who = "a person played the customer" if data["mode"] == "customer" else "simulated customer"
    title = f"conversation {data['episode']}"
    if life is not None:
        title = f"customer {data['episode']}'s visits"
        who += " who may come back"
    lines = [
        f"# {data['scenario']}: {title} (seed {data['seed']})",
        "",
        f"Policy `{data['policy']}`, noise {data['noise']:.2f}, {who}.",
        "",
    ]

    def customer(words: dict) -> None:
        if words["customer"] or words["customer_acts"]:
            lines.append(f"**Customer:** {words['customer']}  ")
            lines.append(
                f"<sub>said `{words['customer_acts']}`, heard `{words['heard_acts']}`</sub>"
            )
            lines.append("")

    visit = None
    for row in data["turns"]:
        if life is not None and row["visit"] != visit:
            visit = row["visit"]
            lines += [f"## {visit_heading(visit, row['day'])}", ""]
        if row["customer"] or row["customer_acts"]:
            lines.append(f"**Customer:** {row['customer']}  ")
            lines.append(f"<sub>said `{row['customer_acts']}`, heard `{row['heard_acts']}`</sub>")
            lines.append("")
        mark = ""
        if row["overridden"] and row["policy_action"] == row["action"]:
            mark = " *(a person's pick; the policy agreed)*"
        elif row["overridden"]:
            mark = f" *(overridden; the policy chose `{row['policy_action']}`)*"
        lines.append(f"**Agent** `{row['action']}`{mark}: {row['agent']}")
        lines.append("")
        if row.get("visit_end"):
            customer(row["visit_end"])
            lines += [f"*Visit over:* {visit_end(row['visit_end'])}.", ""]
    closing = data["closing"]
    if closing and not (data["turns"] and data["turns"][-1].get("visit_end")):
        customer(closing)
    if life is not None and life["next_visit"]:
        nxt = life["next_visit"]
        lines += [f"## {visit_heading(nxt['visit'], nxt['day'])}", ""]
        customer(nxt)
    if life is not None and life["outcome"]:
        lines.append(f"**Lifetime:** {lifetime_end(life['outcome'])}.")
    elif life is not None:
        lines.append(
            f"**Unfinished** lifetime: visit {life['visit'] + 1}, day {life['day']:.0f}, "
            f"lifetime value so far {life['value']:+.2f}."
        )
    elif data["outcome"]:
        o = data["outcome"]
        lines.append(
            f"**Outcome:** {o['outcome']} after {o['turns']} turns, reward {o['reward']:+g}."
        )
    else:
        lines.append(
            f"**Unfinished** after {len(data['turns'])} turns, reward {data['reward']:+g}."
        )
    return "\n".join(lines) + "\n"


def episode_record(session: Session, index: int, conversation: Conversation) -> EpisodeRecord:
    """One conversation as a batch-run log record, with the ``overridden`` column."""
    d = session.domain
    played = session.replay(conversation)
    turns = played.turns
    cols: dict[str, list] = {
        "turn": [t.index for t in turns],
        "obs": [t.decision.obs for t in turns],
        "mask": [t.decision.mask for t in turns],
        "action": [t.action for t in turns],
        "action_name": [d.act_names[t.action] for t in turns],
        "propensity": [t.propensity for t in turns],
        "reward": [t.reward for t in turns],
        "terminated": [t.terminated for t in turns],
        "truncated": [t.truncated for t in turns],
        "user_acts": [format_user_acts(d, t.user_acts) for t in turns],
        "observed_acts": [format_user_acts(d, t.observed_acts) for t in turns],
        "user_text": [t.user_text for t in turns],
        "system_text": [t.system_text for t in turns],
        "reply_acts": [format_user_acts(d, t.reply_acts) for t in turns],
        "reply_text": [t.reply_text for t in turns],
        "overridden": [t.overridden for t in turns],
    }
    if session.lifetime:
        cols["visit"] = [t.visit for t in turns]
    outcome = played.outcome
    if not played.finished:
        # A conversation left half-way is logged as such, never as a success or a failure.
        outcome = {**outcome, "outcome": "unfinished", "success": False}
    return EpisodeRecord(index, outcome, played.persona, cols)


def write_log(session: Session, directory: Path) -> int:
    """Write every conversation of the session as a Parquet log directory; returns rows written."""
    spec = session.env.spec_obs
    meta = {
        "dialog_rl.scenario_hash": session.domain.content_hash,
        "dialog_rl.policy": session.policy_name,
        "dialog_rl.seed": str(session.seed),
        "dialog_rl.source": "tui",
        "dialog_rl.observation_spec": json.dumps(spec.to_dict()),
    }
    conversations = session.conversations()
    if not conversations:
        return 0
    tmp = directory.parent / f".{directory.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        writer = EpisodeLogWriter(tmp, spec.size, session.domain.n_actions, meta)
        rows = 0
        for i, conv in enumerate(conversations):
            rec = episode_record(session, i, conv)
            rows += len(rec.turns["turn"])
            writer.write(rec)
        writer.close()
        if directory.exists():
            shutil.rmtree(directory)
        tmp.replace(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def write_demos(session: Session, path: Path) -> int:
    """The overridden turns alone, in the log schema: the file ``dialog-rl train --demos`` reads."""
    import pyarrow.parquet as pq

    spec = session.env.spec_obs
    writer = EpisodeLogWriter.__new__(EpisodeLogWriter)
    meta = {
        "dialog_rl.scenario_hash": session.domain.content_hash,
        "dialog_rl.policy": session.policy_name,
        "dialog_rl.source": "tui-demos",
        "dialog_rl.observation_spec": json.dumps(spec.to_dict()),
    }
    from dialog_rl.rollout.logs import log_schema

    writer.schema = log_schema(spec.size, session.domain.n_actions).with_metadata(meta)
    writer.obs_dim, writer.n_actions = spec.size, session.domain.n_actions
    d = session.domain
    records = []
    for i, demo in enumerate(session.demos):
        if demo.obs is None:
            session.fill_demo(demo)
        cols = {
            "turn": [len(demo.conversation.choices)],
            "obs": [demo.obs],
            "mask": [demo.mask],
            "action": [demo.action],
            "action_name": [d.act_names[demo.action]],
            "propensity": [1.0],
            "reward": [0.0],
            "terminated": [False],
            "truncated": [False],
            "user_acts": [""],
            "observed_acts": [""],
            "user_text": [""],
            "system_text": [""],
            "reply_acts": [""],
            "reply_text": [""],
            "overridden": [True],
            "visit": [demo.visit],
        }
        records.append(EpisodeRecord(i, {"outcome": "demo", "success": False}, "", cols))
    if not records:
        return 0
    table = writer._table(records)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(records)


def save_all(session: Session, directory: str | Path) -> Saved:
    """Save session, transcript (JSON and Markdown), Parquet log and demonstrations.

    Raises OSError (for the UI to report) if the directory cannot be written, ``OutputError``
    if it holds something else than earlier saves of the TUI (nothing is written then).
    """
    directory = Path(directory)
    if os.path.lexists(directory) and (not directory.is_dir() or any(directory.iterdir())):
        # its own earlier saves are replaced; a folder of anything else is not written into
        check_replaceable_directory(directory, TUI)
    directory.mkdir(parents=True, exist_ok=True)
    kind = "lifetime" if session.lifetime else "conversation"
    stem = f"{kind}-{session.seed}-{session.episode}"
    files = [session.save(directory / "session.json")]
    write_atomic(directory / f"{stem}.json", json.dumps(transcript(session), indent=2) + "\n")
    files.append(directory / f"{stem}.json")
    write_atomic(directory / f"{stem}.md", transcript_markdown(session))
    files.append(directory / f"{stem}.md")
    if write_log(session, directory / "log"):
        files.append(directory / "log")
    if write_demos(session, directory / "demos.parquet"):
        files.append(directory / "demos.parquet")
    return Saved(directory, tuple(files))
