"""The number of model calls kept in flight follows the model's speed."""

from __future__ import annotations

import threading

from commandcentre.llm.window import FLOOR, WARM_UP, CallWindow, shared_window


def _observe(window: CallWindow, times: int, wall_s: float, cpu_s: float) -> None:
    for _ in range(times):
        window.observe(wall_s, cpu_s)


def test_until_warmed_up_every_call_may_be_in_flight() -> None:
    window = CallWindow(32)
    _observe(window, WARM_UP - 1, 0.001, 0.001)
    assert window.size() == 32


def test_a_fast_model_gets_a_small_window() -> None:
    window = CallWindow(32)
    _observe(window, 20, 0.003, 0.001)  # 3 ms a call, 1 ms of it our CPU
    assert window.size() == 3


def test_a_slow_model_gets_the_whole_concurrency() -> None:
    window = CallWindow(32)
    _observe(window, 20, 0.3, 0.001)
    assert window.size() == 32


def test_the_window_never_falls_below_the_floor_nor_above_the_ceiling() -> None:
    fast = CallWindow(32)
    _observe(fast, 20, 0.001, 0.002)  # answers quicker than we can read them
    assert fast.size() == FLOOR
    single = CallWindow(1)
    _observe(single, 20, 0.001, 0.002)
    assert single.size() == 1


def test_calls_slowed_by_waiting_for_our_own_threads_do_not_grow_the_window() -> None:
    window = CallWindow(32)
    _observe(window, 10, 0.003, 0.001)
    _observe(window, 10, 0.030, 0.001)  # the same model, calls queued behind each other
    assert window.size() == 3


def test_the_window_follows_a_model_that_slows_down() -> None:
    window = CallWindow(32, samples=16)
    _observe(window, 16, 0.003, 0.001)
    assert window.size() == 3
    _observe(window, 16, 0.2, 0.001)  # the recent calls are all slow now
    assert window.size() == 32


def test_reports_from_many_threads_are_all_counted() -> None:
    window = CallWindow(32, samples=10_000)
    threads = [
        threading.Thread(target=_observe, args=(window, 500, 0.003, 0.001)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert window.size() == 3


def test_one_window_per_model_and_concurrency_in_a_process() -> None:
    assert shared_window(8, "local|http://a|m") is shared_window(8, "local|http://a|m")
    assert shared_window(8, "local|http://a|m") is not shared_window(16, "local|http://a|m")
    # What a fast model taught does not hold back a slow one.
    fast = shared_window(32, "local|http://fast|m")
    _observe(fast, 20, 0.003, 0.001)
    assert fast.size() == 3
    assert shared_window(32, "remote|http://slow|m").size() == 32
