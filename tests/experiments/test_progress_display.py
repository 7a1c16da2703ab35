"""The progress display: plain lines off a terminal, one redrawn line on one, silence when quiet."""

from __future__ import annotations

import io

from eveopt.experiments.progress import Progress, format_duration


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(optimizer: str, lr: float, final_loss: float | None) -> dict[str, object]:
    return {
        "optimizer": optimizer,
        "lr": lr,
        "final_loss": final_loss,
        "diverged": final_loss is None,
        "diverged_at": None if final_loss is not None else {"epoch": 3, "step": 40},
        "wall_time_s": 5.0,
    }


def test_plain_lines_report_each_run_and_an_eta_from_the_epoch_rate() -> None:
    stream, clock = io.StringIO(), _FakeClock()
    progress = Progress(3, stream, live=False, interval_s=30.0, clock=clock)
    progress.start(finished=1, to_compute=2, epochs_to_compute=20, jobs=1)
    progress.run_started("a", "adam", 1e-3, 10)
    for epoch in range(1, 11):
        clock.now += 1.0
        progress.epoch_finished("a", epoch, 0.5 / epoch)
    # 10 epochs in 10 s, 10 left: 10 s.
    assert progress.eta_seconds() == 10.0
    progress.run_finished("a", _record("adam", 1e-3, 0.05))
    progress.run_started("b", "eve", 1e-2, 10)
    clock.now += 31.0
    progress.epoch_finished("b", 1, 0.7)
    progress.run_finished("b", _record("eve", 1e-2, None))
    assert stream.getvalue().splitlines() == [
        "3 runs, 1 already finished, 2 to compute",
        "[2/3] Adam lr=0.001: final loss 5.000e-02 (5.0 s), ETA 10s",
        "[2/3] Eve lr=0.01 epoch 1/10 loss 0.7, ETA 34s",
        "[3/3] Eve lr=0.01: diverged at epoch 3 (5.0 s)",
    ]


def test_a_diverged_run_drops_its_remaining_epochs_from_the_eta() -> None:
    clock = _FakeClock()
    progress = Progress(2, io.StringIO(), live=False, clock=clock)
    progress.start(finished=0, to_compute=2, epochs_to_compute=20, jobs=1)
    progress.run_started("a", "sgd-nesterov", 1.0, 10)
    clock.now += 2.0
    progress.epoch_finished("a", 2, float("inf"))
    progress.run_finished("a", _record("sgd-nesterov", 1.0, None))
    assert progress.epochs_to_compute == 12
    assert progress.eta_seconds() == 10.0


def test_live_mode_redraws_one_line_and_clears_it() -> None:
    stream, clock = io.StringIO(), _FakeClock()
    progress = Progress(1, stream, live=True, clock=clock)
    progress.start(finished=0, to_compute=1, epochs_to_compute=5, jobs=1)
    progress.run_started("a", "adamax", 2e-3, 5)
    clock.now += 1.0
    progress.epoch_finished("a", 1, 0.5)
    assert progress.eta_seconds() is None
    clock.now += 1.0
    progress.epoch_finished("a", 2, 0.25)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("1 run, 1 to compute\n")
    assert "\r[0/1] Adamax lr=0.002 epoch 1/5 loss 0.5\x1b[K" in text
    assert "\r[0/1] Adamax lr=0.002 epoch 2/5 loss 0.25, ETA 3s\x1b[K" in text
    assert text.endswith("\r\x1b[K")
    assert text.count("\n") == 1


def test_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(1, stream, quiet=True, live=True)
    progress.start(finished=0, to_compute=1, epochs_to_compute=1, jobs=1)
    progress.run_started("a", "adam", 1e-3, 1)
    progress.epoch_finished("a", 1, 0.1)
    progress.run_finished("a", _record("adam", 1e-3, 0.1))
    progress.close()
    assert stream.getvalue() == ""


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (0.4, 59.6, 61, 3599, 3600, 7384)] == [
        "0s",
        "1m00s",
        "1m01s",
        "59m59s",
        "1h00m",
        "2h03m",
    ]
