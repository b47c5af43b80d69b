"""The acting forward pass layer by layer, and why its narrow output layer is not padded.

Part 1: the DQN's Q-network (``DQNConfig.hidden``, each shipped scenario's observation and
action counts) on a block of ``--rows`` rows as ``forward.forward_rows`` runs it (``torch.addmm``
into kept buffers, one intra-op thread): microseconds and GFLOP/s per layer, best of
``--repeats`` timings of ``--calls`` calls each. The output layer, as wide as the scenario has
actions, is beside it padded with zero rows to a multiple of 8, and computed transposed
(``W @ h.T``): the same numbers in exact arithmetic, often much faster in BLAS; a ``*`` marks
one whose bits differ from the module's layout on the timed rows.

Part 2: whether those two layouts give the module's own bits (``F.linear``) on this machine's
BLAS, over a sweep of layer shapes (inputs 8-256, outputs 1-48, 8-1,024 rows, random weights
and ReLU activations). ``forward_rows`` promises the module's bits, so that acting one row at a
time, acting in batches and training's forward agree bit for bit
(``tests/test_deep.py``); a layout that breaks that promise for some shapes is not used, however
fast, and the output layer is therefore computed as the module computes it.

Run: python benchmarks/forward_layers.py [--rows N] [--calls N] [--repeats N]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from dialog_rl.domain import load_domain
from dialog_rl.env.featurizer import observation_spec
from dialog_rl.policies.deep import configure_torch
from dialog_rl.policies.dqn import DQNConfig

SCENARIOS = ("restaurant", "restaurant_booking", "order_support", "shopping", "cambridge")


def addmm_us(bias, a, b, out, calls: int, repeats: int) -> float:
    """``torch.addmm(bias, a, b, out=out)``: the fastest of ``repeats`` timings of ``calls`` calls,
    in microseconds a call."""
    torch.addmm(bias, a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            torch.addmm(bias, a, b, out=out)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def padded(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``weight`` and ``bias`` with zero output rows up to a multiple of 8."""
    width = -(-weight.shape[0] // 8) * 8
    w = torch.zeros(width, weight.shape[1])
    b = torch.zeros(width)
    w[: len(weight)], b[: len(bias)] = weight, bias
    return w, b


def layers_table(rows: int, calls: int, repeats: int) -> None:
    gen = torch.Generator().manual_seed(0)
    hidden = DQNConfig().hidden
    print(f"forward pass on {rows} rows, layer by layer (us per call, GFLOP/s)")
    print(
        f"{'scenario':<20} {'layer':<14} {'us':>8} {'GFLOP/s':>8}   output layer: padded, transposed"
    )
    for name in SCENARIOS:
        domain = load_domain(name)
        sizes = [observation_spec(domain).size, *hidden, domain.n_actions]
        h = torch.rand(rows, sizes[0], generator=gen)
        total = 0.0
        for i in range(len(sizes) - 1):
            k, n = sizes[i], sizes[i + 1]
            w, b = torch.randn(n, k, generator=gen), torch.randn(n, generator=gen)
            out = torch.empty(rows, n)
            us = addmm_us(b, h, w.t(), out, calls, repeats)
            total += us
            extra = ""
            if i == len(sizes) - 2:
                wp, bp = padded(w, b)
                out_p = torch.empty(rows, len(wp))
                out_t = torch.empty(n, rows)
                us_p = addmm_us(bp, h, wp.t(), out_p, calls, repeats)
                us_t = addmm_us(b[:, None], w, h.t(), out_t, calls, repeats)
                same_p = torch.equal(out_p[:, :n], out)
                same_t = torch.equal(out_t.t(), out)
                extra = (
                    f"   {us_p:8.1f}{' ' if same_p else '*'} {us_t:8.1f}{' ' if same_t else '*'}"
                )
            gflops = 2 * rows * k * n / us / 1e3
            print(f"{name:<20} {f'{k} -> {n}':<14} {us:8.1f} {gflops:8.1f}{extra}")
            h = torch.relu(F.linear(h, w, b))
        print(f"{'':<20} {'all':<14} {total:8.1f} ({total / rows * 1e3:.0f} ns a row)")
    print("(* other bits than the module's layout on these rows)")


def bits_sweep() -> None:
    gen = torch.Generator().manual_seed(1)
    shapes = [
        (k, n, rows)
        for k in (8, 16, 32, 50, 64, 100, 128, 256)
        for n in (1, 2, 3, 5, 7, 9, 15, 17, 19, 24, 31, 48)
        for rows in (8, 64, 1024)
    ]
    differ = {"padded": [], "transposed": []}
    for k, n, rows in shapes:
        w, b = torch.randn(n, k, generator=gen), torch.randn(n, generator=gen)
        h = torch.relu(torch.randn(rows, k, generator=gen))
        module = F.linear(h, w, b)
        wp, bp = padded(w, b)
        if not torch.equal(F.linear(h, wp, bp)[:, :n], module):
            differ["padded"].append((k, n, rows))
        if not torch.equal(torch.addmm(b[:, None], w, h.t()).t(), module):
            differ["transposed"].append((k, n, rows))
    print(f"\nbits against the module's F.linear, {len(shapes)} shapes (inputs, outputs, rows):")
    for layout, bad in differ.items():
        shown = ", ".join(str(s) for s in bad[:6]) + (", ..." if len(bad) > 6 else "")
        print(f"  {layout:<11} differs in {len(bad):3d}{': ' + shown if bad else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configure_torch(1)
    layers_table(args.rows, args.calls, args.repeats)
    bits_sweep()


if __name__ == "__main__":
    main()
