"""``flaxen.training.dynamic_scale``: dynamic loss scaling for mixed precision."""

from ._dynamic_scale import DynamicScale as DynamicScale
from ._dynamic_scale import DynamicScaleResult as DynamicScaleResult

__all__ = ["DynamicScale", "DynamicScaleResult"]
