"""Progress of a comparison on stderr: runs done / total, the runs in progress, epoch, loss, ETA.

On a terminal one line is redrawn in place (at most ten times a second); otherwise (a log file,
CI) a plain line is printed when each run finishes and every ``interval_s`` seconds while runs
are in progress. ``quiet`` prints nothing. The ETA divides the epochs still to compute by the
epochs computed per second since the first run started, over all parallel jobs together.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from eveopt.experiments.optimizers import OPTIMIZERS

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``'1m15s'``; ``3725`` -> ``'1h02m'``; under a minute -> ``'42s'``.

    Example:
        >>> format_duration(75.2), format_duration(3725), format_duration(9)
        ('1m15s', '1h02m', '9s')
    """
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass
class _Active:
    label: str
    epochs: int
    epoch: int = 0
    loss: float | None = None


def _run_label(optimizer: str, lr: float, variant: str = "") -> str:
    spec = OPTIMIZERS.get(optimizer)
    name = variant or (spec.label if spec is not None else optimizer)
    return f"{name} lr={lr:g}"


class Progress:
    """Shows how far a comparison has got; every method is cheap and safe to call often.

    Args:
        total_runs: runs in the comparison, finished ones included.
        stream: where to write (stderr in the CLI).
        quiet: print nothing at all.
        live: redraw one line in place; by default when ``stream`` is a terminal.
        interval_s: seconds between plain progress lines when not live.
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        total_runs: int,
        stream: TextIO,
        *,
        quiet: bool = False,
        live: bool | None = None,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_runs = total_runs
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty() if live is None else live
        self.interval_s = interval_s
        self.clock = clock
        self.done = 0
        self.epochs_to_compute = 0
        self.epochs_computed = 0
        self.active: dict[str, _Active] = {}
        self._started = clock()
        self._last_draw = -float("inf")
        self._line_drawn = False
        self._any_started = False
        self._last_plain = clock()

    def start(self, finished: int, to_compute: int, epochs_to_compute: int, jobs: int) -> None:
        """Announce the plan: runs already finished on disk, runs and epochs left, jobs."""
        self.done = finished
        self.epochs_to_compute = epochs_to_compute
        self._last_plain = self.clock()
        parts = [f"{self.total_runs} run{'' if self.total_runs == 1 else 's'}"]
        if finished:
            parts.append(f"{finished} already finished")
        parts.append(f"{to_compute} to compute" + (f" in {jobs} processes" if jobs > 1 else ""))
        self._print(", ".join(parts))

    def run_started(
        self, run_id: str, optimizer: str, lr: float, epochs: int, variant: str = ""
    ) -> None:
        """A run has started (in this process or a worker); ``variant`` names a variant run."""
        if not self._any_started:
            # The rate is measured from the first run on, without the workers' start-up.
            self._started = self.clock()
            self._any_started = True
        self.active[run_id] = _Active(_run_label(optimizer, lr, variant), epochs)
        self._update()

    def epoch_finished(self, run_id: str, epoch: int, loss: float) -> None:
        """A run finished an epoch with full training loss ``loss``."""
        active = self.active.get(run_id)
        if active is not None:
            self.epochs_computed += epoch - active.epoch
            active.epoch, active.loss = epoch, loss
        self._update()

    def run_finished(self, run_id: str, record: Mapping[str, Any]) -> None:
        """A run ended (finished or diverged) and was saved."""
        active = self.active.pop(run_id, None)
        if active is not None:
            # A diverged run never computes its remaining epochs: drop them from the plan.
            self.epochs_to_compute -= active.epochs - active.epoch
        self.done += 1
        label = _run_label(
            str(record["optimizer"]), float(record["lr"]), str(record.get("variant") or "")
        )
        final_loss = record.get("final_loss")
        outcome = (
            f"diverged at epoch {record['diverged_at']['epoch']}"
            if record.get("diverged")
            else f"final loss {final_loss:.3e}"
        )
        if self.live:
            self._update(force=True)
        else:
            self._print(
                f"[{self.done}/{self.total_runs}] {label}: {outcome} "
                f"({record['wall_time_s']:.1f} s){self._eta_text()}"
            )

    def close(self) -> None:
        """Clear the live line, so what follows starts on a clean line."""
        if self._line_drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_drawn = False

    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far, or ``None`` before two epochs have been computed."""
        elapsed = self.clock() - self._started
        if self.epochs_computed < 2 or elapsed <= 0:
            return None
        remaining = max(0, self.epochs_to_compute - self.epochs_computed)
        return remaining * elapsed / self.epochs_computed

    def _eta_text(self) -> str:
        eta = self.eta_seconds()
        return (
            "" if eta is None or self.done >= self.total_runs else f", ETA {format_duration(eta)}"
        )

    def _status_line(self) -> str:
        running = " | ".join(
            f"{active.label} epoch {active.epoch}/{active.epochs}"
            + (f" loss {active.loss:.3g}" if active.loss is not None else "")
            for active in self.active.values()
        )
        return f"[{self.done}/{self.total_runs}] {running or 'saving'}{self._eta_text()}"

    def _update(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = self.clock()
        if self.live:
            if force or now - self._last_draw >= 0.1:
                self._last_draw = now
                width = shutil.get_terminal_size((100, 24)).columns - 1
                self.stream.write("\r" + self._status_line()[:width] + "\x1b[K")
                self.stream.flush()
                self._line_drawn = True
        elif now - self._last_plain >= self.interval_s and self.active:
            self._print(self._status_line())

    def _print(self, line: str) -> None:
        if self.quiet:
            return
        if self._line_drawn:
            self.stream.write("\r\x1b[K")
            self._line_drawn = False
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last_plain = self.clock()
