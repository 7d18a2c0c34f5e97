from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dropgan.image import read_image
from dropgan.pyramid import resize

SHARED_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "images"


@pytest.fixture(scope="session")
def shared_images() -> Path:
    if not SHARED_IMAGES.is_dir():
        pytest.skip("../shared/images is not beside the checkout")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def small_photo(shared_images: Path) -> torch.Tensor:
    """A real photograph (SIGD16 #1, a 250x167 landscape) at 96x64: quick to search exactly."""
    return resize(read_image(shared_images / "sigd16" / "1.jpg"), (64, 96)).clamp(0, 1)
