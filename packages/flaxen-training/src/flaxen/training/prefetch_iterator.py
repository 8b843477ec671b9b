"""``flaxen.training.prefetch_iterator``: :class:`PrefetchIterator` (deprecated)."""

from ._prefetch_iterator import PrefetchIterator as PrefetchIterator

__all__ = ["PrefetchIterator"]
