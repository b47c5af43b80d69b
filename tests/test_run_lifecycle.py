"""The run directories' life, as the layers own it (the command line only dispatches to them).

``rollout.rundir``: ``open_simulation_run`` opens ``simulate --out`` under its lock, and
``SimulationRun.playing`` decides what a failure leaves. ``train.rundir``: ``check_replaceable``
and ``locked_run_directory`` hold ``train --out``, clear it for ``--force`` only once the inputs
passed, and leave no empty directory behind a refused run.
"""

from __future__ import annotations

import json

import pytest

from dialog_rl.outputs import OutputError
from dialog_rl.rollout.rundir import SimulationRunError, open_simulation_run
from dialog_rl.rollout.runlock import RunLock, RunLockedError, has_content
from dialog_rl.train.rundir import check_replaceable, locked_run_directory


class NoBackend(Exception):
    pass


def _open(restaurant, out, **kw):
    settings = dict(
        domain=restaurant,
        scenario_path="restaurant",
        command=["dialog-rl", "simulate"],
        policy_name="rule",
        policy_config={},
        seed=0,
        noise=0.15,
        channel="act",
        text=False,
        epsilon=0.0,
        explore=True,
        max_turns=None,
        lifetime=False,
        episodes=20,
        part_episodes=10,
    )
    settings.update(kw)
    return open_simulation_run(out, **settings)


def test_a_fresh_simulation_run_is_locked_and_says_running(restaurant, tmp_path):
    out = tmp_path / "run"
    run = _open(restaurant, out)
    try:
        summary = json.loads((out / "summary.json").read_text())
        assert summary["status"] == "running" and summary["made_by"] == "dialog-rl simulate"
        assert summary["run"]["part_episodes"] == 10 and summary["explore"] is True
        with pytest.raises(RunLockedError):
            RunLock(out).acquire()
    finally:
        run.close()


def test_a_run_that_cannot_start_leaves_nothing(restaurant, tmp_path):
    out = tmp_path / "run"
    run = _open(restaurant, out)
    with pytest.raises(NoBackend), run.playing(cannot_start=(NoBackend,)):
        raise NoBackend
    assert not out.exists()


def test_a_run_stopped_part_way_is_kept_as_interrupted(restaurant, tmp_path):
    out = tmp_path / "run"
    run = _open(restaurant, out)
    with pytest.raises(KeyboardInterrupt), run.playing(cannot_start=(NoBackend,)):
        raise KeyboardInterrupt
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    # and --resume with other arguments is refused, naming the one that differs
    with pytest.raises(SimulationRunError, match="seed=0"):
        _open(restaurant, out, seed=1, resume=True)
    _open(restaurant, out, resume=True).close()


def test_resume_and_force_are_refused_together(restaurant, tmp_path):
    with pytest.raises(SimulationRunError, match="pass one of them"):
        _open(restaurant, tmp_path / "run", force=True, resume=True)


def test_train_force_refuses_what_train_did_not_make_before_anything(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    check_replaceable(mine, force=False)  # without --force there is nothing to check yet
    with pytest.raises(OutputError):
        check_replaceable(mine, force=True)
    assert (mine / "thesis.txt").read_text() == "precious"


def test_train_force_clears_only_once_the_inputs_passed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"made_by": "dialog-rl train", "config": {}}))

    def refuse():
        raise ValueError("bad --hp")

    with pytest.raises(ValueError), locked_run_directory(out, force=True, before_clearing=refuse):
        pass
    assert (out / "run.json").is_file()  # refused: nothing deleted
    with locked_run_directory(out, force=True):
        assert not has_content(out)  # cleared, and locked while the run writes
        with pytest.raises(RunLockedError):
            RunLock(out).acquire()
    RunLock(out).acquire().release()  # released on the way out


def test_a_refused_train_run_leaves_no_empty_directory(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ValueError), locked_run_directory(out):
        assert out.is_dir()
        raise ValueError("refused before writing")
    assert not out.exists()
