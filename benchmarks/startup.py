"""Start-up time of `dialog-rl --help` and what it imports (target: under 0.5 s, no torch).

Run: python benchmarks/startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

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


if __name__ == "__main__":
    main()
