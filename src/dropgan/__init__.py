"""dropgan: single-image generative modelling by patch nearest neighbours (GPNN) and friends.

>>> import dropgan
>>> image = dropgan.read_image(dropgan.example("balloons"))
>>> tuple(image.shape)
(3, 186, 248)
>>> samples = dropgan.generate(image[:, ::4, ::4], n=2, seed=0, iters=2)
>>> [tuple(s.shape) for s in samples]
[(3, 47, 62), (3, 47, 62)]
"""

import os as _os

# OpenMP threads that spin while waiting for work made a small run 13x slower on a busy
# machine (59 s against 4.6 s; PatchMatch is many small tensor operations); waiting
# passively costs 0.9 s of 3.1 s on an idle one (benchmarks/bench_threads.py, 2 cores).
# OpenMP reads this when torch loads, so it is set first.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._version import __version__  # noqa: E402
from .engines.gpnn import GPNNParams
from .errors import DropganError, InputError, OutputError
from .examples import example
from .image import read_image, write_image
from .result import Result
from .tasks.analogy import analogy
from .tasks.animate import animate
from .tasks.collage import collage
from .tasks.denoise import denoise
from .tasks.edit import edit
from .tasks.generation import generate
from .tasks.harmonize import harmonize
from .tasks.inpaint import inpaint
from .tasks.paint import paint2image
from .tasks.replay import regenerate
from .tasks.retarget import retarget
from .tasks.superres import superres
from .tasks.train import train

__all__ = [
    "DropganError",
    "GPNNParams",
    "Result",
    "__version__",
    "InputError",
    "OutputError",
    "analogy",
    "animate",
    "collage",
    "edit",
    "example",
    "generate",
    "inpaint",
    "read_image",
    "regenerate",
    "retarget",
    "superres",
    "denoise",
    "harmonize",
    "paint2image",
    "train",
    "write_image",
]
