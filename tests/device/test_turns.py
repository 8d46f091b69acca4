"""One benchmark at a time: turns in arrival order, a bounded line, busy past it."""

from __future__ import annotations

import threading
import time

import pytest

from edgeloop.device.turns import Busy, Turns


def test_turns_are_one_at_a_time_in_order_and_busy_past_the_line():
    turns = Turns(max_waiting=2)
    order, release = [], threading.Event()

    def hold(name):
        with turns.turn():
            order.append(name)
            if name == "first":
                release.wait(10)

    first = threading.Thread(target=hold, args=("first",))
    first.start()
    while turns.waiting != 0 or not order:
        time.sleep(0.01)
    waiting = []
    for name in ("second", "third"):
        waiting.append(threading.Thread(target=hold, args=(name,)))
        waiting[-1].start()
        while turns.waiting != len(waiting):
            time.sleep(0.01)
    with pytest.raises(Busy, match="2 more are waiting"):
        with turns.turn():
            pass
    release.set()
    for t in [first, *waiting]:
        t.join(10)
    assert order == ["first", "second", "third"] and turns.waiting == 0
    with turns.turn():  # free again
        pass
