"""dropgan: single-image generative modelling by patch nearest neighbours (GPNN) and friends.

>>> import dropgan
>>> samples = dropgan.generate(dropgan.example("balloons"), n=1, iters=1, levels=2, nn="exact")
>>> tuple(samples[0].shape)
(3, 186, 248)
"""

from .engines.gpnn import GPNNParams
from .errors import DropganError, InputError, OutputError
from .examples import example
from .image import read_image, write_image
from .tasks.generation import generate

__version__ = "0.1.0"

__all__ = [
    "DropganError",
    "GPNNParams",
    "InputError",
    "OutputError",
    "example",
    "generate",
    "read_image",
    "write_image",
]
