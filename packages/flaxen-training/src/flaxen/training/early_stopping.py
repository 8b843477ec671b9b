"""``flaxen.training.early_stopping``: :class:`EarlyStopping`."""

from ._early_stopping import EarlyStopping as EarlyStopping

__all__ = ["EarlyStopping"]
