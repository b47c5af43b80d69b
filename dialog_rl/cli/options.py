"""Every option that more than one subcommand takes, defined once: flags, type, help, default.

A subcommand adds one with ``SEED.add(parser)``. What may differ between subcommands is only
whether the option is required, its default (the help then says it: ``(default: ...)``), and a
short clause after the shared help saying what the option is for there (``detail``). Every
action added here is marked with the ``Option`` it came from; ``tests/cli/test_options.py`` walks
every subparser and checks that each of these flags came from here, with the same type and help.

Exploration is one convention for every subcommand that plays or evaluates a policy: the pair
``--explore`` / ``--greedy`` (``add_exploration``), one or the other, with the subcommand's
default stated in its help.

argparse only: ``dialog-rl --help`` builds every parser, and must stay instant.
"""

from __future__ import annotations

import argparse

from dialog_rl.arg_types import positive_int, probability

__all__ = ["OPTIONS", "Option", "add_exploration", "positive_int", "probability"]

_UNSET = object()


class Option:
    """One command-line option, as every subcommand that takes it defines it.

    Args:
        flags: its spellings, e.g. ``("--seed",)``.
        help: what it is, the same in every subcommand.
        joiner: what goes between ``help`` and a subcommand's ``detail``.
        type, action, choices, metavar: as ``argparse.add_argument`` takes them.
        default: the usual default (a subcommand may give another; the help says it).
    """

    __slots__ = ("action", "choices", "default", "flags", "help", "joiner", "metavar", "type")

    def __init__(
        self,
        *flags: str,
        help: str,
        joiner: str = "; ",
        type=None,
        action: str = "store",
        choices: tuple[str, ...] | None = None,
        metavar: str | None = None,
        default=None,
    ) -> None:
        self.flags = flags
        self.help = help
        self.joiner = joiner
        self.type = type
        self.action = action
        self.choices = choices
        self.metavar = metavar
        self.default = default

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")

    def help_text(self, detail: str | None = None, default: str | None = None) -> str:
        """The help a subcommand shows: the shared text, its ``detail``, its default."""
        text = self.help + (self.joiner + detail if detail else "")
        return text + (f" (default: {default})" if default else "")

    def add(
        self,
        parser: argparse.ArgumentParser,
        *,
        required: bool = False,
        default=_UNSET,
        shown_default: str | None = None,
        detail: str | None = None,
    ) -> argparse.Action:
        """Add the option to ``parser``.

        ``default`` replaces the usual one; the help says what it is (``shown_default`` words it,
        e.g. ``"the scenario's"`` for a default of None that means "what the scenario says").
        """
        value = self.default if default is _UNSET else default
        if shown_default is None and not required and value is not None and value is not False:
            shown_default = str(value)
        kwargs: dict = {"action": self.action, "help": self.help_text(detail, shown_default)}
        if self.action == "append":
            kwargs["default"] = []
        elif self.action != "store_true":
            kwargs.update(type=self.type, choices=self.choices, default=value)
        if required:
            kwargs["required"] = True
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        action = parser.add_argument(*self.flags, **kwargs)
        action.option = self  # the mark tests/cli/test_options.py checks
        return action


# -- what to run on ----------------------------------------------------------------------------

SCENARIO = Option(
    "--scenario", help="scenario YAML file, or a shipped one by name, e.g. restaurant"
)
KB_ROOT = Option(
    "--kb-root",
    action="append",
    metavar="DIR",
    help="also let the scenario read its kb.file from DIR (repeatable; by default only files in "
    "the scenario's own folder are read)",
)
POLICY = Option("--policy", help="random, rule, or a run directory")
SEED = Option("--seed", type=int, joiner=": ", help="the one seed that decides the run")
NOISE = Option("--noise", type=probability, help="the channel's error rate, 0 to 1")
CHANNEL = Option(
    "--channel",
    choices=("act", "text"),
    default="act",
    help="act-level or text-level",
)
EPISODES = Option("--episodes", type=positive_int, joiner=", ", help="conversations to play")
MAX_TURNS = Option("--max-turns", type=positive_int, help="override the turn limit")
LIFETIME = Option(
    "--lifetime",
    action="store_true",
    joiner=": ",
    help="customer lifetimes of returning visits (the scenario needs `lifetime`)",
)
CORPUS = Option(
    "--corpus",
    help="annotated real dialogues in MultiWOZ's JSON format: id -> {goal, turns: [{speaker, "
    "text, dialog_act}]}",
)
CORPUS_DOMAIN = Option(
    "--domain",
    help="the corpus's domain to read; dialogues about other domains too are left out",
)
LOGS = Option(
    "--logs",
    help="logged conversations: a run directory (simulate --out, logs import)",
)

# -- where it runs -----------------------------------------------------------------------------

WORKERS = Option(
    "--workers",
    type=positive_int,
    help="worker processes (local) or Ray actors (ray); results do not depend on it",
)
BACKEND = Option(
    "--backend",
    choices=("local", "ray"),
    default="local",
    help="where episodes run: local processes or a Ray cluster",
)
ADDRESS = Option("--address", help="Ray cluster address (with --backend ray)")
NO_PROGRESS = Option("--no-progress", action="store_true", help="no progress bar")

# -- what it writes ----------------------------------------------------------------------------

OUT = Option("--out", joiner=": ", help="where to write")
FORCE = Option(
    "--force",
    action="store_true",
    joiner=": ",
    help="replace an existing --out, only if dialog-rl made it",
)
RESUME = Option(
    "--resume",
    action="store_true",
    joiner=": ",
    help="finish the interrupted run in --out (same arguments)",
)
JSON = Option("--json", help="also write the results as JSON to this file")

# -- estimates ---------------------------------------------------------------------------------

GAMMA = Option("--gamma", type=probability, help="discount per decision, 0 to 1")
BOOTSTRAP = Option("--bootstrap", type=positive_int, joiner=", ", help="bootstrap resamples")

#: every shared option, by the name it has above
OPTIONS = {
    name: value for name, value in globals().items() if isinstance(value, Option) and name.isupper()
}

# -- exploration -------------------------------------------------------------------------------

EXPLORE_HELP = "sample each action from the policy's distribution (ε-soft, softmax, posterior)"
GREEDY_HELP = "take the policy's most likely action every time"
EXPLORATION = "exploration"
EXPLORATION_DEFAULT = {
    True: "default here: --explore (the policy as it logs: propensities are its probabilities)",
    False: "default here: --greedy (the policy as it is deployed)",
}


def add_exploration(
    parser: argparse.ArgumentParser, *, explore: bool
) -> tuple[argparse.Action, argparse.Action]:
    """``--explore`` / ``--greedy`` (one or the other, into ``args.explore``): how the policy
    picks its actions; ``explore`` is this subcommand's default, stated in its help."""
    group = parser.add_argument_group(EXPLORATION, EXPLORATION_DEFAULT[explore])
    pair = group.add_mutually_exclusive_group()
    on = pair.add_argument(
        "--explore", dest="explore", action="store_true", default=explore, help=EXPLORE_HELP
    )
    off = pair.add_argument(
        "--greedy", dest="explore", action="store_false", default=explore, help=GREEDY_HELP
    )
    on.option = off.option = EXPLORATION  # the mark tests/cli/test_options.py checks
    return on, off
