"""Engines: how an image is synthesised, behind one interface (:mod:`.base`) and a registry.

Importing this package registers the built-in engines; the first one registered, GPNN, is
the default of every task.
"""

from .base import ENGINES, Engine, Problem, Run, Source, TrainableEngine, get_engine, register
from .gpdm import GPDM, GPDMParams
from .gpnn import GPNN, GPNNParams
from .singan import SinGAN, SinGANParams

register(GPNN())
register(GPDM())
register(SinGAN())

__all__ = [
    "ENGINES",
    "GPDM",
    "GPDMParams",
    "GPNN",
    "GPNNParams",
    "SinGAN",
    "SinGANParams",
    "Engine",
    "Problem",
    "Run",
    "Source",
    "TrainableEngine",
    "get_engine",
    "register",
]
