"""dropgan: single-image generative modelling by patch nearest neighbours (GPNN) and friends.

>>> import dropgan
>>> image = dropgan.read_image(dropgan.example("balloons"))
>>> tuple(image.shape)
(3, 186, 248)
>>> samples = dropgan.generate(image[:, ::4, ::4], n=2, seed=0, iters=2)
>>> [tuple(s.shape) for s in samples]
[(3, 47, 62), (3, 47, 62)]
"""

from ._version import __version__
from .engines.gpnn import GPNNParams
from .errors import DropganError, InputError, OutputError
from .examples import example
from .image import read_image, write_image
from .result import Result
from .tasks.analogy import analogy
from .tasks.collage import collage
from .tasks.edit import edit
from .tasks.generation import generate
from .tasks.inpaint import inpaint
from .tasks.replay import regenerate
from .tasks.retarget import retarget

__all__ = [
    "DropganError",
    "GPNNParams",
    "Result",
    "__version__",
    "InputError",
    "OutputError",
    "analogy",
    "collage",
    "edit",
    "example",
    "generate",
    "inpaint",
    "read_image",
    "regenerate",
    "retarget",
    "write_image",
]
