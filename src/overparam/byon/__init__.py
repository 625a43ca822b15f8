"""Bring your own network: the proof probes, the empirical NTK and the linearization for any
``torch.nn.Module`` (:func:`measure`, :func:`track`, :func:`width_sweep`)."""

from overparam.byon.measure import measure as measure
from overparam.byon.track import Tracker as Tracker
from overparam.byon.track import track as track
from overparam.byon.width_sweep import WidthSweep as WidthSweep
from overparam.byon.width_sweep import width_sweep as width_sweep

__all__ = ["Tracker", "WidthSweep", "measure", "track", "width_sweep"]
