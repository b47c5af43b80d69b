"""Every command that writes a file replaces only a file it wrote itself: regress reports, ope
results, golden conversations, logs exports (the run directories: ``test_output_safety``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.outputs import marker

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = str(ROOT / "scenarios" / "restaurant.yaml")
GATE = ["regress", "--scenario", SCENARIO, "--baseline", "rule", "--candidate", "rule"]
GATE += ["--episodes", "40", "--looks", "1", "--health-episodes", "0", "--no-progress"]
MINE = "my own notes\n"


def _refused(capsys, path: Path) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was not written by dialog-rl" in err, err
    assert path.read_text() == MINE


@pytest.mark.parametrize(
    ("flag", "name"),
    [("--junit", "report.xml"), ("--markdown", "report.md"), ("--json", "report.json")],
)
def test_regress_reports_never_replace_a_users_file(tmp_path, capsys, flag, name):
    mine = tmp_path / name
    mine.write_text(MINE)
    assert main([*GATE, flag, str(mine)]) == 2
    _refused(capsys, mine)
    ours = tmp_path / f"ours-{name}"
    assert main([*GATE, flag, str(ours)]) in (0, 1)
    first = ours.read_bytes()
    assert marker("regress").encode() in first or b'"made_by": "dialog-rl regress"' in first
    assert main([*GATE, flag, str(ours)]) in (0, 1)  # its own report: written again
    capsys.readouterr()


def test_regress_refuses_a_report_path_that_is_a_directory(tmp_path, capsys):
    assert main([*GATE, "--junit", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("logs") / "run"
    args = ["simulate", "--scenario", SCENARIO, "--episodes", "60", "--epsilon", "0.3"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    return out


def test_ope_json_never_replaces_a_users_file(tmp_path, logs, capsys):
    mine = tmp_path / "results.json"
    mine.write_text(MINE)
    args = ["ope", "--logs", str(logs), "--policy", "rule", "--no-fqe", "--bootstrap", "50"]
    assert main([*args, "--json", str(mine)]) == 2
    _refused(capsys, mine)
    ours = tmp_path / "ours.json"
    assert main([*args, "--json", str(ours)]) == 0
    assert json.loads(ours.read_text())["made_by"] == "dialog-rl ope"
    assert main([*args, "--json", str(ours)]) == 0


def test_golden_record_force_replaces_only_a_golden_file(tmp_path, capsys):
    record = ["regress", "record", "--scenario", SCENARIO, "--policy", "rule", "--episodes", "2"]
    mine = tmp_path / "golden.json"
    mine.write_text(MINE)
    assert main([*record, "--out", str(mine), "--force"]) == 2
    _refused(capsys, mine)
    ours = tmp_path / "ours.json"
    assert main([*record, "--out", str(ours)]) == 0
    assert json.loads(ours.read_text())["made_by"] == "dialog-rl golden"
    assert main([*record, "--out", str(ours), "--force"]) == 0
    assert main(["regress", "check", str(ours)]) == 0


@pytest.mark.parametrize("fmt", ["obp", "scope-rl"])
def test_logs_export_never_replaces_a_users_file(tmp_path, logs, capsys, monkeypatch, fmt):
    import numpy as np

    from dialog_rl.logs.export import load_export
    from dialog_rl.outputs import read_npz_stamp

    export = ["logs", "export", "--logs", str(logs), "--policy", "rule", "--format", fmt]
    mine = tmp_path / "notes.txt"
    mine.write_text(MINE)
    assert main([*export, "--out", str(mine)]) == 2
    _refused(capsys, mine)
    # a .npz of the user's own (no stamp, or another kind's): refused, byte for byte intact
    for name, extra in [("mine.npz", {}), ("other.npz", {"made_by": np.asarray("dialog-rl ope")})]:
        theirs = tmp_path / name
        np.savez(theirs, action=np.arange(3), **extra)
        before = theirs.read_bytes()
        assert main([*export, "--out", str(theirs)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "was not written by dialog-rl logs-export" in err, err
        assert theirs.read_bytes() == before
    # a link to the user's file, a directory, the current directory: refused, untouched
    link = tmp_path / "link.npz"
    link.symlink_to(mine)
    assert main([*export, "--out", str(link)]) == 2
    assert "symbolic link" in capsys.readouterr().err and mine.read_text() == MINE
    assert main([*export, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main([*export, "--out", "."]) == 2
    assert "is a directory" in capsys.readouterr().err
    # its own earlier export (of either format) is written again
    ours = tmp_path / "ours.npz"
    assert main([*export, "--out", str(ours)]) == 0
    assert read_npz_stamp(ours) == "dialog-rl logs-export"
    other = "scope-rl" if fmt == "obp" else "obp"
    assert main([*export[:-1], other, "--out", str(ours)]) == 0
    assert "made_by" not in load_export(ours)
    assert ("step_per_trajectory" in load_export(ours)) == (other == "scope-rl")
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == []
    capsys.readouterr()
