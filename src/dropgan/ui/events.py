"""What the page's buttons do: a run (request, queue, progress, Stop, result area), "use
as input", and the checks of an upload; and the app's settings (:class:`AppConfig`).

Each handler is a thin layer: :mod:`.tabs` reads a tab's values into a request, :mod:`.runs`
calls the public API and writes the files, :mod:`.jobs` takes turns and stops runs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..engines.base import engines_for
from ..errors import DropganError
from ..progress import ProgressEvent
from . import inputs as ui_inputs
from . import runs
from ._gradio import gr
from .jobs import Cancelled, JobQueue, progress_callback
from .tabs import prepare

__all__ = [
    "EDITORS",
    "KEEP_SECONDS",
    "TARGETS",
    "AppConfig",
    "Tab",
    "brush_for",
    "gallery_check",
    "runner",
    "upload_check",
    "use_as_input",
]

#: Where "use as input" can send an output: label -> (tab, input name).
TARGETS = {
    "Generate": ("generate", "image"),
    "Retarget": ("retarget", "image"),
    "Analogy: source": ("analogy", "source"),
    "Analogy: structure": ("analogy", "structure"),
    "Inpaint": ("inpaint", "image"),
    "Collage (add)": ("collage", "images"),
    "Edit": ("edit", "original"),
    "Super-resolution": ("superres", "image"),
    "Denoise": ("denoise", "image"),
    "Paint to image: source": ("paint2image", "source"),
    "Paint to image: painting": ("paint2image", "paint"),
    "Harmonize: background": ("harmonize", "background"),
    "Harmonize: composite": ("harmonize", "naive"),
}
#: How long a run's files stay on the server (Gradio's cache of them too).
KEEP_SECONDS = 24 * 3600
#: Inputs that are image editors (brush painting) rather than plain uploads.
EDITORS = {
    ("analogy", "structure"),
    ("inpaint", "image"),
    ("edit", "original"),
    ("paint2image", "paint"),
    ("harmonize", "naive"),
}


@dataclass
class AppConfig:
    """What the page is allowed: the largest upload in pixels, the number of runs at once,
    and the folder for output files (a fresh temporary one by default)."""

    max_pixels: int = ui_inputs.DEFAULT_MAX_PIXELS
    concurrency: int = 1
    workdir: Path | None = None
    jobs: JobQueue = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise DropganError(
                f"the pixel limit must be a whole number >= 1, got {self.max_pixels!r}"
            )
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise DropganError(f"concurrency must be a whole number >= 1, got {self.concurrency!r}")
        self.jobs = JobQueue(self.concurrency)
        self._own = self.workdir is None
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="dropgan-ui-"))
        self._count = 0
        self._lock = threading.Lock()

    def new_folder(self) -> Path:
        """A fresh folder for one run's files; those of runs older than :data:`KEEP_SECONDS`
        are removed (Gradio serves its own copies, and cleans them as old)."""
        with self._lock:
            self._count += 1
            n = self._count
        old = time.time() - KEEP_SECONDS
        for d in self.workdir.glob("run*"):
            if d.is_dir() and d.stat().st_mtime < old:
                shutil.rmtree(d, ignore_errors=True)
        folder = self.workdir / f"run{n:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cleanup(self) -> None:
        """Remove the output folder if the app made it."""
        if self._own:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Tab:
    """The components of one tab, by input name, and its engine parameter inputs."""

    task: str
    values: dict[str, gr.components.Component] = field(default_factory=dict)
    engine: gr.components.Component | None = None
    params: dict[str, dict[str, gr.components.Component]] = field(default_factory=dict)
    groups: dict[str, gr.components.Component] = field(default_factory=dict)
    run: gr.components.Component | None = None


def event_text(event: ProgressEvent) -> str:
    eta = "" if event.eta is None else f" · about {event.eta:.0f} s left"
    return f"{event.stage or 'running'}{eta}"


def runner(config: AppConfig, t: Tab) -> Callable:
    """The Run button's function: the tab's values in, the result area out."""

    def run(data: dict, progress=gr.Progress(), request: gr.Request = None):  # noqa: B008
        # ``data``: every input component of the tab (Gradio's set-of-inputs form, which
        # also lets Gradio hand over ``progress`` and ``request``) -> its value
        start = time.perf_counter()
        given = {name: data[c] for name, c in t.values.items()}
        engine = data[t.engine] or engines_for(t.task)[0]
        chosen = {n: data[c] for n, c in t.params[engine].items()}
        session = getattr(request, "session_hash", None) or "local"

        def failed(message: str, mark: str = "⚠️"):
            return [gr.skip(), gr.skip(), gr.skip(), f"{mark} {message}", gr.skip(), gr.skip()]

        try:
            folder = config.new_folder()
            prepared = prepare(t.task, given, chosen, engine, folder, config.max_pixels)

            def on_wait(position: int) -> None:
                ahead = "1 job" if position == 1 else f"{position} jobs"
                progress(0.0, desc=f"waiting in the queue: {ahead} ahead of yours")

            with config.jobs.slot(session, on_wait) as job:
                progress(0.0, desc="starting")
                report = lambda e: progress(e.fraction, desc=event_text(e))  # noqa: E731
                result = runs.call(prepared.request, progress_callback(job, report))
            paths = runs.write_outputs(prepared.request, result, folder)
        except Cancelled:
            return failed(f"Stopped after {time.perf_counter() - start:.1f} s.", "⏹")
        except DropganError as e:
            return failed(str(e))
        except Exception as e:  # a bug or a resource failure: one line in the page, the
            traceback.print_exc(file=sys.stderr)  # traceback for the server's log only
            return failed(f"the run failed: {type(e).__name__}: {e}")
        command = runs.command_line(prepared.request, prepared.names)
        note = (
            " (in a folder with the input files; the painted ones are among the downloads)"
            if prepared.written
            else " (in a folder with the input files)"
        )
        info = (
            f"{runs.summary(result)}\n\nThe same images in a terminal{note}:\n\n```\n{command}\n```"
        )
        gallery = [(str(p), p.name) for p in paths]
        status = f"Done: {len(paths)} image(s) in {time.perf_counter() - start:.1f} s."
        files = [str(p) for p in paths] + [str(p) for p in prepared.written]
        return [gallery, files, info, status, [str(p) for p in paths], 0]

    return run


def use_as_input(order: list[tuple[str, str]]) -> Callable:
    """The "use as input" button's function: the selected output into the chosen input."""

    def use(outputs: list[str] | None, selected: int | None, target: str, collage):
        if not outputs:
            return [gr.skip()] * len(order) + [gr.skip(), "⚠️ make an image first"]
        path = outputs[selected or 0] if (selected or 0) < len(outputs) else outputs[0]
        task, name = TARGETS[target]
        updates = []
        for tab, key in order:
            if (tab, key) != (task, name):
                updates.append(gr.skip())
            elif (tab, key) in EDITORS:
                updates.append({"background": path, "layers": [], "composite": path})
            elif key == "images":
                updates.append([*[(p, None) for p in gallery_paths(collage)], (path, None)])
            else:
                updates.append(path)
        return [
            *updates,
            gr.Tabs(selected=task),
            f"{Path(path).name} is now the input of {target}.",
        ]

    return use


def gallery_paths(value) -> list[str]:
    out = []
    for item in value or []:
        p = item[0] if isinstance(item, (tuple, list)) else item
        out.append(p.get("path") if isinstance(p, Mapping) else p)
    return [p for p in out if p]


def upload_check(config: AppConfig) -> Callable:
    """Check a file as soon as it is uploaded: an unusable one is removed, with the reason."""

    def check(payload):
        if not payload:
            return gr.skip(), gr.skip()
        path = payload.get("path") if isinstance(payload, Mapping) else payload
        name = (payload.get("orig_name") if isinstance(payload, Mapping) else None) or None
        problem = ui_inputs.check_upload(str(path), config.max_pixels, name)
        if problem:
            return None, f"⚠️ {problem}"
        return gr.skip(), ""

    return check


def gallery_check(config: AppConfig) -> Callable:
    def check(value):
        kept, problems = [], []
        for p in gallery_paths(value):
            problem = ui_inputs.check_upload(str(p), config.max_pixels)
            (problems.append(problem) if problem else kept.append((p, None)))
        if problems:
            return kept, "⚠️ " + "; ".join(problems)
        return gr.skip(), ""

    return check


def brush_for(colour: str):
    try:
        rgb = ui_inputs.parse_colour(colour)
    except DropganError:
        return gr.skip()
    c = "#" + "".join(f"{v:02x}" for v in rgb)
    return gr.ImageEditor(brush=gr.Brush(colors=[c], default_color=c, color_mode="defaults"))
