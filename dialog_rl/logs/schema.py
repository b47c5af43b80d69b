"""The log schema for bringing your own logged decisions: columns, types, meaning, version.

One row per decision of the agent, with the logging policy's propensity. Two shapes:

- **acts**: what the agent heard before each decision (the customer's acts with confidences) and
  the act it chose, by name. dialog-rl replays them through its tracker and featurizer for a
  scenario, so any dialog-rl policy (rule, a trained run) can be the target of ``dialog-rl ope``.
- **features**: your own feature vector per decision and, per decision, the target policy's
  probability of every action (as Open Bandit Pipeline takes them), for a target that lives
  outside dialog-rl: ``dialog-rl ope --policy logged``.

``dialog-rl logs schema`` prints this; ``dialog-rl logs import`` checks files against it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

#: bumped whenever a column is added, removed or changes meaning; written into imported logs
SCHEMA_VERSION = 1
SHAPES = ("acts", "features")
#: values of the `outcome` column (dialog-rl's own logs use the same names)
OUTCOMES = ("success", "failure", "hangup", "handover", "truncated")


@dataclass(frozen=True)
class Column:
    """One column of the schema."""

    name: str
    type: str
    """How it is written: ``int``, ``float``, ``bool``, ``string``, ``list[float]``..."""
    shapes: tuple[str, ...]
    """The shapes that have this column."""
    required: bool
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column(
        "conversation",
        "string or int",
        SHAPES,
        True,
        "Which conversation the decision belongs to. Rows of a conversation may be anywhere in "
        "the file; they are ordered by `turn`.",
    ),
    Column(
        "turn",
        "int",
        SHAPES,
        True,
        "The decision's position in its conversation: 0, 1, 2, ... with no gap or repeat.",
    ),
    Column(
        "action",
        "string (acts) / int (features)",
        SHAPES,
        True,
        "The agent's act. acts: its name in the scenario's action catalog, as `dialog-rl "
        "validate SCENARIO` lists them (`request(area)`, `offer`, `bye`). features: its index, "
        "0 to K-1, where K is the length of `target_probs`.",
    ),
    Column(
        "propensity",
        "float in (0, 1]",
        SHAPES,
        True,
        "The logging policy's probability of taking `action` given what it knew: what makes "
        "off-policy evaluation possible (1.0 for a deterministic logger, which then supports "
        "evaluating only itself).",
    ),
    Column(
        "reward",
        "float",
        SHAPES,
        True,
        "The reward that followed the decision (dialog-rl's scenarios: the turn cost, plus the "
        "success or failure reward on the last decision).",
    ),
    Column(
        "terminated",
        "bool",
        SHAPES,
        False,
        "True on the last decision of a conversation that ended by itself (success, hang-up, "
        "hand-over, good-bye). Default: true on each conversation's last row.",
    ),
    Column(
        "truncated",
        "bool",
        SHAPES,
        False,
        "True on the last decision of a conversation cut short (a turn limit, the end of the "
        "logging window); not true together with `terminated`. Default: false.",
    ),
    Column(
        "outcome",
        "string",
        SHAPES,
        False,
        "How the conversation ended: success, failure, hangup, handover or truncated, on its "
        "last row (other rows empty or the same). `regress --logs` needs it for its success and "
        "hang-up metrics (without it: --metric reward or turns); `ope` does not use it.",
    ),
    Column(
        "customer_acts",
        "string",
        ("acts",),
        True,
        "What the agent heard before this decision (turn 0: the customer's opening), in the "
        "notation of dialog-rl's own `observed_acts` column: acts separated by ` | `, each "
        "`inform(slot=value)`, `request(slot)`, `hello`, `affirm`, `negate`, `thank`, `bye` or "
        "`hangup`, optionally followed by `@confidence` in [0, 1] (default 1), e.g. "
        "`inform(food=italian)@0.82 | request(phone)@0.95`. Slots and values are the "
        "scenario's; `dontcare` is a value of every informable slot. Empty: nothing heard.",
    ),
    Column(
        "features",
        "list[float] (CSV: a JSON array)",
        ("features",),
        True,
        "Your own description of the state at the decision; the same length on every row.",
    ),
    Column(
        "target_probs",
        "list[float] (CSV: a JSON array)",
        ("features",),
        True,
        "The target policy's probability of each of the K actions at this decision, summing "
        "to 1 (OBP's `action_dist` row). K is the same on every row.",
    ),
    Column(
        "mask",
        "list[0/1] (CSV: a JSON array)",
        ("features",),
        False,
        "Which actions were allowed (K entries); the logged action must be allowed and the "
        "target may not put probability on a forbidden one. Default: all allowed. (acts: the "
        "mask is dialog-rl's own, from the replayed tracker.)",
    ),
)


#: dialog-rl's own log (``simulate --out``, ``logs import``, the TUI's saves): one Parquet row per
#: decision, ``part-NNNNN.parquet`` files; name, type, meaning
OWN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("episode", "int64", "the conversation's index in the run (its seed is (run seed, episode))"),
    ("turn", "int32", "0, 1, 2, ... within the conversation"),
    ("obs", "list<float32>[d]", "the observation the policy saw (`validate` lists features)"),
    ("mask", "list<bool>[K]", "the actions allowed then"),
    ("action", "int32", "the action taken (index into the catalog)"),
    ("action_name", "string", "its name"),
    ("propensity", "float64", "the logging policy's probability of that action"),
    ("reward", "float64", "the reward that followed"),
    ("terminated", "bool", "the conversation ended with this decision"),
    ("truncated", "bool", "the turn limit cut it off here"),
    ("user_acts", "string", "what the customer said before the decision (acts)"),
    ("observed_acts", "string", "what the agent heard of it, with confidences"),
    ("user_text", "string or null", "the customer's words before the decision"),
    ("system_text", "string or null", "the agent's words"),
    ("reply_acts", "string", "the customer's answer to the decision"),
    ("reply_text", "string or null", "the customer's answer in words"),
    ("persona", "string", "the customer's persona"),
    ("outcome", "string", "how the conversation ended (on every row of it)"),
    ("success", "bool", "outcome == success"),
    ("overridden", "bool", "a person chose the action in the TUI (propensity 1)"),
    ("visit", "int32", "which conversation of a customer's lifetime (0 outside --lifetime)"),
)
#: the own log's columns of utterances: null where text was not realised
TEXT_COLUMNS = ("user_text", "system_text", "reply_text")


def columns(shape: str) -> list[Column]:
    return [c for c in COLUMNS if shape in c.shapes]


def required(shape: str) -> list[str]:
    return [c.name for c in columns(shape) if c.required]


def format_schema() -> str:
    """What ``dialog-rl logs schema`` prints."""
    lines = [
        f"dialog-rl log schema, version {SCHEMA_VERSION}",
        "",
        "One row per decision of the agent, with the logging policy's propensity. CSV (header",
        "row), Parquet or JSON Lines (one object per line). Two shapes, told apart by their",
        "columns:",
        "  acts      customer acts heard + the agent's act by name; replayed through dialog-rl's",
        "            tracker and featurizer for --scenario, so any dialog-rl policy is a target",
        "  features  your own features + the target policy's action probabilities per decision;",
        "            evaluate with `dialog-rl ope --policy logged`",
        "",
    ]
    for shape in SHAPES:
        lines.append(f"shape {shape}:")
        for c in columns(shape):
            flag = "required" if c.required else "optional"
            lines.append(f"  {c.name:<13} {c.type:<32} {flag}")
            lines.extend(_wrap(c.meaning, "      "))
        lines.append("")
    lines += [
        "dialog-rl's own logs (simulate --out, logs import, the TUI's saves) are Parquet, one row",
        "per decision:",
    ]
    for name, kind, meaning in OWN_COLUMNS:
        lines.append(f"  {name:<13} {kind:<17} {meaning}")
    lines += [
        "  The text columns are null unless utterances were realised: `simulate --text`, the",
        "  text channel (`--channel text`), or the TUI. Imported logs have null text.",
        "",
        "Every row is checked; the first mistake is reported as FILE:ROW:COLUMN (ROW: the line",
        "of a CSV or JSONL file, the 1-based row of a Parquet file), exit code 2, nothing written.",
        "Example: dialog-rl logs import my_logs.csv --scenario restaurant --out runs/mine",
        "         dialog-rl ope --logs runs/mine --policy rule",
    ]
    return "\n".join(lines) + "\n"


def schema_json() -> str:
    """The schema as JSON (``dialog-rl logs schema --json``), for tools that check files."""
    return json.dumps(
        {
            "version": SCHEMA_VERSION,
            "shapes": list(SHAPES),
            "columns": [{**asdict(c), "shapes": list(c.shapes)} for c in COLUMNS],
            "own_log": [
                {"name": n, "type": t, "meaning": m, "nullable": n in TEXT_COLUMNS}
                for n, t, m in OWN_COLUMNS
            ],
        },
        indent=2,
    )


def _wrap(text: str, indent: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)
