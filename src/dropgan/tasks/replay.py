"""Make an output again from its metadata alone (and its input files)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import InputError
from ..image import ImageLike, read_image, read_metadata
from .analogy import analogy
from .collage import collage
from .common import input_record
from .denoise import denoise
from .edit import edit
from .generation import generate
from .harmonize import harmonize
from .inpaint import inpaint
from .paint import paint2image
from .retarget import retarget
from .superres import superres

__all__ = ["TASKS", "regenerate"]

#: The tasks by the name their metadata records.
TASKS: dict[str, Callable[..., Any]] = {
    "generate": generate,
    "retarget": retarget,
    "analogy": analogy,
    "inpaint": inpaint,
    "collage": collage,
    "edit": edit,
    "superres": superres,
    "denoise": denoise,
    "harmonize": harmonize,
    "paint2image": paint2image,
}

#: Tasks that make several samples: their metadata's sample index is passed as ``start``.
_SAMPLED = {"generate", "edit"}


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.split("x"))
    return h, w


def regenerate(
    metadata: Mapping[str, Any] | str | os.PathLike,
    *inputs: ImageLike,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """The image that ``metadata`` (a mapping, or an output file holding it) describes, made
    again from ``inputs``, given in the order the metadata lists them (``metadata["inputs"]``;
    their sha256 must match).

    Examples
    --------
    >>> import dropgan
    >>> x = torch.rand(3, 24, 32)
    >>> out = dropgan.generate(x, n=2, seed=4, iters=1, nn="exact")
    >>> torch.equal(regenerate(out.metadata_of(1), x), out[1])
    True
    """
    if not isinstance(metadata, Mapping):
        metadata = read_metadata(metadata)
    try:
        task = TASKS[metadata["task"]]
        wanted = list(metadata["inputs"])
        options = dict(metadata["options"])
        params = dict(metadata["params"])
        run = {
            "engine": metadata["engine"],
            "seed": metadata["seed"],
            "levels": metadata["levels"],
        }
        sample = metadata.get("sample", 0)
    except (KeyError, TypeError):
        raise InputError("the metadata is not a dropgan output's (a key is missing)") from None
    if len(inputs) != len(wanted):
        roles = ", ".join(i["role"] for i in wanted)
        raise InputError(f"this output was made from {len(wanted)} input(s) ({roles})")
    named = set(inspect.signature(task).parameters) - {"images"}
    args, by_role = [], {}
    for given, record in zip(inputs, wanted, strict=True):
        if "sha256" in record:  # a trained model is recorded by its folder's name only
            # a file is recorded by its bytes, an array by its values: compare like with like
            as_given = given if "file" in record else read_image(given, record["role"])
            found = input_record(as_given, read_image(given, record["role"]), record["role"])
            if found["sha256"] != record["sha256"]:
                raise InputError(f"the {record['role']} is not the one this output was made from")
        # inputs that are keyword-only (an edit's mask, a model) go by their role's name
        if record["role"] in named:
            by_role[record["role"]] = given
        else:
            args.append(given)
    if "size" in options:
        options["size"] = _size(options["size"])
    if metadata["task"] in _SAMPLED:
        options.update(n=1, start=sample)
    if metadata["task"] == "collage":
        args = [args]
    return task(*args, **by_role, **options, **params, **run, device=device)[0]
