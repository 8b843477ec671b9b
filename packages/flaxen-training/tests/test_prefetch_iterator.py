"""PrefetchIterator: background reads, buffer size, errors, close."""

import threading
import time

import pytest

from flaxen.training import prefetch_iterator
from flaxen.training.prefetch_iterator import PrefetchIterator

pytestmark = pytest.mark.filterwarnings("ignore:PrefetchIterator is deprecated:DeprecationWarning")


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


class Source:
    """An iterator that records what was read from it."""

    def __init__(self, n, fail_at=None):
        self.read = []
        self.n = n
        self.fail_at = fail_at

    def __iter__(self):
        return self

    def __next__(self):
        i = len(self.read)
        if i == self.fail_at:
            raise ValueError(f"boom at {i}")
        if i >= self.n:
            raise StopIteration
        self.read.append(i)
        return i


def test_construction_warns_deprecation():
    assert prefetch_iterator.PrefetchIterator is PrefetchIterator
    with pytest.warns(DeprecationWarning, match="PrefetchIterator is deprecated"):
        it = PrefetchIterator(iter([]))
    it.close()


def test_yields_every_item_in_order():
    it = PrefetchIterator(iter(range(20)), buffer_size=3)
    assert iter(it) is it
    assert list(it) == list(range(20))
    with pytest.raises(StopIteration):
        next(it)


def test_reads_ahead_up_to_the_buffer_size():
    source = Source(10)
    it = PrefetchIterator(source, buffer_size=3)
    wait_until(lambda: len(source.read) == 3)
    time.sleep(0.05)
    assert source.read == [0, 1, 2]  # and no further
    assert next(it) == 0
    wait_until(lambda: len(source.read) == 4)
    time.sleep(0.05)
    assert source.read == [0, 1, 2, 3]
    it.close()


def test_close_stops_reading_but_keeps_the_buffer():
    source = Source(10)
    it = PrefetchIterator(source, buffer_size=2)
    wait_until(lambda: len(source.read) == 2)
    it.close()
    time.sleep(0.05)
    assert [next(it), next(it)] == [0, 1]
    with pytest.raises(StopIteration):
        next(it)
    assert source.read == [0, 1]


def test_errors_of_the_source_are_raised_after_the_buffered_items():
    it = PrefetchIterator(Source(10, fail_at=2), buffer_size=4)
    assert [next(it), next(it)] == [0, 1]
    for _ in range(2):  # and again on every later call
        with pytest.raises(ValueError, match="boom at 2"):
            next(it)


def test_accepts_iterables_and_rejects_an_empty_buffer():
    assert list(PrefetchIterator([1, 2, 3])) == [1, 2, 3]
    with pytest.raises(ValueError, match="buffer_size >= 1"):
        PrefetchIterator(iter([1]), buffer_size=0)


def test_consumer_blocks_until_an_item_arrives():
    gate = threading.Event()

    def slow():
        gate.wait(5)
        yield "late"

    it = PrefetchIterator(slow())
    got = []
    consumer = threading.Thread(target=lambda: got.append(next(it)))
    consumer.start()
    time.sleep(0.05)
    assert got == []
    gate.set()
    consumer.join(5)
    assert got == ["late"]
