"""``--force`` replaces only what dialog-rl made for that kind of output; nothing else is touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.outputs import (
    LOGS_IMPORT,
    SIMULATE,
    TRAIN,
    check_replaceable_directory,
    protected_reason,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = str(ROOT / "scenarios" / "restaurant.yaml")
SIMULATE_ARGS = ["simulate", "--scenario", SCENARIO, "--episodes", "10", "--no-progress"]
TRAIN_ARGS = ["train", "--scenario", SCENARIO, "--algo", "egreedy", "--dialogues", "20"]
TRAIN_ARGS += ["--eval-every", "10", "--eval-episodes", "5", "--no-progress"]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _one_line_refusal(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def precious(tmp_path) -> Path:
    d = tmp_path / "precious"
    d.mkdir()
    (d / "thesis.txt").write_text("four years of work\n")
    return d


def test_force_on_a_folder_of_the_users_files_is_refused_and_the_file_stays(precious, capsys):
    before = _snapshot(precious)
    assert main([*SIMULATE_ARGS, "--out", str(precious), "--force"]) == 2
    _one_line_refusal(capsys, str(precious), "not made by dialog-rl simulate")
    assert _snapshot(precious) == before and sorted(os.listdir(precious)) == ["thesis.txt"]


def test_train_force_on_a_folder_of_the_users_files_is_refused(precious, capsys):
    before = _snapshot(precious)
    assert main([*TRAIN_ARGS, "--out", str(precious), "--force"]) == 2
    _one_line_refusal(capsys, str(precious), "not made by dialog-rl train")
    assert _snapshot(precious) == before and sorted(os.listdir(precious)) == ["thesis.txt"]


@pytest.mark.parametrize("command", [SIMULATE_ARGS, TRAIN_ARGS])
def test_force_on_the_current_directory_of_a_git_checkout_is_refused(
    tmp_path, monkeypatch, capsys, command
):
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / "notes.md").write_text("mine\n")
    before = _snapshot(checkout)
    monkeypatch.chdir(checkout)
    assert main([*command, "--out", ".", "--force"]) == 2
    _one_line_refusal(capsys, "current directory")
    assert _snapshot(checkout) == before


def test_force_never_replaces_the_current_directory_even_if_it_is_a_run(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert main([*SIMULATE_ARGS, "--out", str(run)]) == 0
    monkeypatch.chdir(run)
    before = _snapshot(run)
    assert main([*SIMULATE_ARGS, "--out", ".", "--force"]) == 2
    assert main([*SIMULATE_ARGS, "--out", str(tmp_path), "--force"]) == 2  # holds the cwd
    assert _snapshot(run) == before


def test_protected_places(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    (tmp_path / "me").mkdir()
    assert "home" in protected_reason(tmp_path / "me")
    assert "home" in protected_reason(tmp_path)  # holds a home directory
    assert "root" in protected_reason("/")
    assert protected_reason(tmp_path / "me" / "runs") is None
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    assert ".git" in protected_reason(tmp_path / "repo")


def test_force_on_the_home_directory_is_refused(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH\n")
    monkeypatch.setenv("HOME", str(home))
    assert main([*SIMULATE_ARGS, "--out", str(home), "--force"]) == 2
    _one_line_refusal(capsys, "home directory")
    assert (home / ".bashrc").read_text() == "export PATH\n"


def test_force_replaces_a_run_dialog_rl_made(tmp_path):
    out = tmp_path / "run"
    assert main([*SIMULATE_ARGS, "--seed", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["made_by"] == "dialog-rl simulate"
    assert main([*SIMULATE_ARGS, "--seed", "2", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_force_refuses_a_run_that_holds_a_file_dialog_rl_did_not_write(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*SIMULATE_ARGS, "--out", str(out)]) == 0
    (out / "log" / "my-analysis.ipynb").write_text("{}")
    before = _snapshot(out)
    assert main([*SIMULATE_ARGS, "--seed", "3", "--out", str(out), "--force"]) == 2
    _one_line_refusal(capsys, "log/my-analysis.ipynb")
    assert _snapshot(out) == before


def test_force_refuses_another_kind_of_run(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main([*SIMULATE_ARGS, "--out", str(sim)]) == 0
    before = _snapshot(sim)
    assert main([*TRAIN_ARGS, "--out", str(sim), "--force"]) == 2
    _one_line_refusal(capsys, "not made by dialog-rl train")
    assert _snapshot(sim) == before


def test_train_force_replaces_its_own_run(tmp_path):
    out = tmp_path / "t"
    assert main([*TRAIN_ARGS, "--seed", "1", "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["made_by"] == "dialog-rl train"
    check_replaceable_directory(out, TRAIN)
    assert main([*TRAIN_ARGS, "--seed", "2", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 2


@pytest.mark.parametrize("command", [SIMULATE_ARGS, TRAIN_ARGS])
def test_force_on_a_file_or_a_symlink_is_refused(tmp_path, capsys, command):
    file = tmp_path / "thesis.txt"
    file.write_text("mine\n")
    assert main([*command, "--out", str(file), "--force"]) == 2
    _one_line_refusal(capsys, "is a file")
    assert file.read_text() == "mine\n"
    run = tmp_path / "run"
    assert main([*SIMULATE_ARGS, "--out", str(run)]) == 0
    link = tmp_path / "link"
    link.symlink_to(run)
    before = _snapshot(run)
    assert main([*command, "--out", str(link), "--force"]) == 2
    _one_line_refusal(capsys, "symbolic link")
    assert _snapshot(run) == before and link.is_symlink()


def test_a_run_of_an_older_version_without_a_stamp_is_still_replaceable(tmp_path):
    out = tmp_path / "old"
    assert main([*SIMULATE_ARGS, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    del summary["made_by"]
    (out / "summary.json").write_text(json.dumps(summary))
    check_replaceable_directory(out, SIMULATE)
    summary["made_by"] = "someone else"
    (out / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match="not made by dialog-rl simulate"):
        check_replaceable_directory(out, SIMULATE)


# -- logs import --out: the same rule for the run directory an import writes ----------------------


def _import_args(tmp_path: Path, conversations: int = 3) -> list[str]:
    """``logs import`` of a small features-shaped CSV (no scenario needed)."""
    src = tmp_path / f"log-{conversations}.csv"
    lines = ["conversation,turn,features,action,propensity,reward,target_probs"]
    for c in range(conversations):
        for t in range(2):
            lines.append(f'c{c},{t},"[0.5, {c}.0]",{t % 2},0.5,1.0,"[0.25, 0.75]"')
    src.write_text("\n".join(lines) + "\n")
    return ["logs", "import", str(src)]


def test_logs_import_force_on_a_folder_of_the_users_files_is_refused(tmp_path, precious, capsys):
    before = _snapshot(precious)
    assert main([*_import_args(tmp_path), "--out", str(precious), "--force"]) == 2
    _one_line_refusal(capsys, str(precious), "not made by dialog-rl logs-import")
    assert _snapshot(precious) == before and sorted(os.listdir(precious)) == ["thesis.txt"]


def test_logs_import_force_replaces_its_own_import_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "mine"
    assert main([*_import_args(tmp_path, 3), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["made_by"] == "dialog-rl logs-import"
    check_replaceable_directory(out, LOGS_IMPORT)
    assert main([*_import_args(tmp_path, 3), "--out", str(out)]) == 2  # no --force: refused
    assert main([*_import_args(tmp_path, 5), "--out", str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["imported"]["conversations"] == 5
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no temporary left
    capsys.readouterr()
    # a file added to the import is not the import's: refused, all of it stays
    (out / "log" / "my-analysis.ipynb").write_text("{}")
    before = _snapshot(out)
    assert main([*_import_args(tmp_path, 4), "--out", str(out), "--force"]) == 2
    _one_line_refusal(capsys, "log/my-analysis.ipynb")
    assert _snapshot(out) == before
    # another kind of run, either way round
    sim = tmp_path / "sim"
    assert main([*SIMULATE_ARGS, "--out", str(sim)]) == 0
    before = _snapshot(sim)
    assert main([*_import_args(tmp_path), "--out", str(sim), "--force"]) == 2
    _one_line_refusal(capsys, "not made by dialog-rl logs-import")
    assert _snapshot(sim) == before
    (out / "log" / "my-analysis.ipynb").unlink()
    before = _snapshot(out)
    assert main([*SIMULATE_ARGS, "--out", str(out), "--force"]) == 2
    _one_line_refusal(capsys, "not made by dialog-rl simulate")
    assert _snapshot(out) == before


def test_logs_import_force_never_replaces_cwd_home_a_checkout_a_file_or_a_link(
    tmp_path, monkeypatch, capsys
):
    args = _import_args(tmp_path)
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / "notes.md").write_text("mine\n")
    before = _snapshot(checkout)
    assert main([*args, "--out", str(checkout), "--force"]) == 2
    _one_line_refusal(capsys, ".git")
    monkeypatch.chdir(checkout)
    assert main([*args, "--out", ".", "--force"]) == 2
    _one_line_refusal(capsys, "current directory")
    assert _snapshot(checkout) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main([*args, "--out", ".", "--force"]) == 2  # even empty, the cwd is never replaced
    _one_line_refusal(capsys, "current directory")
    assert empty.is_dir() and not any(empty.iterdir())
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH\n")
    monkeypatch.setenv("HOME", str(home))
    assert main([*args, "--out", str(home), "--force"]) == 2
    _one_line_refusal(capsys, "home directory")
    assert (home / ".bashrc").read_text() == "export PATH\n"
    file = tmp_path / "thesis.txt"
    file.write_text("mine\n")
    assert main([*args, "--out", str(file), "--force"]) == 2
    _one_line_refusal(capsys, "is a file")
    assert file.read_text() == "mine\n"
    run = tmp_path / "run"
    assert main([*args, "--out", str(run)]) == 0
    link = tmp_path / "link"
    link.symlink_to(run)
    before = _snapshot(run)
    capsys.readouterr()
    assert main([*args, "--out", str(link), "--force"]) == 2
    _one_line_refusal(capsys, "symbolic link")
    assert _snapshot(run) == before and link.is_symlink()
