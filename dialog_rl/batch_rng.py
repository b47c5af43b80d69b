"""Many PCG64 streams advanced as numpy arrays, drawing exactly what ``numpy.random.Generator`` draws.

The array engine plays thousands of conversations at once, and each conversation owns its
random streams (``DialogueEnv`` seeds them per episode). To play the *same* conversations as
``DialogueEnv``, every draw of every stream must be the one numpy would make. ``BatchPCG64``
holds one PCG64 state per slot (128-bit LCG as two uint64 arrays, plus numpy's buffered 32-bit
half) and reimplements numpy's algorithms on arrays: ``random`` (53-bit double), ``integers``
(Lemire's bounded draw on 32-bit halves), ``random_interval`` (masked rejection, as
``shuffle`` uses), ``standard_normal`` (ziggurat), ``standard_gamma`` (Marsaglia-Tsang) and
``beta`` (the gamma ratio).

The ziggurat's rare branches (slow strips, tail) are handed to numpy
itself: the slot's state is loaded into a real ``Generator``, which draws, and the state is read
back. The ziggurat's tables are not copied from numpy's source: they are measured from numpy at
first use, by feeding it crafted PCG64 outputs (see ``_ziggurat_tables``). Tests compare every
method with numpy over many seeds.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

U64 = np.uint64
_M32 = U64(0xFFFFFFFF)
_MULT = 0x2360ED051FC65DA44385DF649FCCF645  # PCG64's 128-bit multiplier
_MULT_HI, _MULT_LO = U64(_MULT >> 64), U64(_MULT & 0xFFFFFFFFFFFFFFFF)
_MULT_LO0, _MULT_LO1 = U64(_MULT & 0xFFFFFFFF), U64((_MULT >> 32) & 0xFFFFFFFF)
_MASK128 = (1 << 128) - 1
_MULT_INV = pow(_MULT, -1, 1 << 128)
_TO_DOUBLE = 1.0 / 9007199254740992.0
#: below this many rows, numpy itself (``with_numpy``, ~2 us a row) beats the array algorithms'
#: rejection loops (~0.5 ms a call, whatever the row count)
_FEW = 256

# numpy.random.SeedSequence's hash constants (bit_generator.pyx)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)


def _mul64(a: np.ndarray, b0: np.uint64, b1: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """Full 128-bit product of uint64 array ``a`` and a constant given as 32-bit halves."""
    a0 = a & _M32
    a1 = a >> U64(32)
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    mid = (p00 >> U64(32)) + (p01 & _M32) + (p10 & _M32)
    hi = a1 * b1 + (p01 >> U64(32)) + (p10 >> U64(32)) + (mid >> U64(32))
    lo = (p00 & _M32) | (mid << U64(32))
    return hi, lo


def _step(hi: np.ndarray, lo: np.ndarray, inc_hi: np.ndarray, inc_lo: np.ndarray):
    """One LCG step: state * MULT + inc (mod 2**128)."""
    ph, pl = _mul64(lo, _MULT_LO0, _MULT_LO1)
    ph = ph + hi * _MULT_LO + lo * _MULT_HI
    nl = pl + inc_lo
    nh = ph + inc_hi + (nl < pl).astype(U64)
    return nh, nl


def _output(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """PCG's XSL-RR output function."""
    v = hi ^ lo
    rot = hi >> U64(58)
    return (v >> rot) | (v << ((U64(64) - rot) & U64(63)))


def _seed_sequence_words(seeds: np.ndarray) -> np.ndarray:
    """``SeedSequence(seed).generate_state(4, uint64)`` for each (non-negative, < 2**64) seed."""
    n = len(seeds)
    entropy = np.zeros((4, n), dtype=np.uint32)
    entropy[0] = (seeds & _M32).astype(np.uint32)
    entropy[1] = (seeds >> U64(32)).astype(np.uint32)  # zero words hash like absent ones
    hc = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hc
        value = value ^ np.uint32(hc)
        hc = (hc * _MULT_A) & 0xFFFFFFFF
        value = value * np.uint32(hc)
        return value ^ (value >> np.uint32(16))

    with np.errstate(over="ignore"):
        mixer = [hashmix(entropy[i]) for i in range(4)]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    h = hashmix(mixer[src])
                    r = _MIX_L * mixer[dst] - _MIX_R * h
                    mixer[dst] = r ^ (r >> np.uint32(16))
        hc = _INIT_B
        words = []
        for i in range(8):
            v = mixer[i % 4] ^ np.uint32(hc)
            hc = (hc * _MULT_B) & 0xFFFFFFFF
            v = v * np.uint32(hc)
            words.append((v ^ (v >> np.uint32(16))).astype(U64))
    return np.stack([words[2 * j] | (words[2 * j + 1] << U64(32)) for j in range(4)])


def _to_float(x: np.ndarray) -> np.ndarray:
    """uint64 values below 2**63 as float64, through int64 (numpy converts uint64 slowly)."""
    return x.view(np.int64).astype(np.float64)


class _RawPCG64:
    """A scratch numpy PCG64 whose C state is exposed as arrays (``with_numpy``'s fast path).

    numpy's ``pcg64_state`` is a pointer to {state, inc} (128-bit, low word first on this
    platform) followed by ``int has_uint32`` and ``uint32 uinteger``. ``make`` checks that
    layout against the ``bit_generator.state`` dict and gives a false object if it differs.
    """

    def __init__(self, gen: np.random.Generator, words: np.ndarray, halves: np.ndarray):
        self.gen, self.words, self.halves = gen, words, halves

    def __bool__(self) -> bool:
        return self.gen is not None

    @classmethod
    def make(cls) -> _RawPCG64:
        import ctypes

        try:
            bitgen = np.random.PCG64(12345)
            gen = np.random.Generator(bitgen)
            gen.integers(0, 7)  # leaves a buffered 32-bit half to check
            addr = bitgen.ctypes.state_address
            ptr = ctypes.cast(addr, ctypes.POINTER(ctypes.c_void_p))[0]
            words = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_uint64)), (4,))
            halves = np.ctypeslib.as_array(
                ctypes.cast(addr + ctypes.sizeof(ctypes.c_void_p), ctypes.POINTER(ctypes.c_uint32)),
                (2,),
            )
            raw = cls(gen, words, halves)
            s = bitgen.state
            expect = [
                s["state"]["state"] & 0xFFFFFFFFFFFFFFFF,
                s["state"]["state"] >> 64,
                s["state"]["inc"] & 0xFFFFFFFFFFFFFFFF,
                s["state"]["inc"] >> 64,
            ]
            if words.tolist() != expect or halves.tolist() != [s["has_uint32"], s["uinteger"]]:
                return cls(None, words, halves)
            return raw
        except (AttributeError, TypeError, ValueError, OSError):
            return cls(None, np.zeros(4, U64), np.zeros(2, np.uint32))


class BatchPCG64:
    """``n`` independent PCG64 streams; each method draws for the slots in ``idx`` (int array)."""

    def __init__(self, n: int) -> None:
        self.hi = np.zeros(n, dtype=U64)
        self.lo = np.zeros(n, dtype=U64)
        self.inc_hi = np.zeros(n, dtype=U64)
        self.inc_lo = np.ones(n, dtype=U64)
        self.has32 = np.zeros(n, dtype=bool)
        self.buf32 = np.zeros(n, dtype=U64)
        self._raw: _RawPCG64 | None = None

    # -- state -------------------------------------------------------------------------------

    def set_state(self, idx: np.ndarray, hi, lo, inc_hi, inc_lo) -> None:
        """What ``bit_generator.state = {...}`` does: set state and increment, drop the buffer."""
        self.hi[idx] = hi
        self.lo[idx] = lo
        self.inc_hi[idx] = inc_hi
        self.inc_lo[idx] = inc_lo
        self.has32[idx] = False
        self.buf32[idx] = 0

    def seed_from(self, idx: np.ndarray, seeds: np.ndarray) -> None:
        """What ``PCG64(SeedSequence(seed))`` does, for each slot's seed."""
        v = _seed_sequence_words(np.asarray(seeds, dtype=U64))
        # inc = (initseq << 1) | 1; state = 0; step; state += initstate; step
        inc_hi = (v[2] << U64(1)) | (v[3] >> U64(63))
        inc_lo = (v[3] << U64(1)) | U64(1)
        hi, lo = inc_hi, inc_lo  # 0 * MULT + inc
        nl = lo + v[1]
        hi = hi + v[0] + (nl < lo).astype(U64)
        hi, lo = _step(hi, nl, inc_hi, inc_lo)
        self.set_state(idx, hi, lo, inc_hi, inc_lo)

    def state_of(self, i: int) -> dict:
        """Slot ``i`` as a numpy ``bit_generator.state`` dict."""
        return {
            "bit_generator": "PCG64",
            "state": {
                "state": int(self.hi[i]) << 64 | int(self.lo[i]),
                "inc": int(self.inc_hi[i]) << 64 | int(self.inc_lo[i]),
            },
            "has_uint32": int(self.has32[i]),
            "uinteger": int(self.buf32[i]),
        }

    def load_state(self, i: int, state: dict) -> None:
        s, inc = state["state"]["state"], state["state"]["inc"]
        self.hi[i], self.lo[i] = U64(s >> 64), U64(s & 0xFFFFFFFFFFFFFFFF)
        self.inc_hi[i], self.inc_lo[i] = U64(inc >> 64), U64(inc & 0xFFFFFFFFFFFFFFFF)
        self.has32[i] = bool(state["has_uint32"])
        self.buf32[i] = U64(state["uinteger"])

    def with_numpy(self, idx: np.ndarray, draw) -> list:
        """Let numpy draw ``draw(generator)`` for each slot in ``idx`` (the rare branches).

        The slots must be distinct. Each slot's state is written straight into a scratch
        generator's C struct (``_RawPCG64``): the ``bit_generator.state`` dict round trip
        costs ~10x more, and this runs for a few percent of all normal draws.
        """
        idx = np.asarray(idx)
        if self._raw is None:
            self._raw = _RawPCG64.make()
        raw = self._raw
        if not raw:  # an unexpected struct layout: the slow, documented way
            gen = np.random.Generator(np.random.PCG64(0))
            out = []
            for i in idx.tolist():
                gen.bit_generator.state = self.state_of(i)
                out.append(draw(gen))
                self.load_state(i, gen.bit_generator.state)
            return out
        words = np.stack([self.lo[idx], self.hi[idx], self.inc_lo[idx], self.inc_hi[idx]], axis=1)
        halves = np.stack([self.has32[idx].astype(U64), self.buf32[idx]], axis=1).astype(np.uint32)
        gen, w, h = raw.gen, raw.words, raw.halves
        out = []
        for j in range(len(idx)):
            w[:] = words[j]
            h[:] = halves[j]
            out.append(draw(gen))
            words[j, :2] = w[:2]
            halves[j] = h
        self.lo[idx], self.hi[idx] = words[:, 0], words[:, 1]
        self.has32[idx] = halves[:, 0] != 0
        self.buf32[idx] = halves[:, 1]
        return out

    # -- raw draws ---------------------------------------------------------------------------

    def next64(self, idx: np.ndarray) -> np.ndarray:
        hi, lo = _step(self.hi[idx], self.lo[idx], self.inc_hi[idx], self.inc_lo[idx])
        self.hi[idx] = hi
        self.lo[idx] = lo
        return _output(hi, lo)

    def next64_many(self, idx: np.ndarray, k: int) -> list[np.ndarray]:
        """``k`` consecutive 64-bit outputs per slot (one gather and one scatter)."""
        hi, lo = self.hi[idx], self.lo[idx]
        inc_hi, inc_lo = self.inc_hi[idx], self.inc_lo[idx]
        out = []
        for _ in range(k):
            hi, lo = _step(hi, lo, inc_hi, inc_lo)
            out.append(_output(hi, lo))
        self.hi[idx] = hi
        self.lo[idx] = lo
        return out

    def next32(self, idx: np.ndarray) -> np.ndarray:
        """numpy's buffered 32-bit draw: the low half of a 64-bit output, the high half next."""
        buffered = self.has32[idx]
        out = self.buf32[idx].copy()
        fresh = idx[~buffered]
        if len(fresh):
            v = self.next64(fresh)
            out[~buffered] = v & _M32
            self.buf32[fresh] = v >> U64(32)
        self.has32[idx] = ~buffered
        return out

    # -- distributions -----------------------------------------------------------------------

    def random(self, idx: np.ndarray) -> np.ndarray:
        """``Generator.random()``: float64 in [0, 1)."""
        return _to_float(self.next64(idx) >> U64(11)) * _TO_DOUBLE

    def randoms(self, idx: np.ndarray, k: int) -> np.ndarray:
        """``k`` consecutive ``random()`` draws per slot, as a [k, len(idx)] array."""
        if k == 0:
            return np.empty((0, len(idx)))
        out = self.next64_many(idx, k)
        return _to_float(np.stack(out) >> U64(11)) * _TO_DOUBLE

    def integers(self, idx: np.ndarray, high, low=0) -> np.ndarray:
        """``Generator.integers(low, high)`` (int64; ranges below 2**32), per slot.

        A slot whose range holds one value draws nothing, as in numpy.
        """
        n = len(idx)
        high = np.broadcast_to(np.asarray(high, dtype=np.int64), (n,))
        low = np.broadcast_to(np.asarray(low, dtype=np.int64), (n,))
        rng = (high - low - 1).astype(U64)
        out = low.copy()
        draw = rng > 0
        if not draw.any():
            return out
        sub = idx[draw]
        rng = rng[draw]
        excl = rng + U64(1)
        m = self.next32(sub) * excl
        left = m & _M32
        res = m >> U64(32)
        rare = np.flatnonzero(left < excl)
        if len(rare):
            # Lemire's rejection: redraw while the leftover is below the threshold
            thresh = (_M32 - rng[rare]) % excl[rare]
            keep = left[rare] < thresh
            todo, thresh = rare[keep], thresh[keep]
            while len(todo):
                m = self.next32(sub[todo]) * excl[todo]
                res[todo] = m >> U64(32)
                keep = (m & _M32) < thresh
                todo, thresh = todo[keep], thresh[keep]
        out[draw] += res.astype(np.int64)
        return out

    def random_interval(self, idx: np.ndarray, maximum: np.ndarray) -> np.ndarray:
        """numpy's ``random_interval(max)``: uniform on [0, max] by masked rejection (shuffle)."""
        maximum = np.asarray(maximum, dtype=U64)
        out = np.zeros(len(idx), dtype=U64)
        mask = maximum.copy()
        for s in (1, 2, 4, 8, 16, 32):
            mask |= mask >> U64(s)
        todo = np.flatnonzero(maximum > 0)
        while len(todo):
            v = self.next32(idx[todo]) & mask[todo]
            ok = v <= maximum[todo]
            out[todo[ok]] = v[ok]
            todo = todo[~ok]
        return out.astype(np.int64)

    def standard_normal(self, idx: np.ndarray) -> np.ndarray:
        """``Generator.standard_normal()``: the ziggurat's fast path here, its slow path in numpy."""
        ki, wi = _ziggurat_tables()
        saved = (self.hi[idx], self.lo[idx])
        r = self.next64(idx)
        strip = (r & U64(0xFF)).astype(np.intp)
        r = r >> U64(8)
        sign = (r & U64(1)).astype(bool)
        rabs = (r >> U64(1)) & U64(0x000FFFFFFFFFFFFF)
        x = _to_float(rabs) * wi[strip]
        x = np.where(sign, -x, x)
        slow = rabs >= ki[strip]
        if slow.any():
            j = np.flatnonzero(slow)
            slots = idx[j]
            self.hi[slots], self.lo[slots] = saved[0][j], saved[1][j]
            x[j] = self.with_numpy(slots, lambda g: g.standard_normal())
        return x

    def standard_gamma(self, idx: np.ndarray, shape) -> np.ndarray:
        """``Generator.standard_gamma(shape)`` for ``shape > 1`` (Marsaglia and Tsang).

        ``shape`` is one float or one per slot of ``idx``.
        """
        shape = np.broadcast_to(np.asarray(shape, dtype=np.float64), (len(idx),))
        if not (shape > 1.0).all():
            raise ValueError("standard_gamma here needs shape > 1")
        b_all = shape - 1.0 / 3.0
        c_all = 1.0 / np.sqrt(9 * b_all)  # IEEE sqrt: the same double as C's sqrt
        out = np.empty(len(idx), dtype=np.float64)
        todo = np.arange(len(idx))
        while len(todo):
            slots = idx[todo]
            b, c = b_all[todo], c_all[todo]
            x = np.empty(len(todo))
            v = np.empty(len(todo))
            redo = np.arange(len(todo))
            while len(redo):  # do { X = normal; V = 1 + c X } while (V <= 0)
                x[redo] = self.standard_normal(slots[redo])
                v[redo] = 1.0 + c[redo] * x[redo]
                redo = redo[v[redo] <= 0.0]
            v = v * v * v
            u = self.random(slots)
            xx = x * x
            ok = u < 1.0 - 0.0331 * xx * xx
            rest = np.flatnonzero(~ok)
            if len(rest):
                ok[rest] = _log_test(u[rest], x[rest], v[rest], b[rest])
            out[todo[ok]] = b[ok] * v[ok]
            todo = todo[~ok]
        return out

    def beta(self, idx: np.ndarray, a, b) -> np.ndarray:
        """``Generator.beta(a, b)`` for ``a, b > 1``: Ga / (Ga + Gb).

        ``a`` and ``b`` are floats or one per slot of ``idx`` (so one call can draw for rows
        with different parameters). Almost every draw takes the common path: each gamma
        accepts its first normal (on the ziggurat's fast path) and first uniform, four 64-bit
        outputs in all. Those are drawn in one go and checked; the few rows that need more
        rewind and take the general path (numpy itself when they are few).
        """
        n = len(idx)
        a = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
        b = np.broadcast_to(np.asarray(b, dtype=np.float64), (n,))
        if not ((a > 1.0).all() and (b > 1.0).all()):
            raise ValueError("beta here needs a, b > 1")
        saved = (self.hi[idx], self.lo[idx])
        r = self.next64_many(idx, 4)
        ga, ok_a = self._gamma_first_try(r[0], r[1], a)
        gb, ok_b = self._gamma_first_try(r[2], r[3], b)
        out = ga / (ga + gb)
        redo = np.flatnonzero(~(ok_a & ok_b))
        if len(redo):
            slots = idx[redo]
            self.hi[slots], self.lo[slots] = saved[0][redo], saved[1][redo]
            if len(redo) <= _FEW:  # fixed cost of the array path's loops > numpy's per-row cost
                params = iter(zip(a[redo].tolist(), b[redo].tolist()))
                out[redo] = self.with_numpy(slots, lambda g: g.beta(*next(params)))
            else:
                ga = self.standard_gamma(slots, a[redo])
                gb = self.standard_gamma(slots, b[redo])
                out[redo] = ga / (ga + gb)
        return out

    def _gamma_first_try(
        self, r_normal: np.ndarray, r_uniform: np.ndarray, shape: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Marsaglia-Tsang from one normal output and one uniform output; and whether it held."""
        ki, wi = _ziggurat_tables()
        b = shape - 1.0 / 3.0
        c = 1.0 / np.sqrt(9 * b)
        strip = (r_normal & U64(0xFF)).astype(np.intp)
        rr = r_normal >> U64(8)
        rabs = (rr >> U64(1)) & U64(0x000FFFFFFFFFFFFF)
        x = _to_float(rabs) * wi[strip]
        x = np.where((rr & U64(1)).astype(bool), -x, x)
        v = 1.0 + c * x
        ok = (rabs < ki[strip]) & (v > 0.0)
        v = v * v * v
        u = _to_float(r_uniform >> U64(11)) * _TO_DOUBLE
        xx = x * x
        accept = u < 1.0 - 0.0331 * xx * xx
        rest = np.flatnonzero(ok & ~accept)
        if len(rest):
            accept[rest] = _log_test(u[rest], x[rest], v[rest], b[rest])
        return b * v, ok & accept


def _log_test(u: np.ndarray, x: np.ndarray, v: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Marsaglia-Tsang's second test, ``log(U) < X²/2 + b(1 - V + log V)``, exactly as numpy's C.

    numpy's vectorised log may differ from the C library's ``log`` in the last bit, so rows
    where the two sides are that close are decided again with ``math.log`` (the C library's).
    """
    with np.errstate(divide="ignore"):
        lhs = np.log(u)
        rhs = 0.5 * x * x + b * (1.0 - v + np.log(v))
    out = lhs < rhs
    close = np.flatnonzero(np.abs(lhs - rhs) <= 1e-9 * (np.abs(lhs) + np.abs(rhs)) + 1e-300)
    for k in close.tolist():
        lk = math.log(u[k]) if u[k] > 0.0 else -math.inf
        out[k] = lk < 0.5 * x[k] * x[k] + b[k] * (1.0 - v[k] + math.log(v[k]))
    return out


def _craft_state(outputs: int) -> dict:
    """A PCG64 state whose next 64-bit output is ``outputs`` (state after the step: hi=0)."""
    after = outputs
    inc = 1
    before = ((after - inc) * _MULT_INV) & _MASK128
    return {
        "bit_generator": "PCG64",
        "state": {"state": before, "inc": inc},
        "has_uint32": 0,
        "uinteger": 0,
    }


@cache
def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """numpy's ziggurat tables ``ki`` (fast-path bound) and ``wi`` (scale), measured from numpy.

    For strip ``s`` a draw whose 52-bit magnitude is below ``ki[s]`` returns ``magnitude *
    wi[s]`` after one 64-bit output; anything else consumes more. Feeding numpy chosen outputs
    (``_craft_state``) reads ``wi[s]`` off magnitude 1 and finds ``ki[s]`` by bisection.
    """
    gen = np.random.Generator(np.random.PCG64(0))
    ki = np.zeros(256, dtype=U64)
    wi = np.zeros(256, dtype=np.float64)

    def fast(strip: int, mag: int) -> tuple[bool, float]:
        state = _craft_state(strip | (mag << 9))
        gen.bit_generator.state = state
        x = gen.standard_normal()
        after = gen.bit_generator.state["state"]["state"]
        return after == (strip | (mag << 9)), x

    for s in range(256):
        lo, hi = 0, 1 << 52  # fast(mag) holds exactly for mag < ki
        if not fast(s, 0)[0]:
            continue  # this strip never takes the fast path (ki = 0)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fast(s, mid)[0]:
                lo = mid
            else:
                hi = mid
        ki[s] = hi
        ok, x = fast(s, 1) if hi > 1 else (False, 0.0)
        wi[s] = x if ok else 0.0
    return ki, wi
