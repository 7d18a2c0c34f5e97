"""Shared fixtures: the images shipped in ``tests/fixtures``,
the metric weights, and the skip of ``network``-marked tests when the package index is down."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from dropgan.image import read_image
from dropgan.pyramid import resize

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PYPI = "https://pypi.org/simple"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The small images shipped with the tests (see ``tests/fixtures/SOURCES.md``)."""
    return FIXTURES


@pytest.fixture(scope="session")
def photo_path(fixtures_dir: Path) -> Path:
    """A real photograph file: SIGD16 #1, a 250x167 JPEG landscape."""
    return fixtures_dir / "sigd16" / "1.jpg"


@pytest.fixture(scope="session")
def small_photo(photo_path: Path) -> torch.Tensor:
    """A real photograph (SIGD16 #1, a 250x167 landscape) at 96x64: quick to search exactly."""
    return resize(read_image(photo_path), (64, 96)).clamp(0, 1)


# --- network ----------------------------------------------------------------------------------


def _index_url() -> str:
    """The index ``pip download`` reads: ``$PIP_INDEX_URL``, else pip's configuration (its
    ``download`` section before ``global``), else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return PYPI
    found = {}
    for line in listing.splitlines():  # e.g. global.index-url='https://...'
        key, _, value = line.partition("=")
        section, _, option = key.rpartition(".")
        if option == "index-url":
            found[section] = value.strip().strip("'\"")
    return found.get("download") or found.get("global") or PYPI


@functools.cache
def network_unavailable() -> str | None:
    """Why the package index cannot be reached, or None when it can (checked once a session).

    A 3-second TCP connection to the index's host (or to the proxy pip would use) stands for
    the download: quick, and it fails fast offline where pip would wait for minutes.
    """
    url = urlsplit(_index_url())
    if url.scheme == "file":
        return None if Path(url.path).is_dir() else f"the package index {url.path} is missing"
    host = url.hostname or "pypi.org"
    port = url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = p.hostname or host, p.port or 80
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as e:
        return f"the package index is unreachable ({host}:{port}: {e.strerror or e})"
    return None


def _metric_weights_cached() -> bool:
    from dropgan.metrics.assets import ASSETS, resolve_cache_dir

    folder = resolve_cache_dir()
    return all(a.path(folder).is_file() for a in ASSETS.values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a test that sets up the metric weights downloads them only when they are not cached yet:
    # then, and only then, it needs the network like any `network`-marked test
    users = [item for item in items if "metrics_cache" in getattr(item, "fixturenames", ())]
    if users and not _metric_weights_cached():
        for item in users:
            item.add_marker(pytest.mark.network)


@pytest.hookimpl(tryfirst=True)  # before fixtures are set up: they may be the downloads
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("network") is not None:
        reason = network_unavailable()
        if reason is not None:
            pytest.skip(f"needs the network to download with pip: {reason}")


@pytest.fixture(scope="session")
def metrics_cache() -> Path:
    """The user's metric weights (``$DROPGAN_CACHE`` or ``~/.cache/dropgan``), downloaded once
    (about 145 MB) when missing; tests using it are network-marked exactly then."""
    from dropgan.metrics import setup_metrics

    return setup_metrics(quiet=True)


@pytest.fixture
def wired():
    """The ``dropgan`` command's entry point, for tests that run a command in process."""
    from dropgan.cli import main

    return main
