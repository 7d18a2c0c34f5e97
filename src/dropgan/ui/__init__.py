"""The web app: every task in a browser page (``dropgan ui``), a thin layer over the API.

Gradio is an optional dependency (``pip install 'dropgan[ui]'``): it is imported only when
the app starts, so ``import dropgan`` and every other command work without it.

Examples
--------
>>> import argparse
>>> sub = argparse.ArgumentParser().add_subparsers()
>>> p = add_ui_command(sub)
>>> args = p.parse_args([])
>>> args.host, args.port, args.share, args.max_pixels, args.concurrency
('127.0.0.1', 7860, False, 4000000, 1)
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import sys

from ..errors import DropganError
from .inputs import DEFAULT_MAX_PIXELS

__all__ = ["MISSING", "add_ui_command", "launch"]

#: The one line a user without the extra sees.
MISSING = "the web app needs the ui extra: pip install 'dropgan[ui]'"


def _require_gradio() -> None:
    if importlib.util.find_spec("gradio") is None:
        raise DropganError(MISSING)


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    concurrency: int = 1,
    *,
    block: bool = True,
    quiet: bool = False,
):
    """Serve the web app at ``http://host:port`` until interrupted (``block=False``: start it
    and return the running :class:`~dropgan.ui.app.Server`, with ``url`` and ``close()``).

    Parameters
    ----------
    host : str
        Address to bind; the default, 127.0.0.1, is reachable from this machine only.
    port : int
        TCP port.
    share : bool
        Also publish the page through a public Gradio link (off unless asked: it relays
        the page through Gradio's servers).
    max_pixels : int
        Largest upload, in pixels (height times width); default 4 Mpx.
    concurrency : int
        Runs at the same time; the others wait in a queue that shows their position.

    Raises
    ------
    DropganError
        When Gradio is not installed, or the port cannot be bound.
    """
    _require_gradio()
    from .app import serve

    return serve(host, port, share, max_pixels, concurrency, block=block, quiet=quiet)


def _positive(text: str) -> int:
    try:
        value = int(float(text)) if float(text).is_integer() else None
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cmd_ui(args: argparse.Namespace) -> int:
    if not _loopback(args.host):
        print(
            f"dropgan: note: serving on {args.host}: the page has no login, anyone who can "
            "reach this address can use it",
            file=sys.stderr,
        )
    launch(args.host, args.port, args.share, args.max_pixels, args.concurrency)
    return 0


def add_ui_command(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``dropgan ui`` to the command line's subcommands; returns its parser."""
    p = sub.add_parser(
        "ui",
        help="the web app: every task in a browser page",
        description="Serve the web app: one tab per task, mask painting, live progress and "
        "Stop, results downloadable with their metadata. Needs the ui extra "
        "(pip install 'dropgan[ui]').",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only; 0.0.0.0 for all)",
    )
    p.add_argument("--port", type=_port, default=7860, help="TCP port (default: 7860)")
    p.add_argument(
        "--share",
        action="store_true",
        help="also make a public gradio.live link (off by default: it relays the page "
        "through Gradio's servers)",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest upload in pixels (default: {DEFAULT_MAX_PIXELS})",
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        help="runs at the same time; others wait in a queue (default: 1)",
    )
    p.set_defaults(run=_cmd_ui)
    return p
