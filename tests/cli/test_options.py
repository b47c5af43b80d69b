"""Every option more than one subcommand takes is defined once, in ``dialog_rl.cli.options``.

The test walks every subparser of the built parser (``regress record``, ``logs export`` too) and
checks each shared option there came from its one definition: same flags, dest, type, action and
choices; the shared help (plus the subcommand's clause and its default, said in words); a default
its own type accepts. A flag that two subcommands define by hand fails, so a new subcommand cannot
grow its own ``--seed``. Exploration is the pair ``--explore`` / ``--greedy`` everywhere.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest

from dialog_rl.cli import build_parser, main
from dialog_rl.cli import options as o

#: flags some subcommand takes with another meaning on purpose, and why
SEPARATE = {("logs schema", "--json"): "prints the schema as JSON (a switch, not a file to write)"}
#: each subcommand that plays or evaluates a policy, and whether it explores by default
EXPLORES_BY_DEFAULT = {
    "simulate": True,
    "regress": True,
    "regress record": True,
    "tui": False,
    "ope": False,
    "logs export": False,
}
ACTION_CLASSES = {
    "store": argparse._StoreAction,
    "store_true": argparse._StoreTrueAction,
    "append": argparse._AppendAction,
}


def _subparsers(parser: argparse.ArgumentParser, path: str = ""):
    """(name, parser) of every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{path} {name}".strip()
                yield full, sub
                yield from _subparsers(sub, full)


SUBPARSERS = dict(_subparsers(build_parser()))


def _optionals(sub: argparse.ArgumentParser):
    return [a for a in sub._actions if a.option_strings and "-h" not in a.option_strings]


def test_the_walk_finds_every_subcommand():
    assert set(SUBPARSERS) >= {
        "validate",
        "simulate",
        "train",
        "tui",
        "compare",
        "regress",
        "regress record",
        "regress check",
        "ope",
        "logs",
        "logs schema",
        "logs import",
        "logs export",
    }


@pytest.mark.parametrize("name", sorted(o.OPTIONS))
def test_each_shared_option_is_the_same_wherever_it_is(name):
    option = o.OPTIONS[name]
    found = []
    for command, sub in SUBPARSERS.items():
        for action in _optionals(sub):
            if set(action.option_strings) & set(option.flags):
                if (command, option.flags[0]) in SEPARATE:
                    continue
                assert getattr(action, "option", None) is option, (
                    f"{command} {action.option_strings}: defined by hand, not by options.{name}"
                )
                found.append((command, action))
    assert len({c for c, _ in found}) >= 2, f"options.{name} is shared by fewer than 2 commands"
    for command, action in found:
        where = f"{command} {option.flags[0]}"
        assert action.option_strings == list(option.flags), where
        assert action.dest == option.dest, where
        assert type(action) is ACTION_CLASSES[option.action], where
        assert action.type is option.type, where
        assert action.choices == option.choices, where
        assert action.metavar == option.metavar, where
        # the shared help, then the subcommand's clause after the option's joiner, then the default
        assert action.help.startswith(option.help), where
        rest = action.help[len(option.help) :]
        assert not rest or rest.startswith((option.joiner, " (default: ")), where
        assert "%" not in action.help.replace("%%", ""), where  # argparse formats help strings
        default = action.default
        if action.required:
            assert "(default: " not in action.help, f"{where}: required, yet a default"
        elif default not in (None, False, []):
            assert action.help.endswith(f"(default: {default})"), f"{where}: default unsaid"
        if option.type is not None and default is not None:  # a default the type accepts
            assert option.type(str(default)) == default, where


def test_no_flag_is_defined_by_hand_in_two_subcommands():
    shared = {f for option in o.OPTIONS.values() for f in option.flags}
    shared |= {"--explore", "--greedy"}
    by_flag = defaultdict(list)
    for command, sub in SUBPARSERS.items():
        for action in _optionals(sub):
            for flag in action.option_strings:
                if (command, flag) not in SEPARATE:
                    by_flag[flag].append(command)
    repeated = {f: c for f, c in by_flag.items() if len(c) > 1 and f not in shared}
    assert not repeated, f"define these once in dialog_rl/cli/options.py: {repeated}"


def test_every_shared_option_has_its_one_meaning_in_the_parser_it_is_added_to():
    p = argparse.ArgumentParser()
    action = o.SEED.add(p, default=3, detail="of the customers")
    assert action.help == "the one seed that decides the run: of the customers (default: 3)"
    assert p.parse_args(["--seed", "5"]).seed == 5
    assert o.NOISE.add(p, shown_default="the scenario's").help.endswith("(default: the scenario's)")
    assert o.OUT.add(p, required=True).required


@pytest.mark.parametrize("command", sorted(SUBPARSERS))
def test_exploration_is_one_pair_with_the_commands_default(command):
    sub = SUBPARSERS[command]
    pair = [a for a in _optionals(sub) if {"--explore", "--greedy"} & set(a.option_strings)]
    if command not in EXPLORES_BY_DEFAULT:
        assert not pair, f"{command} takes {pair}: add it to EXPLORES_BY_DEFAULT"
        return
    explore, greedy = sorted(pair, key=lambda a: a.option_strings)
    assert explore.option_strings == ["--explore"] and greedy.option_strings == ["--greedy"]
    assert explore.option == greedy.option == o.EXPLORATION
    assert explore.dest == greedy.dest == "explore"
    assert explore.help == o.EXPLORE_HELP and greedy.help == o.GREEDY_HELP
    default = EXPLORES_BY_DEFAULT[command]
    assert explore.default is greedy.default is default
    (group,) = [g for g in sub._mutually_exclusive_groups if explore in g._group_actions]
    assert greedy in group._group_actions
    (titled,) = [g for g in sub._action_groups if g.title == o.EXPLORATION]
    assert titled.description == o.EXPLORATION_DEFAULT[default]
    assert ("--explore" if default else "--greedy") in titled.description


@pytest.mark.parametrize("command", sorted(EXPLORES_BY_DEFAULT))
def test_explore_and_greedy_parse_into_one_flag_and_exclude_each_other(command, capsys):
    path = command.split()
    required = {  # the least each subcommand parses
        "simulate": ["--scenario", "x"],
        "regress": [],
        "regress record": ["--scenario", "x", "--policy", "rule", "--out", "g.json"],
        "tui": [],
        "ope": ["--logs", "l", "--policy", "rule"],
        "logs export": ["--logs", "l", "--format", "obp", "--policy", "rule", "--out", "e"],
    }[command]
    parser = build_parser()
    assert parser.parse_args([*path, *required]).explore is EXPLORES_BY_DEFAULT[command]
    assert parser.parse_args([*path, *required, "--explore"]).explore is True
    assert parser.parse_args([*path, *required, "--greedy"]).explore is False
    with pytest.raises(SystemExit) as exc:
        main([*path, *required, "--explore", "--greedy"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
