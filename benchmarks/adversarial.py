"""Adversarial inputs for the whole command line; print how each ended.

Beside the loader fuzzing (``benchmarks/fuzz_loader.py``), this tries what a hostile or careless
input does to the commands themselves: scenario paths that lead outside their folder (absolute,
``..``, symlinks, symlink loops, FIFOs, devices, directories, ``/proc``), ``--out`` targets that
are not dialog-rl's to replace (a folder of someone's files, the current directory of a git
checkout, a home directory, a file, a symlink, a forged stamp, FIFOs in place of the lock or the
summary), report files that are someone else's, hostile checkpoints (a safetensors header
claiming a huge tensor, a header length of 2^63, a 100 MB JSON header, a sparse 2 GB tensor file,
wrong shapes behind a forged hash, deeply nested metadata) and hostile logs (wrong column types,
nulls, NaN or negative propensities, NaN rewards, infinite features, ten million rows of one
action, a FIFO as a part file).

Every case runs the real command (``python -m dialog_rl.cli ...``) in its own process, and ends
as one of:

    refused    exit 1 or 2 with one line on stderr ("dialog-rl: ..."), and no traceback
    loaded     exit 0
    crashed    anything else: a traceback, another exit code, several lines
    hung       still running after the time limit (then killed)
    memory     peak resident memory above the bound
    damaged    a file that was there before is gone or changed (an --out case)

crashed, hung, memory and damaged must all be zero. Two cases run at a time.

Run: python benchmarks/adversarial.py [--timeout 60] [--memory-mb 2048] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "adversarial.txt"
RESTAURANT = ROOT / "scenarios" / "restaurant.yaml"
KB = ROOT / "scenarios" / "restaurant_kb.csv"
OUTCOMES = ("refused", "loaded", "crashed", "hung", "memory", "damaged")


#: runs the command, then records its peak resident memory (VmHWM, of this process since its
#: exec: getrusage would also count the memory of the benchmark at the fork)
RUNNER = """
import atexit, os, sys

def _peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["DIALOG_RL_ADVERSARIAL_PEAK"], "w") as out:
        out.write(kb)

atexit.register(_peak)
from dialog_rl.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Case:
    """One command on one hostile input."""

    group: str
    name: str
    argv: list[str]
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    guarded: Path | None = None
    """A folder or file whose contents must come out of the command unchanged."""


@dataclass
class Result:
    case: Case
    outcome: str
    seconds: float
    peak_mb: float
    detail: str


def _snapshot(path: Path) -> dict[str, bytes] | None:
    if path.is_symlink():
        return {"->": os.readlink(path).encode()}
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.is_dir():
        return None
    out = {}
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            out[rel] = b"->" + os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
        elif not p.is_dir():
            out[rel] = b"<special>"
    return out


def run_case(case: Case, timeout: float, memory_mb: float) -> Result:
    before = _snapshot(case.guarded) if case.guarded is not None else None
    env = {**os.environ, "PYTHONPATH": str(ROOT), **case.env}
    start = time.monotonic()
    with tempfile.TemporaryFile() as err_file, tempfile.NamedTemporaryFile() as peak_file:
        env["DIALOG_RL_ADVERSARIAL_PEAK"] = peak_file.name
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *case.argv],
            cwd=case.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            start_new_session=True,
        )
        hung = False
        while True:  # wait4, not wait: it gives this child's own peak resident memory
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                hung = True
                os.killpg(proc.pid, 9)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        text = err_file.read().decode("utf-8", "replace")
        recorded = Path(peak_file.name).read_text().strip()
    seconds = time.monotonic() - start
    # the command's own high-water mark; without it (killed) the kernel's, which also counts
    # this process's memory at the fork
    peak_mb = int(recorded) / 1024 if recorded.isdigit() else usage.ru_maxrss / 1024
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if hung:
        outcome, detail = "hung", f"killed after {timeout:.0f} s"
    elif peak_mb > memory_mb:
        outcome, detail = "memory", f"peak {peak_mb:.0f} MB"
    elif case.guarded is not None and _snapshot(case.guarded) != before:
        outcome, detail = "damaged", f"{case.guarded} changed"
    elif proc.returncode == 0:
        outcome, detail = "loaded", ""
    elif (
        proc.returncode in (1, 2)
        and len(lines) == 1
        and last.startswith("dialog-rl: ")
        and "Traceback" not in text
    ):
        outcome, detail = "refused", last
    else:
        outcome, detail = "crashed", f"exit {proc.returncode}: " + " | ".join(lines[-3:])
    return Result(case, outcome, seconds, peak_mb, detail)


# -- the corpus --------------------------------------------------------------------------------


def _scenario(folder: Path, kb_file: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = RESTAURANT.read_text().replace("file: restaurant_kb.csv", f"file: {kb_file!r}")
    path = folder / "scenario.yaml"
    path.write_text(text)
    return path


def path_cases(tmp: Path) -> list[Case]:
    """Scenario files that name files outside their folder, or files that are not files."""
    outside = tmp / "outside"
    outside.mkdir()
    shutil.copy(KB, outside / "kb.csv")
    os.mkfifo(outside / "fifo.csv")
    names: dict[str, Callable[[Path], str]] = {
        "absolute /etc/passwd": lambda d: "/etc/passwd",
        "/proc/self/environ": lambda d: "/proc/self/environ",
        "/dev/zero": lambda d: "/dev/zero",
        "/dev/random": lambda d: "/dev/random",
        "dot-dot to a FIFO outside": lambda d: "../../../outside/fifo.csv",
        "dot-dot to a good CSV outside": lambda d: "../../../outside/kb.csv",
        "symlink to a file outside": lambda d: _link(d / "kb.csv", outside / "kb.csv"),
        "symlink to a FIFO outside": lambda d: _link(d / "kb.csv", outside / "fifo.csv"),
        "symlinked folder": lambda d: _link(d / "data", outside) + "/kb.csv",
        "symlink loop": lambda d: _link(d / "loop.csv", d / "loop.csv"),
        "two-link loop": lambda d: (
            _link(d / "a.csv", d / "b.csv"),
            _link(d / "b.csv", d / "a.csv"),
        )[0],
        "FIFO inside the folder": lambda d: (os.mkfifo(d / "fifo.csv"), "fifo.csv")[1],
        "the folder itself": lambda d: ".",
        "empty name": lambda d: "",
        "a directory inside": lambda d: ((d / "sub").mkdir(), "sub")[1],
        "name of 5000 characters": lambda d: "x" * 5000,
        "NUL in the name": lambda d: "kb\x00.csv",
        "home-relative": lambda d: "~/.bashrc",
        "symlink to /dev/zero": lambda d: _link(d / "z.csv", Path("/dev/zero")),
    }
    cases = []
    for i, (name, make) in enumerate(names.items()):
        folder = tmp / "paths" / f"c{i:02d}" / "scenario"
        folder.mkdir(parents=True)
        kb = make(folder)
        path = _scenario(folder, kb)
        cases.append(Case("scenario paths", name, ["validate", str(path)]))
    cases.append(Case("scenario paths", "scenario is /dev/zero", ["validate", "/dev/zero"]))
    cases.append(Case("scenario paths", "scenario is /", ["validate", "/"]))
    fifo = tmp / "paths" / "scenario-fifo.yaml"
    os.mkfifo(fifo)
    cases.append(Case("scenario paths", "scenario is a FIFO", ["validate", str(fifo)]))
    sim = ["simulate", "--scenario"]
    good_outside = tmp / "paths" / "c05" / "scenario" / "scenario.yaml"
    cases.append(
        Case(
            "scenario paths",
            "a KB outside allowed by --kb-root",
            [
                *sim,
                str(good_outside),
                "--episodes",
                "5",
                "--no-progress",
                "--kb-root",
                str(outside),
            ],
        )
    )
    return cases


def _link(link: Path, target: Path) -> str:
    link.symlink_to(target)
    return link.name


SIM = ["simulate", "--scenario", str(RESTAURANT), "--episodes", "10", "--no-progress"]
TRAIN = ["train", "--scenario", str(RESTAURANT), "--algo", "linucb", "--dialogues", "20"]
TRAIN += ["--eval-every", "10", "--eval-episodes", "5", "--no-progress"]
GATE = ["regress", "--scenario", str(RESTAURANT), "--baseline", "rule", "--candidate", "rule"]
GATE += ["--episodes", "40", "--looks", "1", "--health-episodes", "0", "--no-progress"]


def out_cases(tmp: Path) -> list[Case]:
    """``--out`` targets and report files that are not dialog-rl's to replace."""
    base = tmp / "out"
    base.mkdir()
    precious = base / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("four years of work\n")
    checkout = base / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / "README.md").write_text("mine\n")
    home = base / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export PATH\n")
    a_file = base / "notes.txt"
    a_file.write_text("mine\n")
    run = base / "run"
    subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", *SIM, "--out", str(run)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    link = base / "link-to-run"
    link.symlink_to(run)
    with_extra = base / "run-with-extra"
    shutil.copytree(run, with_extra)
    (with_extra / "log" / "analysis.ipynb").write_text("{}")
    forged = base / "forged"
    forged.mkdir()
    (forged / "summary.json").write_text(json.dumps({"made_by": "dialog-rl simulate"}))
    (forged / "thesis.txt").write_text("mine\n")
    fifo_lock = base / "fifo-lock"
    fifo_lock.mkdir()
    os.mkfifo(fifo_lock / ".lock")
    (fifo_lock / "mine.txt").write_text("mine\n")
    fifo_summary = base / "fifo-summary"
    fifo_summary.mkdir()
    os.mkfifo(fifo_summary / "summary.json")
    train_run = base / "train-run"  # a simulate run given to train
    shutil.copytree(run, train_run)
    reports = {name: base / name for name in ("report.xml", "report.md", "report.json")}
    for p in reports.values():
        p.write_text("mine\n")
    cases = []
    for command, label in ((SIM, "simulate"), (TRAIN, "train")):
        for name, target in (
            ("a folder of someone's files", precious),
            ("a home directory", home),
            ("a file", a_file),
            ("a symlink to a run", link),
            ("a run holding a file it did not write", with_extra),
            ("a forged stamp over someone's files", forged),
            ("a FIFO as the lock", fifo_lock),
            ("a FIFO as summary.json", fifo_summary),
        ):
            cases.append(
                Case(
                    "--out targets",
                    f"{label} --force: {name}",
                    [*command, "--out", str(target), "--force"],
                    env={"HOME": str(home)},
                    guarded=target,
                )
            )
        cases.append(
            Case(
                "--out targets",
                f"{label} --force: . in a git checkout",
                [*command, "--out", ".", "--force"],
                cwd=checkout,
                guarded=checkout,
            )
        )
    cases.append(
        Case(
            "--out targets",
            "train --force: a simulate run",
            [*TRAIN, "--out", str(train_run), "--force"],
            guarded=train_run,
        )
    )
    cases.append(
        Case("--out targets", "simulate --force: its own run", [*SIM, "--out", str(run), "--force"])
    )
    for flag, name in (
        ("--junit", "report.xml"),
        ("--markdown", "report.md"),
        ("--json", "report.json"),
    ):
        cases.append(
            Case(
                "--out targets",
                f"regress {flag} someone's file",
                [*GATE, flag, str(reports[name])],
                guarded=reports[name],
            )
        )
    cases.append(
        Case(
            "--out targets",
            "regress --junit a directory",
            [*GATE, "--junit", str(precious)],
            guarded=precious,
        )
    )
    return cases


def checkpoint_cases(tmp: Path) -> list[Case]:
    """A trained checkpoint, then copies of it made hostile (hashes forged to match)."""
    from dialog_rl.policies.checkpoint import META, TENSORS, content_hash

    base = tmp / "ckpt"
    run = base / "trained"
    subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", *TRAIN, "--out", str(run)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    good = run / "final"
    meta = json.loads((good / META).read_text())

    def forged(
        name: str,
        tensors: bytes | None = None,
        meta_text: str | None = None,
        sparse: int | None = None,
    ) -> Path:
        d = base / name
        d.mkdir(parents=True)
        m = dict(meta)
        if sparse is not None:  # a huge file that takes no disk: must be refused on stat
            with open(d / TENSORS, "wb") as fh:
                fh.truncate(sparse)
            m["tensors"] = {**m["tensors"], "bytes": sparse}
        else:
            data = tensors if tensors is not None else (good / TENSORS).read_bytes()
            (d / TENSORS).write_bytes(data)
            import hashlib

            m["tensors"] = {
                **m["tensors"],
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            m["content_hash"] = content_hash(data, m)
        (d / META).write_text(meta_text if meta_text is not None else json.dumps(m))
        return d

    def header(h: dict | str, body: bytes = b"") -> bytes:
        text = (h if isinstance(h, str) else json.dumps(h)).encode()
        return len(text).to_bytes(8, "little") + text + body

    huge = {"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}
    import numpy as np
    from safetensors.numpy import save

    good_arrays = _load_arrays(good / TENSORS)
    wrong_shapes = save({k: np.zeros((2,), dtype=v.dtype) for k, v in good_arrays.items()})
    wrong_dtype = save({k: np.zeros(v.shape, dtype=np.int8) for k, v in good_arrays.items()})
    nan_weights = save(
        {
            k: np.full(v.shape, np.nan, dtype=v.dtype) if v.dtype.kind == "f" else v
            for k, v in good_arrays.items()
        }
    )
    cases = {
        "the good checkpoint": good,
        "header claims a 4 TB tensor": forged("huge", header(huge, b"\0" * 8)),
        "header length 2^63": forged("len63", (2**63).to_bytes(8, "little") + b"{}"),
        "header length 2^64-1": forged("len64", b"\xff" * 8 + b"{}"),
        "100 MB JSON string header": forged(
            "bigjson", header('{"__metadata__":{"x":"' + "a" * 99_000_000 + '"}}')
        ),
        "100 MB metadata string": forged("bigmeta", meta_text='{"x":"' + "a" * 100_000_000 + '"}'),
        "sparse 2 GB tensor file": forged("sparse", sparse=2 << 30),
        "metadata nested 100,000 deep": forged("deep", meta_text="[" * 100_000 + "]" * 100_000),
        "wrong shapes, hash forged": forged("shapes", wrong_shapes),
        "wrong dtypes, hash forged": forged("dtypes", wrong_dtype),
        "NaN weights, hash forged": forged("nan", nan_weights),
        "empty tensor file": forged("empty", b""),
        "tensors: not safetensors": forged("garbage", b"\x80\x04K\x01." * 100),
    }
    fifo = base / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / META)
    os.mkfifo(fifo / TENSORS)
    cases["FIFOs as both files"] = fifo
    zero = base / "zero"
    zero.mkdir()
    (zero / META).symlink_to("/dev/zero")
    (zero / TENSORS).symlink_to("/dev/zero")
    cases["both files linked to /dev/zero"] = zero
    return [
        Case(
            "checkpoints", name, [*SIM[:3], "--episodes", "5", "--no-progress", "--policy", str(p)]
        )
        for name, p in cases.items()
    ]


def _load_arrays(path: Path) -> dict:
    from safetensors.numpy import load

    return load(path.read_bytes())


def log_cases(tmp: Path, big_rows: int) -> list[Case]:
    """A real log, then copies with hostile columns and values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = tmp / "logs"
    run = base / "real"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dialog_rl.cli",
            *SIM[:3],
            "--episodes",
            "200",
            "--epsilon",
            "0.3",
            "--no-progress",
            "--out",
            str(run),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    table = pq.read_table(run / "log" / "part-00000.parquet")
    n = table.num_rows

    def variant(name: str, t: pa.Table | None = None, raw: bytes | None = None) -> Path:
        d = base / name / "log"
        d.mkdir(parents=True)
        if raw is not None:
            (d / "part-00000.parquet").write_bytes(raw)
        else:
            pq.write_table(t, d / "part-00000.parquet")
        return d

    def replace(name: str, column: str, values) -> Path:
        i = table.schema.get_field_index(column)
        return variant(name, table.set_column(i, column, values))

    prop = table.column("propensity").to_numpy().copy()
    nan_prop, neg_prop, big_prop = prop.copy(), prop.copy(), prop.copy()
    nan_prop[3], neg_prop[3], big_prop[3] = np.nan, -0.5, 7.0
    reward = table.column("reward").to_numpy().copy()
    nan_reward = reward.copy()
    nan_reward[5] = np.nan
    obs = table.column("obs")
    width = obs.type.list_size
    obs_values = np.asarray(obs.combine_chunks().flatten().to_numpy(), dtype=np.float32).copy()
    obs_values[7] = np.inf
    dirs = {
        "the real log": run,
        "action as strings": replace("act-str", "action", pa.array([str(a) for a in range(n)])),
        "propensity as strings": replace("prop-str", "propensity", pa.array(["0.5"] * n)),
        "episode as floats": replace("ep-float", "episode", pa.array(np.arange(n) * 0.5)),
        "obs as variable lists": replace(
            "obs-var", "obs", pa.array([[1.0]] * n, type=pa.list_(pa.float32()))
        ),
        "mask as integers": replace("mask-int", "mask", pa.array(np.ones(n, dtype=np.int64))),
        "NaN propensity": replace("prop-nan", "propensity", pa.array(nan_prop)),
        "negative propensity": replace("prop-neg", "propensity", pa.array(neg_prop)),
        "propensity 7": replace("prop-big", "propensity", pa.array(big_prop)),
        "null actions": replace("act-null", "action", pa.array([None] * n, type=pa.int32())),
        "NaN reward": replace("rew-nan", "reward", pa.array(nan_reward)),
        "infinite feature": replace(
            "obs-inf", "obs", pa.FixedSizeListArray.from_arrays(pa.array(obs_values), width)
        ),
        "no rows": variant("empty", table.slice(0, 0)),
        "no propensity column": variant("no-prop", table.drop_columns(["propensity"])),
        "not Parquet": variant("text", raw=b"episode,turn\n1,2\n" * 1000),
        "truncated Parquet": variant(
            "trunc", raw=(run / "log" / "part-00000.parquet").read_bytes()[:5000]
        ),
    }
    fifo = base / "fifo" / "log"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "part-00000.parquet")
    dirs["a FIFO as the part file"] = fifo
    dirs[f"{big_rows:,} rows of one action"] = _one_action_log(
        base / "big" / "log", table, big_rows
    )
    ope = [
        "ope",
        "--policy",
        "rule",
        "--no-fqe",
        "--bootstrap",
        "20",
        "--scenario",
        str(RESTAURANT),
        "--logs",
    ]
    return [Case("logs", name, [*ope, str(d)]) for name, d in dirs.items()]


def _one_action_log(directory: Path, like, rows: int) -> Path:
    """``rows`` one-turn conversations that all took the same action with propensity 1, in the
    real schema (written in slices, so building it takes little memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    first = like.slice(0, 1).to_pylist()[0]
    schema = like.schema
    width = schema.field("obs").type.list_size
    n_actions = schema.field("mask").type.list_size
    action = int(first["action"])
    block = min(rows, 1_000_000)
    cols = {}
    for f in schema:  # one block of identical rows, written again with new episode ids
        if f.name == "obs":
            flat = np.tile(np.asarray(first["obs"], dtype=np.float32), block)
            cols[f.name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), width)
        elif f.name == "mask":
            flat = np.tile(np.asarray(first["mask"], dtype=bool), block)
            cols[f.name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), n_actions)
        elif f.name in ("episode", "turn", "visit"):
            cols[f.name] = pa.array(np.zeros(block, dtype=np.int64), type=f.type)
        elif f.name == "action":
            cols[f.name] = pa.array(np.full(block, action), type=f.type)
        elif f.name == "propensity":
            cols[f.name] = pa.array(np.ones(block), type=f.type)
        elif f.name == "terminated":
            cols[f.name] = pa.array(np.ones(block, dtype=bool), type=f.type)
        else:
            value = first[f.name] if f.name != "truncated" else False
            cols[f.name] = pa.repeat(pa.scalar(value, type=f.type), block)
    table = pa.table(cols, schema=schema)
    index = schema.get_field_index("episode")
    with pq.ParquetWriter(directory / "part-00000.parquet", schema, compression="zstd") as w:
        for start in range(0, rows, block):
            k = min(block, rows - start)
            episodes = pa.array(np.arange(start, start + k), type=schema.field("episode").type)
            w.write_table(table.slice(0, k).set_column(index, schema.field("episode"), episodes))
    return directory


# -- running -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (60)")
    parser.add_argument("--memory-mb", type=float, default=2048.0, help="peak RSS bound (2048)")
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="rows of the big log")
    parser.add_argument("--jobs", type=int, default=2, help="cases at a time (2)")
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dialog-rl-adversarial-") as tmp_name:
        tmp = Path(tmp_name)
        builders = [
            ("scenario paths", lambda: path_cases(tmp)),
            ("--out targets", lambda: out_cases(tmp)),
            ("checkpoints", lambda: checkpoint_cases(tmp)),
            ("logs", lambda: log_cases(tmp, args.big_rows)),
        ]
        cases = [c for _, build in builders for c in build()]
        built = time.monotonic() - started
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda c: _run_measured(c, args), cases))
    lines = [f"{'group':<16} {'tried':>5}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)]
    groups = list(dict.fromkeys(r.case.group for r in results))
    total: Counter = Counter()
    for group in groups:
        counts = Counter(r.outcome for r in results if r.case.group == group)
        total.update(counts)
        tried = sum(counts.values())
        lines.append(f"{group:<16} {tried:>5}  " + "  ".join(f"{counts[o]:>7}" for o in OUTCOMES))
    lines.append(
        f"{'TOTAL':<16} {sum(total.values()):>5}  " + "  ".join(f"{total[o]:>7}" for o in OUTCOMES)
    )
    worst = max(results, key=lambda r: r.peak_mb)
    slowest = max(results, key=lambda r: r.seconds)
    lines.append(
        f"(bounds: {args.timeout:.0f} s per case, {args.memory_mb:.0f} MB peak RSS; highest "
        f"{worst.peak_mb:.0f} MB: {worst.case.name}; slowest {slowest.seconds:.1f} s: "
        f"{slowest.case.name}; corpus built in {built:.0f} s, all in "
        f"{time.monotonic() - started:.0f} s)"
    )
    detail = [
        f"  [{r.case.group}] {r.case.name}: {r.outcome} ({r.seconds:.1f} s, "
        f"{r.peak_mb:.0f} MB) {r.detail}"
        for r in results
    ]
    print("\n".join(lines))
    bad = [
        d for d, r in zip(detail, results) if r.outcome in ("crashed", "hung", "memory", "damaged")
    ]
    if bad:
        print("\nfailures:\n" + "\n".join(bad))
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        command = "python benchmarks/adversarial.py " + " ".join(sys.argv[1:])
        RESULTS.write_text(
            "\n".join([f"$ {command.strip()}", *lines, "", "every case:", *detail]) + "\n"
        )
    return 1 if bad else 0


def _run_measured(case: Case, args) -> Result:
    return run_case(case, args.timeout, args.memory_mb)


if __name__ == "__main__":
    sys.exit(main())
