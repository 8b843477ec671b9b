"""Training utilities: TrainState, learning-rate schedules, early stopping."""

from importlib.metadata import version as _version

__version__ = _version("flaxen-training")
