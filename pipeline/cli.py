"""The ``stylize`` command line: parses options and hands them to the job modules."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress

from pipeline.adaptation import default_steps
from pipeline.calibration import calibration_size_for
from pipeline.device import pick_device
from pipeline.jobs.folder import JobError
from pipeline.gatys import INITS, OPTIMIZERS, GatysOptions, GatysStylizer
from pipeline.models.decoder import shipped_weights_path
from pipeline.report import EXIT_NOTHING, EXIT_USAGE, FAILED, ItemResult, Summary, make_progress, print_summary
from pipeline.stylizer import (StyleError, StyleOptions, Stylizer, auto_batch_size, load_style_images,
                               style_size_for)

METHODS = ("adain", "gatys", "adain+gatys")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Batch neural style transfer for image folders and videos.")
err = Console(stderr=True, soft_wrap=True)  # an error line stays one line, however long

# Options shared by every stylizing command.
Styles = Annotated[list[Path], typer.Option("--style", "-s", help="Style image; repeat to interpolate styles.")]
StyleWeights = Annotated[Optional[str], typer.Option(help="Comma-separated weights, one per --style.")]
Alpha = Annotated[float, typer.Option(min=0.0, max=1.0, help="Style strength: 0 = content, 1 = full style.")]
PreserveColor = Annotated[str, typer.Option(help="none, coral (recolour the style) or luminance.")]
Size = Annotated[int, typer.Option(min=0, help="Long side of the work resolution (0 = source size).")]
KeepSize = Annotated[bool, typer.Option(help="Write outputs at the source resolution.")]
StyleSize = Annotated[Optional[int], typer.Option(min=0, help="Long side the style image is resized to, never enlarged (default: the work size, 512 with --size 0; 0 = as is).")]
BatchSize = Annotated[int, typer.Option(min=0, help="Images or frames per batch (0 = auto: 1 on the CPU, as many as fit on CUDA).")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Precision = Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16.")]
DecoderPath = Annotated[Optional[Path], typer.Option("--decoder", help="Decoder weights (.safetensors or the reference decoder.pth).")]
VggPath = Annotated[Optional[Path], typer.Option("--vgg", help="Reference vgg_normalised.pth instead of the built-in VGG-19.")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
Method = Annotated[str, typer.Option(help="adain (feed-forward), gatys (optimisation) or adain+gatys (AdaIN refined).")]
Iterations = Annotated[int, typer.Option(min=1, help="Gatys iterations per image or keyframe.")]
Optimizer = Annotated[str, typer.Option(help="Gatys optimizer: lbfgs or adam.")]
ContentWeight = Annotated[float, typer.Option(help="Gatys content weight (relu4_2).")]
StyleWeight = Annotated[float, typer.Option(help="Gatys style weight (Gram matrices relu1_1..relu5_1).")]
TvWeight = Annotated[float, typer.Option(help="Gatys total-variation weight.")]
Init = Annotated[str, typer.Option(help="Gatys start: content, noise or adain.")]
Scales = Annotated[int, typer.Option(min=1, help="Gatys coarse-to-fine levels.")]
Debug = Annotated[bool, typer.Option(help="Show tracebacks.")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the networks (falls back to eager).")]
Engine = Annotated[str, typer.Option(help="local, or ray (a local Ray instance, or a cluster with --ray-address).")]
RayAddress = Annotated[Optional[str], typer.Option(help="Ray cluster to join: 'auto' or host:port (default: start one here).")]
Workers = Annotated[int, typer.Option(min=1, help="Ray workers (actors), one model copy each.")]
Tile = Annotated[int, typer.Option(min=0, help="Stylize frames larger than this in overlapping tiles (0 = only when out of memory).")]
Calibrate = Annotated[bool, typer.Option(help="Correct the style's statistics for the decoder's miss, once per run (about 4 s on a 2-core CPU at 512 px).")]
Adapt = Annotated[Optional[int], typer.Option(min=0, help="Steps fine-tuning the decoder to the style on three bundled photos before the run, cached per style (closer to the style; about 9 s a step on a 2-core CPU at 512 px). Default: 30 on CUDA, 0 on the CPU.")]
Feedback = Annotated[int, typer.Option(min=0, help="Passes that correct each image's own statistics (each one more encode and decode: slower, closer to the style; 1 is enough: a second pass measured no closer; for images and --temporal off).")]


def _style_options(style: list[Path], style_weights: str | None, alpha: float, preserve_color: str,
                   style_size: int | None, device: str, precision: str, decoder: Path | None,
                   vgg: Path | None, tile: int, compile_nets: bool, calibrate: bool, size: int,
                   feedback: int, adapt: int | None) -> StyleOptions:
    try:
        weights = [float(w) for w in style_weights.split(",")] if style_weights else None
    except ValueError:
        raise StyleError(f"--style-weights {style_weights!r}: expected comma-separated numbers") from None
    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise StyleError(f"--precision {precision!r}: expected auto, fp32, fp16 or bf16")
    style_size = style_size_for(size) if style_size is None else style_size
    adapt = default_steps(pick_device(device)) if adapt is None else adapt
    return StyleOptions(style, weights, alpha, preserve_color, style_size, device, precision, decoder, vgg, tile,
                        compile_nets, calibrate, calibration_size_for(size), feedback, adapt)


def _build_stylizer(opts: StyleOptions) -> Stylizer:
    """The models and style statistics, with a bar while the decoder adapts to the style (not when cached)."""
    with make_progress(err) as progress:
        advance = None

        def on_step(step: int) -> None:
            nonlocal advance
            if advance is None:  # only once adapting starts: a cached style shows no bar
                advance = _bar(progress, "adapting the decoder to the style", opts.adapt, "steps")
            advance(1)

        return Stylizer.from_options(opts, on_adapt_step=on_step)


def _gatys_options(method: str, iterations: int, optimizer: str, content_weight: float, style_weight: float,
                   tv_weight: float, init: str, scales: int) -> GatysOptions | None:
    """None for plain AdaIN; otherwise the validated Gatys settings."""
    if method not in METHODS:
        raise StyleError(f"--method {method!r}: expected {', '.join(METHODS)}")
    if optimizer not in OPTIMIZERS or init not in INITS:
        raise StyleError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}; --init one of {', '.join(INITS)}")
    if method == "adain":
        return None
    return GatysOptions(iterations=iterations, optimizer=optimizer, content_weight=content_weight,
                        style_weight=style_weight, tv_weight=tv_weight,
                        init="adain" if method == "adain+gatys" else init, scales=scales)


def _warn_about_weights(opts: StyleOptions) -> None:
    if opts.decoder is None and shipped_weights_path() is None:
        err.print("[bold red]warning:[/] no trained decoder is installed (pipeline/weights/decoder.safetensors); "
                  "using random weights, so outputs are noise. Pass --decoder PATH.")
    if opts.decoder is not None and opts.decoder.suffix == ".pth" and opts.vgg is None:
        err.print("[yellow]note:[/] a reference decoder.pth expects the reference encoder: pass --vgg "
                  "vgg_normalised.pth as well.")


def _finish(summary: Summary, as_json: bool) -> None:
    print_summary(err, summary)
    if as_json:
        print(summary.to_json())
    raise typer.Exit(summary.exit_code)


@app.command()
def folder(
    input_dir: Annotated[Path, typer.Argument(help="Folder of images (walked recursively).")],
    output_dir: Annotated[Path, typer.Argument(help="Where the mirrored tree of stylized images goes.")],
    style: Styles,
    style_weights: StyleWeights = None,
    alpha: Alpha = 1.0,
    preserve_color: PreserveColor = "none",
    size: Size = 512,
    keep_size: KeepSize = False,
    style_size: StyleSize = None,
    batch_size: BatchSize = 0,
    device: Device = "auto",
    precision: Precision = "auto",
    ext: Annotated[Optional[str], typer.Option(help="Output format by extension, e.g. .png (default: same as input).")] = None,
    skip_existing: Annotated[bool, typer.Option(help="Leave outputs that already exist alone.")] = False,
    method: Method = "adain",
    iterations: Iterations = 100,
    optimizer: Optimizer = "lbfgs",
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 10.0,
    tv_weight: TvWeight = 0.0,
    init: Init = "content",
    scales: Scales = 1,
    tile: Tile = 0,
    compile_nets: Compile = False,
    calibrate: Calibrate = True,
    feedback: Feedback = 0,
    adapt: Adapt = None,
    engine: Engine = "local",
    ray_address: RayAddress = None,
    workers: Workers = 2,
    decoder: DecoderPath = None,
    vgg: VggPath = None,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """Stylize every image under INPUT_DIR into the same tree under OUTPUT_DIR."""
    from pipeline.jobs.folder import FolderOptions, plan_folder, run_folder

    ext = None if ext is None else ("." + ext.lstrip(".")).lower()
    if method == "gatys" and init != "adain" and adapt is None:
        adapt = 0  # the decoder is not used: nothing to adapt by default
    try:
        opts = _style_options(style, style_weights, alpha, preserve_color, style_size, device, precision,
                              decoder, vgg, tile, compile_nets, calibrate, size, feedback, adapt)
        tasks, excluded = plan_folder(input_dir, output_dir, ext)
        if excluded is not None:
            err.print(f"note: {output_dir} is inside {input_dir}; it is left out of the walk")
        if not tasks:
            err.print(f"[red]error:[/] no images found under {input_dir}")
            raise typer.Exit(EXIT_NOTHING)
        gatys_opts = _gatys_options(method, iterations, optimizer, content_weight, style_weight, tv_weight, init,
                                    scales)
        _check_engine(engine)
        _warn_about_weights(opts)
        if engine == "ray":
            _check_styles_for_workers(opts)
            stylizer = None
        else:
            stylizer = _build_stylizer(opts)
            if gatys_opts is not None:
                stylizer = GatysStylizer(stylizer, gatys_opts, from_adain=gatys_opts.init == "adain")
    except (JobError, StyleError, ValueError, OSError) as exc:
        _fail_usage(exc, debug)
    if not batch_size:
        batch_size = auto_batch_size(stylizer, (size or 1024, size or 1024)) if stylizer else 1
    folder_opts = FolderOptions(size=size, keep_size=keep_size, batch_size=batch_size, ext=ext,
                                skip_existing=skip_existing)
    with make_progress(err) as progress:
        on_result = _progress_reporter(progress, "folder", len(tasks))
        if engine == "ray":
            from pipeline.distributed import Recipe, init_ray, run_folder_ray

            init_ray(ray_address, workers)
            summary = run_folder_ray(Recipe(opts, gatys_opts), tasks, folder_opts, workers, on_result)
        else:
            summary = run_folder(stylizer, tasks, folder_opts, on_result)
    _finish(summary, json_out)


def _check_styles_for_workers(opts: StyleOptions) -> None:
    """Fail here, not on every worker; with --adapt, adapt here once so that workers on this machine find the
    weights in the cache instead of each adapting on its own."""
    if opts.adapt:
        _build_stylizer(opts)
    else:
        load_style_images(opts.styles, opts.style_size)


def _check_engine(engine: str) -> None:
    if engine not in ("local", "ray"):
        raise StyleError(f"--engine {engine!r}: expected local or ray")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise StyleError("--engine ray needs Ray: pip install 'ray[data]'")


def _bar(progress: Progress, label: str, total: int | None, unit: str):
    """A bar and its ``advance(n)``, which also shows the rate in ``unit``/s since the bar started."""
    bar = progress.add_task(label, total=total, rate="-")
    started = time.perf_counter()

    def advance(n: int) -> None:
        progress.advance(bar, n)
        done = progress.tasks[bar].completed
        progress.update(bar, rate=f"{done / max(time.perf_counter() - started, 1e-9):.2f} {unit}/s")

    return advance


def _progress_reporter(progress: Progress, label: str, total: int, unit: str = "images"):
    """A per-item callback: advances the bar, updates the rate and prints each failure as one line."""
    advance = _bar(progress, label, total, unit)

    def on_result(result: ItemResult) -> None:
        if result.status == FAILED:
            progress.console.print(f"[red]error:[/] {result.path}: {result.reason}")
        advance(1)

    return on_result


def _fail_usage(exc: Exception, debug: bool) -> None:
    if debug:
        raise exc
    err.print(f"[red]error:[/] {exc}")
    raise typer.Exit(EXIT_USAGE)


@app.command()
def train(
    content_dir: Annotated[list[Path], typer.Option(help="Folder of content photos (searched recursively; repeatable).")],
    style_dir: Annotated[list[Path], typer.Option(help="Folder of style paintings (searched recursively; repeatable).")],
    out: Annotated[Path, typer.Option(help="Checkpoint folder (checkpoint.pt and log.csv).")],
    iterations: Annotated[int, typer.Option(help="Total iterations, counting resumed ones.")] = 160_000,
    batch_size: int = 8,
    crop: Annotated[int, typer.Option(help="Random crop size; images are resized to short side 2x crop first.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate, decayed as lr / (1 + lr_decay * iteration).")] = 1e-4,
    lr_decay: float = 5e-5,
    style_weight: float = 10.0,
    content_weight: float = 1.0,
    style_loss: Annotated[str, typer.Option(help="mse (the reference code's) or l2 (the paper's Eq. 12, as evaluated).")] = "mse",
    style_augment: Annotated[bool, typer.Option(help="Also train on turned and recoloured variants of the styles.")] = False,
    style_mix: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of samples trained on a random interpolation of two styles' statistics (synthetic styles). 0: off.")] = 0.0,
    ema_decay: Annotated[float, typer.Option(min=0.0, max=0.99999, help="Keep a moving average of the weights (e.g. 0.999); export ships it. 0: off.")] = 0.0,
    device: str = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16 (autocast; on CUDA).")] = "auto",
    workers: Annotated[int, typer.Option(help="Data loader worker processes.")] = 0,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt, or from --init-from.")] = False,
    init_from: Annotated[Path | None, typer.Option(help="Decoder weights to start from without a checkpoint.")] = None,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N iterations ...")] = 200,
    save_minutes: Annotated[float, typer.Option(help="... or every M minutes, whichever comes first.")] = 10.0,
    minutes: Annotated[float | None, typer.Option(min=0.0, help="Stop, checkpointed, after this many minutes of this run (resume later).")] = None,
) -> None:
    """Train the AdaIN decoder (resumable)."""
    from pipeline.training.loop import TrainConfig
    from pipeline.training.progress import run_training

    cfg = TrainConfig(content_dirs=content_dir, style_dirs=style_dir, out=out, iterations=iterations,
                      batch_size=batch_size, crop=crop, lr=lr, lr_decay=lr_decay, style_weight=style_weight,
                      content_weight=content_weight, style_loss=style_loss, style_augment=style_augment,
                      style_mix=style_mix, ema_decay=ema_decay, device=device, precision=precision, workers=workers,
                      seed=seed, resume=resume, init_from=init_from, save_every=save_every,
                      save_minutes=save_minutes, max_minutes=minutes)
    raise typer.Exit(run_training(cfg, err))


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `stylize train`.")],
    out: Annotated[Path, typer.Option(help="Output .safetensors file.")] = Path("pipeline/weights/decoder.safetensors"),
    fp16: Annotated[bool, typer.Option(help="Store fp16 weights (half the size).")] = True,
    eval_json: Annotated[Path | None, typer.Option(help="Figures from scripts/eval_decoder.py for the card.")] = None,
    grid: Annotated[Path | None, typer.Option(help="Sample grid image to reference from the card.")] = None,
    notes: Annotated[Path | None, typer.Option(help="Markdown appended to the card (history, caveats).")] = None,
) -> None:
    """Export a training checkpoint as the shipped decoder, with its model card."""
    from pipeline.training.export import export_checkpoint

    card = export_checkpoint(checkpoint, out, fp16=fp16, eval_json=eval_json, grid=grid, notes=notes)
    err.print(f"wrote {out} and {card}")


@app.command()
def video(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A video file, or a folder of videos.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Output video (or folder, for a folder INPUT).")],
    style: Styles,
    style_weights: StyleWeights = None,
    alpha: Alpha = 1.0,
    preserve_color: PreserveColor = "none",
    size: Size = 512,
    keep_size: KeepSize = False,
    style_size: StyleSize = None,
    batch_size: BatchSize = 0,
    device: Device = "auto",
    precision: Precision = "auto",
    codec: Annotated[str, typer.Option(help="Video encoder: libx264, libx265, libsvtav1, libvpx-vp9, h264_nvenc.")] = "libx264",
    crf: Annotated[int, typer.Option(min=0, max=63, help="Constant rate factor (quality; lower is better).")] = 18,
    preset: Annotated[str, typer.Option(help="Encoder speed preset (x264/x265).")] = "medium",
    pix_fmt: Annotated[str, typer.Option(help="Output pixel format.")] = "yuv420p",
    audio: Annotated[str, typer.Option(help="auto (copy when the container takes it, else AAC), copy, aac, none.")] = "auto",
    start: Annotated[float, typer.Option(min=0.0, help="Start time in seconds.")] = 0.0,
    duration: Annotated[Optional[float], typer.Option(min=0.0, help="Seconds to process from --start.")] = None,
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many frames.")] = None,
    resume: Annotated[bool, typer.Option(help="Reuse the finished segments of an interrupted run.")] = False,
    segment_seconds: Annotated[float, typer.Option(min=0.1, help="Length of the resumable encoded segments.")] = 10.0,
    parallel: Annotated[int, typer.Option(min=0, help="Lanes rendering runs of segments side by side, each with its own decoder and encoder (0 = auto: on CUDA one per 4 host cores, at most 4; on the CPU 2 for frames up to 512x512 stylized and 720p written, else 1).")] = 0,
    temporal: Annotated[str, typer.Option(help="Flicker reduction: off, stats, warp or full (stats + warp).")] = "full",
    temporal_strength: Annotated[float, typer.Option(min=0.0, max=0.99, help="Statistics momentum and warped-frame blend weight where the content moves.")] = 0.5,
    temporal_still_strength: Annotated[float, typer.Option(min=0.0, max=0.99, help="Warped-frame blend weight where the content stands still (under half a pixel a frame).")] = 0.8,
    refine_every: Annotated[int, typer.Option(min=0, help="Refine every Nth frame (and scene cuts) with Gatys; 0 = never.")] = 0,
    method: Method = "adain",
    iterations: Iterations = 30,
    optimizer: Optimizer = "lbfgs",
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 10.0,
    tv_weight: TvWeight = 0.0,
    tile: Tile = 0,
    compile_nets: Compile = False,
    calibrate: Calibrate = True,
    feedback: Feedback = 0,
    adapt: Adapt = None,
    engine: Engine = "local",
    ray_address: RayAddress = None,
    workers: Workers = 2,
    decoder: DecoderPath = None,
    vgg: VggPath = None,
    json_out: Json = False,
    debug: Debug = False,
) -> None:
    """Stylize a video (or a folder of videos) into a playable video with the original audio."""
    from pipeline.io.video import EncodeOptions, VideoError
    from pipeline.temporal.stabilizer import MODES, TemporalOptions
    from pipeline.video import (VideoOptions, auto_parallel, expected_frames, frame_stylizer_for, plan_videos,
                                probe_all, run_videos)

    if audio not in ("auto", "copy", "aac", "none"):
        _fail_usage(StyleError(f"--audio {audio!r}: expected auto, copy, aac or none"), debug)
    try:
        opts = _style_options(style, style_weights, alpha, preserve_color, style_size, device, precision,
                              decoder, vgg, tile, compile_nets, calibrate, size, feedback, adapt)
        pairs = plan_videos(input_path, output)
        if not pairs:
            err.print(f"[red]error:[/] no videos found under {input_path}")
            raise typer.Exit(EXIT_NOTHING)
        if temporal not in MODES:
            raise StyleError(f"--temporal {temporal!r}: expected {', '.join(MODES)}")
        gatys_opts = _gatys_options(method, iterations, optimizer, content_weight, style_weight, tv_weight,
                                    "adain", 1)
        _check_engine(engine)
        _warn_about_weights(opts)
        refine = refine_every or (1 if gatys_opts is not None else 0)
        refine_opts = (gatys_opts or GatysOptions(iterations=iterations, init="adain")) if refine else None
        if engine == "ray":
            _check_styles_for_workers(opts)
            stylizer = refiner = None
        else:
            stylizer = _build_stylizer(opts)
            refiner = GatysStylizer(stylizer, refine_opts, from_adain=True) if refine_opts else None
    except (JobError, StyleError, ValueError, OSError) as exc:
        _fail_usage(exc, debug)
    if not batch_size:
        hw = (size or 1080, size or 1920)
        lanes = (parallel or auto_parallel(stylizer.device, hw, hw)) if stylizer else 1
        batch_size = auto_batch_size(stylizer, hw, lanes=lanes) if stylizer else 1
    if engine == "ray":
        parallel = parallel or 1  # the actors share the cores already
    video_opts = VideoOptions(size=size, keep_size=keep_size, batch_size=batch_size, start=start, duration=duration,
                              max_frames=max_frames, resume=resume, segment_seconds=segment_seconds, parallel=parallel,
                              encode=EncodeOptions(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, audio=audio),
                              temporal=TemporalOptions(mode=temporal, strength=temporal_strength,
                                                        still_strength=temporal_still_strength, refine_every=refine))
    probed = probe_all(pairs)  # once: for the progress total, and then for the jobs themselves
    total = sum(expected_frames(info, video_opts) for _, _, info in probed if not isinstance(info, VideoError))
    with make_progress(err) as progress:
        on_result = _progress_reporter(progress, "videos", len(pairs), unit="videos")
        on_frames = _bar(progress, "frames", total or None, "frames")
        if engine == "ray":
            from pipeline.distributed import Recipe, init_ray, run_videos_ray

            init_ray(ray_address, workers)
            summary = run_videos_ray(Recipe(opts, refine_opts), pairs, video_opts, workers, opts.key(), on_frames,
                                     on_result)
        else:
            summary = run_videos(lambda info, o: frame_stylizer_for(stylizer, info, o, refiner), probed, video_opts,
                                 style_key=opts.key(), on_frames=on_frames, on_result=on_result)
    err.print("time split: " + ", ".join(f"{k} {summary.extra.get(k, 0):.1f}s"
                                          for k in ("decode_s", "compute_s", "encode_s", "join_s")))
    _finish(summary, json_out)


@app.command()
def metrics(
    input_video: Annotated[Path, typer.Argument(metavar="INPUT", help="The source video.")],
    output_video: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Its stylized version.")],
    style: Annotated[Path, typer.Option("--style", "-s", help="The style image the output was made with.")],
    max_frames: Annotated[Optional[int], typer.Option(min=2, help="Only the first N frames.")] = None,
    sample_every: Annotated[int, typer.Option(min=1, help="Style/content loss on every Nth frame.")] = 1,
    json_out: Json = False,
) -> None:
    """Temporal and stylistic quality of a stylized video: warping error, style loss, content loss."""
    import json

    from pipeline.io.video import VideoError, decode_frames, probe
    from pipeline.metrics import video_metrics
    from pipeline.models.vgg import load_encoder
    from pipeline.stylizer import load_style_images

    try:
        inputs = [f.image for f in decode_frames(probe(input_video), max_frames=max_frames)]
        outputs = [f.image for f in decode_frames(probe(output_video), max_frames=max_frames)]
        out_long = max(outputs[0].shape[:2])
        figures = video_metrics(load_encoder(last_layer="relu4_1"), inputs, outputs,
                                load_style_images([style], out_long)[0], sample_every)
    except (VideoError, StyleError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE)
    if json_out:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            err.print(f"{key}: {value:.6g}")


if __name__ == "__main__":
    app()
