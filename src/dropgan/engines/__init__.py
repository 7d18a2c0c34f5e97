"""Engines: how an image is synthesised, behind one interface (:mod:`.base`) and a registry.

Importing this package registers the built-in engines; the first one registered, GPNN, is
the default of every task.
"""

from .base import ENGINES, Engine, Problem, Run, Source, TrainableEngine, get_engine, register
from .gpdm import GPDM, GPDMParams
from .gpnn import GPNN, GPNNParams

register(GPNN())
register(GPDM())

__all__ = [
    "ENGINES",
    "GPDM",
    "GPDMParams",
    "GPNN",
    "GPNNParams",
    "Engine",
    "Problem",
    "Run",
    "Source",
    "TrainableEngine",
    "get_engine",
    "register",
]
