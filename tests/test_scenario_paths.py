"""A scenario's files stay beside it: ``kb.file`` outside the scenario's folder is never opened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "restaurant.yaml"
KB = ROOT / "scenarios" / "restaurant_kb.csv"


def _scenario(folder: Path, kb_file: str) -> Path:
    """The restaurant scenario in ``folder``, naming ``kb_file`` as its KB."""
    folder.mkdir(parents=True, exist_ok=True)
    text = SCENARIO.read_text().replace("file: restaurant_kb.csv", f"file: {kb_file!r}")
    assert f"file: {kb_file!r}" in text
    path = folder / "scenario.yaml"
    path.write_text(text)
    return path


def _kb_line(path: Path) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "file:" in line)


def test_etc_passwd_is_refused_naming_file_line_and_field(tmp_path, capsys):
    path = _scenario(tmp_path / "shared", "/etc/passwd")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        f"{path}:{_kb_line(path)}: kb.file: '/etc/passwd' is outside the scenario's folder" in err
    )
    assert ":0:0:" not in err and "columns" not in err  # nothing of the file is quoted


def test_a_fifo_outside_the_folder_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "outside.csv"
    os.mkfifo(fifo)
    path = _scenario(tmp_path / "shared", "../outside.csv")
    # opening a FIFO for reading blocks until a writer comes: a loader that opened it would hang
    done = subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "kb.file: '../outside.csv' is outside the scenario's folder" in done.stderr
    with pytest.raises(OSError):  # no reader has it open (ENXIO)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("how", ["symlink to a file outside", "symlinked folder", "dot-dot"])
def test_paths_that_lead_outside_are_refused(tmp_path, how):
    folder = tmp_path / "shared"
    folder.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(KB, outside / "kb.csv")
    if how == "symlink to a file outside":
        (folder / "kb.csv").symlink_to(outside / "kb.csv")
        name = "kb.csv"
    elif how == "symlinked folder":
        (folder / "data").symlink_to(outside)
        name = "data/kb.csv"
    else:
        name = "sub/../../elsewhere/kb.csv"
        (folder / "sub").mkdir()
    path = _scenario(folder, name)
    with pytest.raises(ScenarioError, match=r"kb\.file: .* is outside the scenario's folder"):
        load_scenario(path)
    load_scenario(path, kb_roots=[outside])  # an explicit root lets it in


def test_a_subfolder_and_a_symlink_inside_the_folder_are_fine(tmp_path):
    folder = tmp_path / "shared"
    (folder / "data").mkdir(parents=True)
    shutil.copy(KB, folder / "data" / "kb.csv")
    (folder / "link.csv").symlink_to(folder / "data" / "kb.csv")
    assert load_scenario(_scenario(folder, "data/kb.csv")).kb_rows
    assert load_scenario(_scenario(folder, "link.csv")).kb_rows


def test_a_symlink_loop_is_refused_in_one_line(tmp_path, capsys):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "loop.csv").symlink_to("loop.csv")
    path = _scenario(folder, "loop.csv")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "loop.csv" in err


def test_kb_root_flag_lets_simulate_read_a_kb_kept_elsewhere(tmp_path, capsys):
    kbs = tmp_path / "kbs"
    kbs.mkdir()
    shutil.copy(KB, kbs / "restaurant_kb.csv")
    path = _scenario(tmp_path / "scenarios", str(kbs / "restaurant_kb.csv"))
    args = ["simulate", "--scenario", str(path), "--episodes", "5", "--no-progress"]
    assert main(args) == 2
    assert "--kb-root" in capsys.readouterr().err
    assert main([*args, "--kb-root", str(kbs)]) == 0
