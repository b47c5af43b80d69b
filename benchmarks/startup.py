"""Start-up time of `dialog-rl --help` and what it imports (target: under 0.5 s, no torch), and
what the compiled engine costs to start: a first batched run with an empty kernel cache (numba
compiles every kernel, as in a fresh clone) and again with the cache it left.

Run: python benchmarks/startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

ENGINE = """
import time
t0 = time.perf_counter()
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.batched import run_batched_columns
from dialog_rl.domain import load_domain
d = load_domain("{scenario}")
t1 = time.perf_counter()
vec = DialogueVectorEnv(d, 64)
for _ in run_batched_columns(vec, RulePolicy(d, vec.spec_obs), 64, 0):
    pass
print(f"{{t1 - t0:.2f}} {{time.perf_counter() - t1:.2f}}")
"""

PROBE = (
    "import sys\nfrom dialog_rl.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("dialog-rl")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "dialog_rl.cli", "--help"]
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    print(
        f"`{' '.join(['dialog-rl', '--help'])}`: median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {args.repeats} runs; "
        f"torch imported: {'yes' if 'NO-TORCH' not in probe.stderr else 'no'}"
    )
    import os
    import tempfile
    from pathlib import Path

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "restaurant.yaml"
    code = ENGINE.format(scenario=scenario)
    with tempfile.TemporaryDirectory(prefix="dialog-rl-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("empty kernel cache (compiles)", "from the cache it left"):
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
            ).stdout.split()
            print(
                f"first batched run (restaurant, 64 conversations), {label}: imports "
                f"{float(out[0]):.1f} s, engine and run {float(out[1]):.1f} s"
            )


if __name__ == "__main__":
    main()
