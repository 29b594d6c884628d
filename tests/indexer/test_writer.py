"""Overlapped writes: in order on one thread or at once on several, `done` always in submission order,
errors surfacing, nothing left running."""

from __future__ import annotations

import threading
import time

import pytest

from indexer.writer import BackgroundWriter, InOrder


def test_writes_run_in_order_on_one_thread_and_report_done_on_the_caller():
    log: list[str] = []
    threads: set[str] = set()
    writer = BackgroundWriter()

    def write(k: int):
        def run() -> None:
            threads.add(threading.current_thread().name)
            time.sleep(0.01 * (3 - k))  # later writes are quicker: order must still hold
            log.append(f"write {k}")

        return run

    for k in range(3):
        writer.submit(write(k), lambda k=k: log.append(f"done {k}"))
    writer.drain()
    writer.close()
    assert [e for e in log if e.startswith("write")] == ["write 0", "write 1", "write 2"]
    assert log.index("done 0") > log.index("write 0") and log[-1] == "done 2"
    assert len(threads) == 1 and threading.current_thread().name not in threads


def test_an_error_surfaces_and_no_later_write_is_left_running():
    writer = BackgroundWriter()
    finished = threading.Event()

    def broken() -> None:
        raise OSError("disk full")

    def slow() -> None:
        time.sleep(0.05)
        finished.set()

    writer.submit(broken, lambda: None)
    with pytest.raises(OSError, match="disk full"):
        writer.submit(slow, lambda: None)  # waits for the first write: its error comes out here
    writer.submit(slow, lambda: None)
    writer.abandon()
    assert finished.is_set()  # abandon waited for it
    writer.close()


def test_threads_write_at_once_and_report_done_in_submission_order():
    log: list[str] = []
    both_running = threading.Barrier(2, timeout=5)  # broken (an error) unless two writes overlap
    writer = BackgroundWriter(depth=2, threads=2)

    def write(k: int):
        def run() -> None:
            both_running.wait()
            time.sleep(0.02 * (2 - k))  # the second write ends first
            log.append(f"write {k}")

        return run

    for k in range(2):
        writer.submit(write(k), lambda k=k: log.append(f"done {k}"))
    writer.drain()
    writer.close()
    assert log == ["write 1", "write 0", "done 0", "done 1"]


def test_depth_and_threads_must_be_positive():
    with pytest.raises(ValueError):
        BackgroundWriter(depth=0)
    with pytest.raises(ValueError):
        BackgroundWriter(threads=0)


def test_in_order_calls_run_one_at_a_time_off_the_caller_and_errors_surface():
    log: list[tuple[int, str]] = []
    calls = InOrder("test-complete")

    def call(k: int) -> None:
        time.sleep(0.01 * (3 - k))  # later calls are quicker: order must still hold
        log.append((k, threading.current_thread().name))

    for k in range(3):
        calls.submit(call, k)
    calls.wait()
    assert [k for k, _ in log] == [0, 1, 2]
    assert {name for _, name in log} == {"test-complete_0"}

    def fail() -> None:
        raise RuntimeError("flush failed")

    calls.submit(fail)
    time.sleep(0.05)
    with pytest.raises(RuntimeError, match="flush failed"):
        calls.submit(call, 3)  # the earlier call's error, at the next submit
    calls.submit(fail)
    with pytest.raises(RuntimeError, match="flush failed"):
        calls.wait()
    calls.close()
