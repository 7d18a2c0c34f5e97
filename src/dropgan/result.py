"""What every task returns: the images and the metadata that can make them again."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import InputError

__all__ = ["Result"]


@dataclass(frozen=True)
class Result(Sequence[torch.Tensor]):
    """The output of a task: images ``(3, H, W)`` in [0, 1] and their metadata.

    A result is a sequence of its images (``result[0]``, ``len(result)``, ``for y in
    result``). ``metadata`` holds what the run was (task, engine, every resolved parameter,
    seed, inputs' sha256, versions); :meth:`metadata_of` adds what is proper to one image
    (its index and seed), and is what :func:`~dropgan.image.write_image` stores.

    Examples
    --------
    >>> r = Result((torch.zeros(3, 4, 4),), {"task": "generate"}, ({"sample": 0},))
    >>> len(r), r.image.shape, r.metadata_of(0)
    (1, torch.Size([3, 4, 4]), {'task': 'generate', 'sample': 0})
    """

    images: tuple[torch.Tensor, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    per_image: tuple[Mapping[str, Any], ...] = ()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):  # type: ignore[override]
        return self.images[i]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.images)

    @property
    def image(self) -> torch.Tensor:
        """The only image of a one-image result."""
        if len(self.images) != 1:
            raise InputError(
                f"the result has {len(self.images)} images: take result[i] or iterate over it"
            )
        return self.images[0]

    def metadata_of(self, i: int) -> dict[str, Any]:
        """The metadata of image ``i``: the run's, plus that image's own."""
        own = self.per_image[i] if self.per_image else {}
        return {**self.metadata, **own}
