"""Instructions a turn of the batched path, counted by callgrind: a figure the machine's load does
not move, for changes too small to see in turns per second on a shared machine.

Runs one process of the batched figure of ``throughput.py`` (restaurant, noise 0.15, one vector
env of ``--batch`` conversations, ``--episodes`` episodes) under ``valgrind --tool=callgrind``,
counting only the timed part (instrumentation is switched on after the warm-up with
``callgrind_control``), and prints the instructions a turn by library: torch, the compiled kernels
(numba's code, which has no file), numpy, Python, libm, libc. ``--by-function`` also names the
compiled kernels; numba's on-disk cache keeps no symbols, so that run compiles them afresh into a
temporary cache (minutes).

Needs valgrind (Debian's package ``valgrind``). A run is about 50 times slower than without it:
the default 5,000 episodes take two to three minutes.

Run: python benchmarks/instructions.py [--policy dqn|rule] [--batch N] [--episodes N]
[--by-function]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: shared objects grouped under a short name (the rest under their file name)
_GROUPS = {"libtorch": "torch", "_multiarray": "numpy", "libpython": "python", "libm.": "libm"}


def child(args) -> None:
    """The measured process: warm up, count the timed part, report turns and kernel addresses."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput

    from dialog_rl.rollout.batched import run_batched_columns

    scenario = str(ROOT / "scenarios" / "restaurant.yaml")
    policy, vec = throughput._batched_setup(scenario, args.policy, 0.15, args.batch)
    n = args.episodes
    for _ in run_batched_columns(vec, policy, range(n, n + args.batch), 1):
        pass  # warm up: first touch, torch's first call, the kernels loaded or compiled
    control = ["callgrind_control", "-i"]
    subprocess.run([*control, "on", str(os.getpid())], check=True, capture_output=True)
    turns = sum(int(c["turns"].sum()) for c in run_batched_columns(vec, policy, n, 0))
    subprocess.run([*control, "off", str(os.getpid())], check=True, capture_output=True)
    print(f"TURNS {turns}")
    for address, name in _kernel_addresses():
        print(f"KERNEL {address:x} {name}")


def _kernel_addresses() -> list[tuple[int, str]]:
    """Where each compiled function of this package starts (freshly compiled ones only)."""
    from numba.core.registry import CPUDispatcher

    found: dict[int, str] = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith(("dialog_rl", "simulators")):
            continue
        for obj in vars(module).values():
            if not isinstance(obj, CPUDispatcher):
                continue
            for overload in obj.overloads.values():
                library = overload.library
                for fn in library._final_module.functions:
                    if not fn.is_declaration:
                        found.setdefault(library.get_pointer_to_function(fn.name), _short(fn.name))
    return sorted(found.items())


def _short(mangled: str) -> str:
    """``module.function`` from numba's mangled name (length-prefixed parts)."""
    rest, parts = mangled[mangled.find("_ZN") + 3 :], []
    while (m := re.match(r"\d+", rest)) is not None:
        k = int(m.group())
        parts.append(rest[len(m.group()) : len(m.group()) + k])
        rest = rest[len(m.group()) + k :]
    return ".".join(parts[-2:]) if parts else mangled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", choices=("dqn", "rule"), default="dqn")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--episodes", type=int, default=5000)
    parser.add_argument("--by-function", action="store_true", help="name the compiled kernels")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    missing = [tool for tool in ("valgrind", "callgrind_annotate") if not shutil.which(tool)]
    if missing:
        sys.exit(f"error: {' and '.join(missing)} not found (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="dialog-rl-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ)
        if args.by_function:
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")  # fresh: compiled code has symbols
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            *sys.argv[1:],
        ]
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        if run.returncode != 0 or "TURNS" not in run.stdout:
            sys.exit(f"error: the measured run failed:\n{run.stderr[-2000:]}")
        report(run.stdout, out, args)


def report(stdout: str, out: Path, args) -> None:
    turns = int(re.search(r"TURNS (\d+)", stdout).group(1))
    kernels = {int(a, 16): n for a, n in re.findall(r"KERNEL ([0-9a-f]+) (\S+)", stdout)}
    annotated = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_library: collections.Counter[str] = collections.Counter()
    by_kernel: collections.Counter[str] = collections.Counter()
    for line in annotated.splitlines():
        # "1,234 (0.5%)  file:function [object]" (C++ names hold spaces; the object comes last)
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[([^\]]*)\])?\s*$", line)
        if m is None or "PROGRAM TOTALS" in line:
            continue
        if m.group(3) is None:  # inlined code callgrind files under a header, not an object
            by_library["other (inlined headers)"] += int(m.group(1).replace(",", ""))
            continue
        count = int(m.group(1).replace(",", ""))
        obj = m.group(3)
        if obj == "???":  # code with no file: numba's
            by_library["compiled kernels"] += count
            address = re.search(r"0x([0-9a-f]+)", m.group(2))
            name = kernels.get(int(address.group(1), 16)) if address else None
            by_kernel[name or "(unnamed)"] += count
        else:
            base = Path(obj).name.split(".cpython-")[0]
            group = next((g for k, g in _GROUPS.items() if base.startswith(k)), base)
            by_library[group] += count
    total = sum(by_library.values())
    print(
        f"batched {args.policy}, restaurant, 1 x {args.batch} conversations, {args.episodes} "
        f"episodes: {turns:,} turns, {total / turns:,.0f} instructions a turn (callgrind)"
    )
    for name, count in by_library.most_common(8):
        print(f"  {name:<28} {count / turns:8,.0f}  {count / total:6.1%}")
    if args.by_function:
        print("compiled kernels, by function (instructions a turn):")
        for name, count in by_kernel.most_common(20):
            print(f"  {name:<40} {count / turns:8,.0f}")


if __name__ == "__main__":
    main()
