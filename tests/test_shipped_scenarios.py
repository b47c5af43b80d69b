"""Shipped scenarios are package data and resolve by name from any directory."""

from __future__ import annotations

import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

from dialog_rl.domain import load_domain
from dialog_rl.scenario import ScenarioError, resolve_scenario, shipped_scenarios

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_every_top_level_scenario_ships_under_its_name():
    top = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert (
        sorted(shipped_scenarios())
        == top
        == [
            "cambridge",
            "order_support",
            "restaurant",
            "restaurant_booking",
            "restaurant_calibrated",
            "shopping",
        ]
    )


def test_package_data_globs_cover_every_file_a_shipped_scenario_reads():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["dialog_rl"]
    files = [p.name for p in (ROOT / "scenarios").iterdir()]
    missing = [f for f in files if not any(fnmatch(f"scenarios/{f}", g) for g in patterns)]
    assert not missing, f"add these to [tool.setuptools.package-data] dialog_rl: {missing}"


@pytest.mark.parametrize("name", ["restaurant", "restaurant.yaml", "order-support", "shopping"])
def test_a_name_loads_the_same_scenario_as_its_file(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stem = name.removesuffix(".yaml").replace("-", "_")
    by_name = load_domain(name)
    by_path = load_domain(str(ROOT / "scenarios" / f"{stem}.yaml"))
    assert by_name.content_hash == by_path.content_hash


def test_a_file_in_the_working_directory_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "restaurant").write_text("name: [\n")
    assert resolve_scenario("restaurant") == Path("restaurant")
    with pytest.raises(ScenarioError, match=r"^restaurant:"):
        load_domain("restaurant")


def test_an_unknown_name_is_refused_listing_the_shipped_ones(tmp_path):
    out = _cli("simulate", "--scenario", "restorant", "--episodes", "2", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dialog-rl: error: restorant: no such file, nor a shipped scenario "
        "(shipped: cambridge, order_support, restaurant, restaurant_booking, restaurant_calibrated, shopping)"
    ]


@pytest.mark.slow
def test_simulate_and_ope_run_by_name_outside_the_checkout(tmp_path):
    run = tmp_path / "run"
    sim = _cli(
        "simulate",
        "--scenario",
        "restaurant",
        "--episodes",
        "60",
        "--epsilon",
        "0.3",
        "--out",
        str(run),
        "--no-progress",
        cwd=tmp_path,
    )
    assert sim.returncode == 0, sim.stderr
    assert "scenario restaurant, policy rule" in sim.stdout
    assert (run / "summary.json").is_file()
    # the run records the name; ope finds the scenario from it, wherever it runs
    ope = _cli("ope", "--logs", str(run), "--policy", "rule", cwd=tmp_path)
    assert ope.returncode == 0, ope.stderr
    assert "scenario restaurant" in ope.stdout
