"""The virtual clock: real time by default; set, advance, freeze, unfreeze
and reset."""

from __future__ import annotations

import time

import pytest

from mock_cotter import clock as clock_module
from mock_cotter.clock import Clock


class FakeTime:
    """Stands in for the ``time`` module inside mock_cotter.clock."""

    def __init__(self, now: float = 1_600_000_000.0):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def real(monkeypatch) -> FakeTime:
    """Real (wall-clock) time, under the test's control."""
    fake = FakeTime()
    monkeypatch.setattr(clock_module, "time", fake)
    return fake


# -- with the real time module ----------------------------------------------------


def test_a_new_clock_follows_real_time():
    clock = Clock()

    before = time.time()
    now = clock.now()
    after = time.time()

    assert before <= now <= after
    assert not clock.frozen


def test_a_new_running_clock_ticks():
    clock = Clock()
    first = clock.now()
    time.sleep(0.01)

    assert clock.now() > first


def test_a_frozen_clock_does_not_tick():
    clock = Clock(frozen=True)
    first = clock.now()
    time.sleep(0.01)

    assert clock.now() == first


# -- with a controlled real time ---------------------------------------------------


def test_seconds_is_the_whole_part_of_now(real):
    real.now = 1_600_000_000.9

    assert Clock().seconds() == 1_600_000_000


def test_set_on_a_running_clock_jumps_and_keeps_running(real):
    clock = Clock()

    clock.set(1_000_000.0)
    assert clock.now() == 1_000_000.0
    real.now += 5

    assert clock.now() == 1_000_005.0
    assert not clock.frozen


def test_set_on_a_frozen_clock_stays_frozen_at_the_new_time(real):
    clock = Clock(frozen=True)

    clock.set(2_000_000.0)
    real.now += 60

    assert clock.frozen
    assert clock.now() == 2_000_000.0


def test_advance_on_a_running_clock_moves_it_forward_and_it_keeps_running(
    real,
):
    clock = Clock()
    start = clock.now()

    returned = clock.advance(3600)
    real.now += 2

    assert returned == start + 3600
    assert clock.now() == start + 3602


def test_advance_on_a_frozen_clock_moves_it_and_it_stays_frozen(real):
    clock = Clock(frozen=True)
    start = clock.now()

    returned = clock.advance(90)
    real.now += 10

    assert returned == start + 90
    assert clock.now() == start + 90
    assert clock.frozen


def test_advance_backwards(real):
    clock = Clock(start=1000.0)

    assert clock.advance(-400) == 600.0


def test_freeze_stops_the_clock_at_the_current_virtual_time(real):
    clock = Clock()
    clock.advance(100)
    frozen_at = clock.now()

    clock.freeze()
    real.now += 50

    assert clock.frozen
    assert clock.now() == frozen_at


def test_freeze_twice_keeps_the_first_instant(real):
    clock = Clock()
    clock.freeze()
    first = clock.now()
    real.now += 20

    clock.freeze()

    assert clock.now() == first


def test_unfreeze_resumes_from_the_frozen_instant(real):
    clock = Clock()
    clock.freeze()
    frozen_at = clock.now()
    real.now += 1000  # real time passes while frozen

    clock.unfreeze()
    assert clock.now() == frozen_at  # no jump to real time
    real.now += 7

    assert not clock.frozen
    assert clock.now() == frozen_at + 7


def test_unfreeze_keeps_an_advance_made_while_frozen(real):
    clock = Clock(frozen=True)
    start = clock.now()
    clock.advance(30)

    clock.unfreeze()
    real.now += 1

    assert clock.now() == start + 31


def test_unfreeze_on_a_running_clock_changes_nothing(real):
    clock = Clock()
    clock.advance(42)

    clock.unfreeze()

    assert clock.now() == real.now + 42


def test_reset_goes_back_to_real_time_and_runs(real):
    clock = Clock(start=5.0, frozen=True)
    clock.advance(10)

    clock.reset()
    assert clock.now() == real.now
    real.now += 3

    assert not clock.frozen
    assert clock.now() == real.now


def test_start_sets_the_time_of_a_running_clock(real):
    clock = Clock(start=1234.0)
    real.now += 1

    assert clock.now() == 1235.0


def test_start_with_frozen_pins_the_clock(real):
    clock = Clock(start=1234.0, frozen=True)
    real.now += 1

    assert clock.now() == 1234.0


def test_repr_says_whether_the_clock_runs(real):
    clock = Clock(start=10.0)

    assert "running" in repr(clock)
    clock.freeze()
    assert "frozen" in repr(clock)
