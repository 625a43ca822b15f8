"""Data under the seed papers' assumptions: unit-norm, mu-slice, phi-separated inputs."""

from overparam.data.dataset import Dataset as Dataset
from overparam.data.dataset import min_separation as min_separation
from overparam.data.digits import DigitsTask as DigitsTask
from overparam.data.digits import digits as digits
from overparam.data.graphs import Graph as Graph
from overparam.data.graphs import karate as karate
from overparam.data.graphs import node_datasets as node_datasets
from overparam.data.graphs import sbm as sbm
from overparam.data.labels import Labels as Labels
from overparam.data.sphere import close_pair as close_pair
from overparam.data.sphere import sphere as sphere

__all__ = [
    "Dataset",
    "DigitsTask",
    "Graph",
    "Labels",
    "close_pair",
    "digits",
    "karate",
    "min_separation",
    "node_datasets",
    "sbm",
    "sphere",
]
