"""Gradio, imported once for the app's modules, with its telemetry off.

``GRADIO_ANALYTICS_ENABLED`` is set before the import: Gradio reads it for its version check
and usage reports, both requests to api.gradio.app that an offline page must not make.
Without the ui extra, ``gr`` is None and the modules stay importable (for doctest
collection, for instance); :func:`dropgan.ui.launch` says what to install in one line.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

try:
    import gradio as gr
except ModuleNotFoundError:
    gr = None

__all__ = ["gr"]
