"""`dialog-rl tui` arguments: clear one-line errors (exit 2), reopening, trained policies, demos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dialog_rl.cli import UsageError, main
from dialog_rl.env.featurizer import observation_spec
from dialog_rl.tui.export import save_all
from dialog_rl.tui.launch import build_session

ROOT = Path(__file__).resolve().parents[2]
RESTAURANT = str(ROOT / "scenarios/restaurant.yaml")


def build(**kwargs):
    args = {"scenario": RESTAURANT, "policy": None, "seed": None, "noise": None}
    args.update(kwargs)
    return build_session(error=UsageError, **args)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tui"], "tui needs --scenario FILE"),
        (["tui", "--scenario", "nope.yaml"], "nope.yaml: file not found"),
        (["tui", "--scenario", RESTAURANT, "--policy", "nope"], "unknown policy 'nope'"),
        (["tui", "--open", "missing.json"], "--open missing.json: cannot read"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_noise_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tui", "--scenario", RESTAURANT, "--noise", "2"])
    assert exc.value.code == 2
    assert "expected a number between 0 and 1" in capsys.readouterr().err


def test_open_with_broken_json_names_the_line(tmp_path, capsys):
    bad = tmp_path / "session.json"
    bad.write_text('{"scenario": "x",\n oops}')
    assert main(["tui", "--open", str(bad)]) == 2
    assert f"{bad}:2: not a session file" in capsys.readouterr().err


def test_open_restores_a_saved_session_and_flags_can_swap_the_policy(tmp_path):
    s = build(seed=4)
    s.step()
    s.step(
        next(a for a in range(len(s.pending.mask)) if s.pending.mask[a] and a != s.pending.action)
    )
    save_all(s, tmp_path / "out")
    again = build(scenario=None, open_path=str(tmp_path / "out" / "session.json"))
    assert again.to_dict() == s.to_dict()
    swapped = build(scenario=None, policy="random", open_path=str(tmp_path / "out/session.json"))
    assert swapped.policy_name == "random" and len(swapped.turns) == 2


def test_open_a_session_of_another_scenario_version_is_refused(tmp_path, capsys):
    s = build()
    s.step()
    data = s.to_dict()
    data["scenario_hash"] = "0" * 64
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    assert main(["tui", "--open", str(path)]) == 2
    assert "scenario_hash: the session was made with another version" in capsys.readouterr().err


def test_trained_policy_from_a_run_directory_and_demos_for_train(tmp_path, restaurant):
    from dialog_rl.policies.checkpoint import save_checkpoint
    from dialog_rl.policies.dqn import DQNLearner
    from dialog_rl.train.demos import load_demos

    spec = observation_spec(restaurant)
    save_checkpoint(
        tmp_path / "run", DQNLearner(restaurant, spec, seed=0), restaurant, spec, seed=0
    )
    s = build(policy=str(tmp_path / "run"))
    assert hasattr(s.policy, "clone")
    pick = next(
        a for a in range(len(s.pending.mask)) if s.pending.mask[a] and a != s.pending.action
    )
    s.step(pick)
    save_all(s, tmp_path / "out")
    demos = load_demos(tmp_path / "out" / "demos.parquet", restaurant, spec)
    assert demos.overridden == 1 and demos.actions.tolist() == [pick]
    log = load_demos(tmp_path / "out" / "log", restaurant, spec)
    assert log.overridden == 1 and len(log.actions) == 1


def test_help_lists_the_tui_without_importing_textual():
    code = (
        "import sys\nfrom dialog_rl.cli import main\ntry:\n    main(['tui', '--help'])\n"
        "except SystemExit:\n    pass\nprint('TEXTUAL' if 'textual' in sys.modules else 'NO-TEXTUAL')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--policy" in out.stdout and out.stdout.strip().endswith("NO-TEXTUAL")
