"""Data under the seed papers' assumptions: unit-norm, mu-slice, phi-separated inputs."""

from overparam.data.dataset import Dataset as Dataset
from overparam.data.dataset import min_separation as min_separation
from overparam.data.digits import DigitsTask as DigitsTask
from overparam.data.digits import digits as digits
from overparam.data.labels import Labels as Labels
from overparam.data.sphere import close_pair as close_pair
from overparam.data.sphere import sphere as sphere

__all__ = ["Dataset", "DigitsTask", "Labels", "close_pair", "digits", "min_separation", "sphere"]
