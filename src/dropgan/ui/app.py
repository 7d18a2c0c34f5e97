"""The page: one tab per task, a shared result area, and the server that serves it.

Everything a tab does goes through :mod:`.events` (the buttons' functions), which hands
over to :mod:`.tabs` (inputs to a request), :mod:`.runs` (the public API, the output files,
the command line) and :mod:`.jobs` (queue and Stop); this module only lays the page out and
wires Gradio's events.

Offline by design: Gradio's analytics and version check are off, the theme uses the
system's fonts (Gradio's default theme fetches Google Fonts), server-side rendering (a Node
process) is off, and nothing is shared unless asked.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from .._version import __version__
from ..engines import ENGINES
from ..engines.base import engines_for
from ..errors import DropganError
from . import inputs as ui_inputs
from . import runs
from ._gradio import gr
from .events import (
    KEEP_SECONDS,
    TARGETS,
    AppConfig,
    Tab,
    brush_for,
    gallery_check,
    runner,
    upload_check,
    use_as_input,
)
from .fields import ParamField, param_fields
from .tabs import FIXED_DEPTH, TASK_OPTIONS

__all__ = ["AppConfig", "Server", "build", "serve", "theme"]

#: System fonts only: a theme font that is not a system font is a request to Google Fonts.
FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]

TAB_LABELS = {
    "generate": "Generate",
    "retarget": "Retarget",
    "analogy": "Analogy / sketch",
    "inpaint": "Inpaint",
    "collage": "Collage",
    "edit": "Edit",
    "superres": "Super-resolution",
    "denoise": "Denoise",
    "paint2image": "Paint to image",
    "harmonize": "Harmonize",
}
TAB_HELP = {
    "generate": "Random samples with the patches of one image, at any size.",
    "retarget": "Resize to another size or aspect ratio, keeping the elements' size.",
    "analogy": "The look of the source image in the layout of the structure: upload a photo "
    "as the structure, or draw a sketch on the blank canvas.",
    "inpaint": "Paint the hole with the brush (or upload a mask, white = hole); the hole is "
    "filled with the image's own patches, steered by the colour you choose.",
    "collage": "Merge two or more images (heights within a factor 2) into one.",
    "edit": "Paint a rough edit on the image with the brush (or upload an edited copy); the "
    "edit is redrawn with the image's own patches so that it blends in.",
    "superres": "Upscale by a factor with detail from the image's own patches, in steps of "
    "about 1.25, each made consistent with the input (back-projection).",
    "denoise": "Remove noise: every patch is replaced by its nearest patch of the image "
    "downscaled, where the noise is averaged away.",
    "paint2image": "An image with the textures of the source laid out as your painting says: "
    "upload a painting (flat blobs of colour), or paint one on the blank canvas.",
    "harmonize": "An object pasted into a background takes on its look: upload the background, "
    "then the composite, and paint the pasted object on it with the brush (or upload a mask, "
    "white = object).",
}
# --- the page ----------------------------------------------------------------------------------


def _param_input(f: ParamField, engine: str) -> gr.components.Component:
    info = f"{f.help} (default: {f.value if f.value != '' else f.placeholder or 'none'})"
    common = {"label": f.name, "info": info, "elem_id": f"{engine}-{f.name}".replace("_", "-")}
    if f.kind == "int":
        return gr.Number(value=f.default, precision=0, **common)
    if f.kind == "float":
        return gr.Number(value=f.default, **common)
    if f.kind == "bool":
        return gr.Checkbox(value=bool(f.default), **common)
    if f.kind == "choice":
        return gr.Dropdown(choices=list(f.choices), value=f.default, **common)
    return gr.Textbox(value=f.value, placeholder=f.placeholder, **common)


def _devices() -> list[str]:
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _image(label: str, elem_id: str) -> gr.Image:
    return gr.Image(
        type="filepath",
        image_mode=None,  # the file as uploaded: the run reads it, names it and hashes it
        label=label,
        sources=["upload", "clipboard"],
        elem_id=elem_id,
        height=280,
    )


def _editor(label: str, elem_id: str, colours: list[str], canvas=(320, 240)) -> gr.ImageEditor:
    return gr.ImageEditor(
        type="numpy",
        image_mode="RGBA",
        label=label,
        sources=["upload", "clipboard"],
        elem_id=elem_id,
        transforms=(),
        layers=False,
        brush=gr.Brush(colors=colours, default_color=colours[0], color_mode="defaults"),
        canvas_size=canvas,
        height=380,
    )


def _task_inputs(t: Tab) -> None:
    v, task = t.values, t.task
    if task in ("generate", "retarget", "superres", "denoise"):
        v["image"] = _image("noisy image" if task == "denoise" else "image", f"{task}-image")
    elif task == "analogy":
        v["source"] = _image("source (whose look the output has)", "analogy-source")
        v["structure"] = _editor(
            "structure: upload a photo, or draw a sketch on the blank canvas",
            "analogy-structure",
            ["#3a6ea5", "#4c9a2a", "#8b5a2b", "#f2f2f2", "#202020"],
        )
    elif task == "inpaint":
        v["image"] = _editor("image: paint the hole with the brush", "inpaint-image", ["#ff00ff"])
        with gr.Row():
            v["colour"] = gr.ColorPicker(
                "#ff00ff",
                label="steering colour",
                info="the hole is filled with this colour first: blue leans to sky, green to grass",
                elem_id="inpaint-colour",
            )
            v["steer"] = gr.Radio(
                ["painted", "mean"],
                value="painted",
                label="steer",
                info="painted: by the colour; mean: by the colour around the hole",
                elem_id="inpaint-steer",
            )
        v["mask_file"] = _image("or a mask file (white = hole), the image's size", "inpaint-mask")
    elif task == "paint2image":
        v["source"] = _image("source (whose textures the output has)", "paint2image-source")
        v["paint"] = _editor(
            "painting: upload one, or paint flat colours on the blank canvas",
            "paint2image-paint",
            ["#3a6ea5", "#4c9a2a", "#8b5a2b", "#f2f2f2", "#202020"],
        )
    elif task == "harmonize":
        v["background"] = _image("background (without the object)", "harmonize-background")
        v["naive"] = _editor(
            "naive composite: paint the pasted object with the brush",
            "harmonize-naive",
            ["#ff00ff"],
        )
        v["mask_file"] = _image(
            "or a mask file (white = object), the composite's size", "harmonize-mask"
        )
    elif task == "collage":
        v["images"] = gr.Gallery(
            label="images (two or more)",
            type="filepath",
            interactive=True,
            columns=4,
            height=280,
            elem_id="collage-images",
        )
    else:
        v["original"] = _editor(
            "image: paint your edit on it with the brush",
            "edit-original",
            ["#3a6ea5", "#4c9a2a", "#8b5a2b", "#f2f2f2", "#202020"],
        )
        v["edited_file"] = _image("or an edited copy of the image (same size)", "edit-edited")


def _task_options(t: Tab) -> None:
    v, task = t.values, t.task
    names = TASK_OPTIONS[task]
    default = lambda name: runs.api_default(task, name)  # noqa: E731
    with gr.Row():
        v["seed"] = gr.Number(
            default("seed"), precision=0, minimum=0, label="seed", elem_id=f"{task}-seed"
        )
        if "n" in names:
            v["n"] = gr.Number(
                default("n"),
                precision=0,
                minimum=1,
                maximum=64,
                label="samples (n)",
                elem_id=f"{task}-n",
            )
    if "size" in names:
        with gr.Row():
            v["size"] = gr.Textbox(
                "", label="output size WxH", placeholder="the input's", elem_id=f"{task}-size"
            )
            if "scale" in names:
                v["scale"] = gr.Textbox(
                    "1.5x1" if task == "retarget" else "",
                    label="or scale (F or SXxSY)",
                    placeholder="e.g. 1.5x1",
                    elem_id=f"{task}-scale",
                )
    if "factor" in names:
        v["factor"] = gr.Number(
            default("factor"),
            minimum=1,
            label="factor",
            info="upscaling factor, above 1",
            elem_id=f"{task}-factor",
        )
    if "sigma" in names:
        v["sigma"] = gr.Number(
            default("sigma"),
            label="sigma",
            info="noise standard deviation on [0, 1] values, e.g. 0.098 for 25/255 (empty: "
            "estimated from the image)"
            if task == "denoise"
            else "noise at the coarsest level: the diversity of the samples",
            elem_id=f"{task}-sigma",
        )
    if "max_step" in names:
        v["max_step"] = gr.Number(
            default("max_step"),
            label="max step",
            info="largest change of either axis per gradual step",
        )
    if "refine" in names:
        v["refine"] = gr.Checkbox(
            default("refine") is not False,  # paint2image's None: the engine's default
            label="refine (a second pass from the first output)",
            info="engines that learn (SinGAN) inject once and never refine"
            if task == "paint2image"
            else None,
            elem_id=f"{task}-refine",
        )
    if "quantize" in names:
        v["quantize"] = gr.Checkbox(
            default("quantize"),
            label="quantize",
            info="reduce the painting to the source's 5 main colours first",
            elem_id=f"{task}-quantize",
        )
    with gr.Accordion("more options", open=False):
        if "start" in names:
            v["start"] = gr.Number(
                default("start"),
                precision=0,
                minimum=0,
                label="start",
                info="index of the first sample",
            )
        if "back_projection" in names:
            v["back_projection"] = gr.Number(
                default("back_projection"),
                precision=0,
                minimum=0,
                label="back-projection",
                info="iterations after every step (empty: 3, or 0 for engines that learn)",
                elem_id=f"{task}-back-projection",
            )
        if task not in FIXED_DEPTH:
            v["levels"] = gr.Number(
                None,
                precision=0,
                minimum=0,
                label="levels",
                info="pyramid depth (empty: the task's rule)",
            )
        v["device"] = gr.Dropdown(_devices(), value="auto", label="device")


def _engine_inputs(t: Tab) -> None:
    names = engines_for(t.task)
    t.engine = gr.Dropdown(
        names,
        value=names[0],
        label="engine",
        info="; ".join(f"{n}: {ENGINES[n].summary}" for n in names),
        visible=len(names) > 1,
        elem_id=f"{t.task}-engine",
    )
    with gr.Accordion("engine parameters", open=False, elem_id=f"{t.task}-params"):
        for name in names:
            with gr.Column(visible=name == names[0]) as group:
                t.params[name] = {f.name: _param_input(f, name) for f in param_fields(name, t.task)}
            t.groups[name] = group


@dataclass
class Results:
    """The shared result area."""

    status: gr.Markdown
    gallery: gr.Gallery
    files: gr.File
    info: gr.Markdown
    outputs: gr.State
    selected: gr.State
    stop: gr.Button

    def components(self) -> list:
        return [self.gallery, self.files, self.info, self.status, self.outputs, self.selected]


HEADER = """# dropgan
Single-image generation in seconds: random samples, retargeting, analogies and sketches,
inpainting, collages, edits, super-resolution, denoising, paint-to-image and harmonization,
each made from the patches of your own image. Runs on this
machine; nothing leaves it. dropgan {version}."""


def build(config: AppConfig | None = None) -> gr.Blocks:
    """The page, for :func:`serve` (or Gradio's own ``launch``)."""
    config = config or AppConfig()
    tabs: dict[str, Tab] = {}
    with gr.Blocks(
        analytics_enabled=False, title="dropgan", delete_cache=(3600, KEEP_SECONDS)
    ) as demo:
        gr.Markdown(HEADER.format(version=__version__))
        with gr.Tabs(elem_id="tasks") as task_tabs:
            for task in runs.TASKS:
                with gr.Tab(TAB_LABELS[task], id=task, elem_id=f"tab-{task}"):
                    t = tabs[task] = Tab(task)
                    gr.Markdown(TAB_HELP[task])
                    with gr.Row():
                        with gr.Column(scale=3):
                            _task_inputs(t)
                        with gr.Column(scale=2):
                            _task_options(t)
                            _engine_inputs(t)
                            t.run = gr.Button("Run", variant="primary", elem_id=f"{task}-run")
        with gr.Row():
            status = gr.Markdown("", elem_id="status")
            stop = gr.Button("Stop", variant="stop", elem_id="stop", scale=0, min_width=120)
        gallery = gr.Gallery(
            label="results (select one to use it as an input)",
            columns=4,
            height=360,
            elem_id="results",
            interactive=False,
            preview=False,
            object_fit="contain",
            format="png",
        )
        with gr.Row():
            target = gr.Dropdown(
                list(TARGETS), value="Generate", label="use the selected result as", scale=2
            )
            use = gr.Button("Use as input", elem_id="use-as-input", scale=1)
        files = gr.File(
            label="downloads: PNG with the run's metadata",
            file_count="multiple",
            elem_id="downloads",
            interactive=False,
        )
        info = gr.Markdown("", elem_id="info")
        res = Results(status, gallery, files, info, gr.State([]), gr.State(0), stop)

        for t in tabs.values():
            inputs = {
                *t.values.values(),
                t.engine,
                *[c for d in t.params.values() for c in d.values()],
            }
            t.run.click(
                runner(config, t),
                inputs=inputs,
                outputs=res.components(),
                api_name=t.task,
                concurrency_limit=None,  # the app's own queue (jobs.JobQueue) takes turns
                show_progress_on=[gallery],
            )
            names = list(t.groups)
            if len(names) > 1:
                t.engine.change(
                    lambda e, names=names: [gr.Column(visible=n == e) for n in names],
                    inputs=t.engine,
                    outputs=[t.groups[n] for n in names],
                    api_visibility="private",
                )
            if "colour" in t.values:  # paint with the steering colour, to see the fill
                t.values["colour"].change(
                    brush_for, t.values["colour"], t.values["image"], api_visibility="private"
                )
            for comp in t.values.values():
                if isinstance(comp, gr.Image):
                    comp.upload(
                        upload_check(config),
                        comp,
                        [comp, status],
                        preprocess=False,
                        api_visibility="private",
                    )
                elif isinstance(comp, gr.Gallery):
                    comp.upload(
                        gallery_check(config), comp, [comp, status], api_visibility="private"
                    )

        async def stop_jobs(request: gr.Request):
            n = config.jobs.stop(getattr(request, "session_hash", None) or "local")
            return "Stopping…" if n else gr.skip()

        stop.click(stop_jobs, None, status, api_name="stop", concurrency_limit=None)

        def select(evt: gr.SelectData):
            return evt.index

        gallery.select(select, None, res.selected, api_visibility="private")
        order = [(task, key) for task, t in tabs.items() for key in t.values if _target(task, key)]
        comps = [tabs[task].values[key] for task, key in order]
        use.click(
            use_as_input(order),
            inputs=[res.outputs, res.selected, target, tabs["collage"].values["images"]],
            outputs=[*comps, task_tabs, status],
            api_visibility="private",
        )
    demo.dropgan_config = config  # type: ignore[attr-defined]
    return demo


def _target(task: str, key: str) -> bool:
    return (task, key) in set(TARGETS.values())


def theme() -> gr.themes.Base:
    """Gradio's default look with the system's fonts (no Google Fonts request)."""
    return gr.themes.Default(font=FONTS, font_mono=MONO)


@dataclass
class Server:
    """A running app: its address, and :meth:`close`."""

    url: str
    demo: gr.Blocks
    config: AppConfig

    def close(self) -> None:
        self.demo.close()
        self.config.cleanup()


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_pixels: int = ui_inputs.DEFAULT_MAX_PIXELS,
    concurrency: int = 1,
    *,
    block: bool = True,
    quiet: bool = False,
) -> Server:
    """Start the app on ``host:port``; with ``block``, serve until interrupted."""
    config = AppConfig(max_pixels=max_pixels, concurrency=concurrency)
    demo = build(config)
    demo.queue(default_concurrency_limit=None)
    try:
        _, url, share_url = demo.launch(
            server_name=host,
            server_port=port,
            share=share,
            prevent_thread_lock=True,
            quiet=True,  # Gradio's own lines name its Python API, not this command
            show_error=False,
            theme=theme(),
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            enable_monitoring=False,
            # a 16-bit RGBA file of the largest size allowed, with room for its headers
            max_file_size=8 * max_pixels + 1_000_000,
            footer_links=[],
        )
    except OSError as e:
        config.cleanup()
        raise DropganError(f"cannot serve on {host}:{port}: {e}") from None
    server = Server(url, demo, config)
    if not quiet:
        print(f"dropgan: the web app is at {url} (Ctrl-C stops it)", file=sys.stderr)
        if share:
            print(
                f"dropgan: public link: {share_url or 'none (Gradio could not make one)'}",
                file=sys.stderr,
            )
    if block:
        try:
            demo.block_thread()
        finally:
            server.close()
    return server
