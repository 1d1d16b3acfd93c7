"""Signal channels: FIFO, buffering, withdrawal."""

from __future__ import annotations

from rhythm.engine.signals import SignalChannels


def test_buffered_signals_go_to_later_waits_in_order() -> None:
    ch = SignalChannels()
    assert ch.deliver("x", 1) is None
    assert ch.deliver("x", 2) is None
    assert ch.wait("x", 10) == (True, 1)
    assert ch.wait("x", 11) == (True, 2)
    assert ch.wait("x", 12) == (False, None)


def test_waits_are_served_fifo_per_channel() -> None:
    ch = SignalChannels()
    ch.wait("x", 1)
    ch.wait("y", 2)
    ch.wait("x", 3)
    assert ch.deliver("x", "a") == 1
    assert ch.deliver("x", "b") == 3
    assert ch.deliver("y", "c") == 2


def test_withdrawn_wait_never_receives() -> None:
    ch = SignalChannels()
    ch.wait("s", 1)
    assert ch.withdraw(1)
    assert not ch.withdraw(1)
    assert ch.deliver("s", "late") is None
    assert ch.wait("s", 2) == (True, "late")
