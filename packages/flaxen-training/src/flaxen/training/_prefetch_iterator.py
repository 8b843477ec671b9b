"""A background thread that reads an iterator ahead (deprecated)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from typing import Any


class PrefetchIterator:
    """Wraps an iterator to provide async prefetching.

    A background thread keeps up to ``buffer_size`` items of ``data_iter``
    read ahead. An exception raised by ``data_iter`` is re-raised by every
    later ``next()`` once the buffered items are consumed. :meth:`close`
    stops the background thread; the items already buffered can still be read.

    DEPRECATION WARNING: TensorFlow datasets no longer require manual
    prefetching. Previously this class was used to make data loading using
    TensorFlow datasets more efficient; now ``tf.data`` handles prefetching
    with NumPy iterators correctly. Constructing one warns with a
    ``DeprecationWarning``.

    Example::

        tf_iter = dataset.as_numpy_iterator()  # only loads data while calling next
        tf_iter = PrefetchIterator(tf_iter)  # prefetches data in the background
    """

    def __init__(self, data_iter: Iterable[Any], buffer_size: int = 1) -> None:
        """Construct a PrefetchIterator.

        Args:
            data_iter: the iterator (or iterable) that should be prefetched.
            buffer_size: how many items to prefetch (default: 1).
        """
        warnings.warn(
            "PrefetchIterator is deprecated. Use the standard `tf.data` prefetch method instead",
            DeprecationWarning,
            stacklevel=2,
        )
        if buffer_size < 1:
            raise ValueError(
                "PrefetchIterator needs buffer_size >= 1 to read anything ahead, got"
                f" {buffer_size}."
            )
        self._data_iter = iter(data_iter)
        self.buffer_size = buffer_size
        self._cond = threading.Condition()
        self._buffer: list[Any] = []
        self._active = True
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._prefetch_loop, daemon=True)
        self._thread.start()

    def __iter__(self) -> PrefetchIterator:
        return self

    def __next__(self) -> Any:
        with self._cond:
            self._cond.wait_for(lambda: self._buffer or not self._active)
            if self._buffer:
                item = self._buffer.pop(0)
                self._cond.notify_all()
                return item
            if self._error is not None:
                raise self._error
            raise StopIteration

    def close(self) -> None:
        """Stops prefetching; the items already buffered can still be read."""
        with self._cond:
            self._active = False
            self._cond.notify_all()

    def _has_room(self) -> bool:
        return len(self._buffer) < self.buffer_size or not self._active

    def _prefetch_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(self._has_room)
                if not self._active:
                    return
            try:
                item = next(self._data_iter)
            except StopIteration:
                self.close()
                return
            except Exception as error:  # noqa: BLE001 - re-raised in the consumer's thread
                with self._cond:
                    self._error = error
                self.close()
                return
            with self._cond:
                self._buffer.append(item)
                self._cond.notify_all()
