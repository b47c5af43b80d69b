"""Fuzzing the scenario loader: the check that each hostile input loads or fails cleanly.

The contract under test: every file handed to ``load_scenario`` either loads (and compiles) or
raises ``ScenarioError`` whose message starts with the file's path (and line where known); never
another exception, never a hang. ``check_input`` judges one input under a time limit; the
``run_*`` drivers feed it the inputs of ``hostile_scenarios`` (mutants of the
shipped scenarios and KB CSVs, non-scenario files, hostile KBs) and count what happened.
``tests/test_loader_fuzz.py`` and ``benchmarks/fuzz_loader.py`` drive them, with
hypothesis-generated documents besides. Test-only: it lives in ``tests/`` (imported by name, as
pytest puts ``tests/`` on ``sys.path``), not in the installed package.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hostile_scenarios import kb_special_inputs, make_special_inputs, mutate

from dialog_rl.domain import Domain, compile_scenario
from dialog_rl.scenario.loader import ScenarioError, load_scenario


class FuzzFailure(AssertionError):
    """An input broke the contract: another exception, a hang, or an error not naming the file."""


class CaseTimeout(Exception):
    """Raised inside a case that ran over its time limit."""


@dataclass
class FuzzTally:
    """How many inputs were tried, loaded, refused cleanly, and broke the contract."""

    tried: int = 0
    loaded: int = 0
    refused: int = 0
    failed: int = 0

    @property
    def passed(self) -> int:
        return self.loaded + self.refused

    def add(self, outcome: str) -> None:
        self.tried += 1
        if outcome == "loaded":
            self.loaded += 1
        elif outcome == "refused":
            self.refused += 1
        else:
            self.failed += 1

    def __str__(self) -> str:
        return (
            f"{self.tried} fuzz cases tried, {self.passed} passed "
            f"({self.loaded} loaded, {self.refused} refused with a clear error), "
            f"{self.failed} failed"
        )


@contextmanager
def time_limit(seconds: float, wall_factor: float = 6.0) -> Iterator[None]:
    """Raise ``CaseTimeout`` in the block if it uses more than ``seconds`` of CPU time, or more
    than ``wall_factor`` times that in wall time (main thread, Unix).

    CPU time, so a loaded machine does not turn a slow case into a "hang"; the looser wall
    limit still catches a block that waits without computing (a read from a FIFO, say).
    """

    def on_timer(signum, frame):
        clock = "CPU" if signum == signal.SIGPROF else "wall"
        raise CaseTimeout(
            f"over {seconds * (1 if clock == 'CPU' else wall_factor):g} s of {clock} time"
        )

    old = {sig: signal.signal(sig, on_timer) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * wall_factor)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in old.items():
            signal.signal(sig, handler)


def check_input(
    path: Path,
    *,
    also: tuple[Path, ...] = (),
    after_load: Callable[[Domain], None] | None = None,
    seconds: float = 10.0,
) -> str:
    """Load ``path``; "loaded" or "refused" if the contract holds, else raise ``FuzzFailure``.

    A refusal must be a ``ScenarioError`` whose message starts with ``path`` or one of ``also``
    (the KB files it may name). ``after_load`` runs on the compiled domain of an input that
    loaded (to play an episode on it, say); its exceptions break the contract too.
    """
    try:
        with time_limit(seconds):
            try:
                domain = compile_scenario(load_scenario(path))
            except ScenarioError as err:
                message = str(err)
                if not any(message.startswith(f"{p}:") for p in (path, *also)):
                    raise FuzzFailure(f"error does not name the file: {message!r}") from None
                if "\n" in message or "Traceback" in message:
                    raise FuzzFailure(f"error is not one line: {message!r}") from None
                return "refused"
            if after_load is not None:
                after_load(domain)
            return "loaded"
    except FuzzFailure:
        raise
    except CaseTimeout as err:
        raise FuzzFailure(f"{path}: hung ({err})") from None
    except Exception as err:
        raise FuzzFailure(f"{path}: {type(err).__name__}: {err}") from err


# -- drivers ---------------------------------------------------------------------------------


def run_mutants(
    sources: list[Path],
    directory: Path,
    rng: np.random.Generator,
    cases: int,
    after_load: Callable[[Domain], None] | None = None,
) -> FuzzTally:
    """Check ``cases`` mutants of ``sources`` (round robin), written in ``directory`` beside
    copies of the KB CSVs they name; raises ``FuzzFailure`` at the first broken contract. An
    overlay (``extends:``) reads the latest mutant of its base there: its refusal may name it."""
    directory.mkdir(parents=True, exist_ok=True)
    kbs = []
    for src in sources:
        for csv_file in src.parent.glob("*.csv"):
            kbs.append(directory / csv_file.name)
            kbs[-1].write_bytes(csv_file.read_bytes())
    originals = [(directory / src.name, src.read_bytes()) for src in sources]
    tally = FuzzTally()
    for i in range(cases):
        path, data = originals[i % len(originals)]
        path.write_bytes(mutate(data, rng))
        try:
            bases = tuple(p for p, _ in originals if p != path)
            tally.add(check_input(path, also=(*kbs, *bases), after_load=after_load))
        except FuzzFailure as err:
            raise FuzzFailure(f"mutant {i} of {path.name}: {err}") from err
    return tally


def run_special(
    directory: Path, sources: list[Path], after_load: Callable[[Domain], None] | None = None
) -> FuzzTally:
    """Check the non-scenario inputs (each must be refused) and the hostile-KB scenarios (a
    lenient CSV reading may load)."""
    tally = FuzzTally()
    for path in make_special_inputs(directory / "special"):
        outcome = check_input(path, after_load=after_load)
        if outcome != "refused":
            raise FuzzFailure(f"{path}: not a scenario, but it loaded")
        tally.add(outcome)
    for src in sources:
        text = src.read_text()
        kb_line = next((ln for ln in text.splitlines() if ln.strip().startswith("file:")), None)
        if kb_line is None:
            continue
        kb_name = kb_line.split(":", 1)[1].strip()
        for path in kb_special_inputs(directory / f"kb-{src.stem}", text, kb_name):
            tally.add(check_input(path, also=(path.parent / kb_name,), after_load=after_load))
    return tally


def run_kb_mutants(
    sources: list[Path],
    directory: Path,
    rng: np.random.Generator,
    cases: int,
    after_load: Callable[[Domain], None] | None = None,
) -> FuzzTally:
    """Check ``cases`` scenarios whose KB CSV is a mutant of the shipped one (the YAML intact)."""
    pairs = []
    for src in sources:
        for csv_file in sorted(src.parent.glob(f"{src.stem}*.csv")):
            if csv_file.name.encode() in src.read_bytes():
                pairs.append((src, csv_file))
    directory.mkdir(parents=True, exist_ok=True)
    tally = FuzzTally()
    for i in range(cases):
        src, csv_file = pairs[i % len(pairs)]
        path, kb = directory / src.name, directory / csv_file.name
        path.write_bytes(src.read_bytes())
        kb.write_bytes(mutate(csv_file.read_bytes(), rng))
        try:
            tally.add(check_input(path, also=(kb,), after_load=after_load))
        except FuzzFailure as err:
            raise FuzzFailure(f"KB mutant {i} of {csv_file.name}: {err}") from err
    return tally


def run_hypothesis(
    strategy,
    write: Callable[[object], tuple[Path, tuple[Path, ...]]],
    examples: int,
    after_load: Callable[[Domain], None] | None = None,
    seed: int | None = None,
) -> FuzzTally:
    """Check ``examples`` inputs drawn from a hypothesis ``strategy``; ``write`` turns a drawn
    value into (scenario path, KB paths its errors may name). ``seed`` None derandomizes.

    The per-case limit is ``check_input``'s timer, not hypothesis' wall-clock deadline.
    """
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    tally = FuzzTally()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def case(value):
        path, also = write(value)
        tally.add(check_input(path, also=also, after_load=after_load))

    (case if seed is None else hypothesis_seed(seed)(case))()
    return tally
