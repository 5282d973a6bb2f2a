"""``stylize folder`` and ``stylize video``: each parses, builds the options and hands them to its job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.params import (Styles, StyleWeights, Alpha, PreserveColorOpt, StyleSize, Calibrate, Adapt,
                                 Feedback, DecoderPath, VggPath, Size, KeepSize, UpscaleOpt, BatchSize, DeviceOpt,
                                 PrecisionOpt, Tile, MemoryBudget, Compile, MethodOpt, Iterations, OptimizerOpt,
                                 ContentWeight, StyleWeight, TvWeight, InitOpt, Scales, EngineOpt, RayAddress,
                                 Workers, Json, Debug, Quiet, Verbose, Ext, SkipExisting, Codec, Crf, Preset,
                                 PixFmt, AudioOpt, Start, Duration, MaxFrames, Resume, SegmentSeconds,
                                 Parallel, TemporalOpt, TemporalStrength, TemporalStill, RefineEvery, FlowOpt, Strict, Fps,
                                 PoolingOpt, SaveEvery, SnapshotDir, BackboneOpt, BackboneWeights, ContactSheet)
from pipeline.cli.order import with_masks
from pipeline.cli.params import CpuBackendOpt, Masks, MaskFeather, RangeWeight
from pipeline.cli.params import Deinterlace, FolderKeyframes, FolderStylePerScene, FolderTemporal, Keyframes, StylePerScene
from pipeline.cli.run import run_job
from pipeline.errors import JobError, OptionError, StyleError
from pipeline.io.walk import is_pattern  # no torch: an image sequence's pattern names no one file
from pipeline.options import Backbone, ControlOptions, CpuBackend, Pooling
from pipeline.report import Summary
from pipeline.options import (Audio, Device, EncodeOptions, Engine, EngineOptions, FlowBackend, FolderOptions, Init, Method, Optimizer,
                              Precision, PreserveColor, StyleOptions, TemporalMode, TemporalOptions, Upscale, VideoOptions,
                              calibration_size_for, gatys_for, parse_weights, style_size_for)

FOLDER_EXAMPLES = """Examples:

  stylize folder photos/ out/ -s starry_night.jpg

  stylize folder photos/ out/ -s a.jpg -s b.jpg --style-weights 2,1 --size 1024 --ext png

  stylize folder photos/ out/ -s a.jpg --method adain+gatys --iterations 50

  stylize folder photos/ out/ -s a.jpg --method gatys --pooling avg --save-every 20 --snapshot-dir snaps/

  stylize folder photos/ out/ -s a.jpg --contact-sheet sheet.jpg

  stylize folder photos/ out/ -s a.jpg --mask fg.png -s b.jpg"""

VIDEO_EXAMPLES = """Examples:

  stylize video clip.mp4 out.mp4 -s starry_night.jpg

  stylize video clip.mp4 out.mp4 -s a.jpg --keep-size --crf 20 --resume

  stylize video clips/ out/ -s a.jpg --temporal off --size 256

  stylize video clips/ out/ -s a.jpg --resume --skip-existing    # again after Ctrl-C

  stylize video clip.mp4 out.mp4 --keyframes styles.json

  stylize video clip.mp4 out.mp4 -s a.jpg --mask mask.mp4"""


def require(path: Path, message: str) -> Callable[[], None]:
    """A check that a missing input fails after the options and before torch loads (0.5 s, not 2.5); the job
    checks again for callers of the Python API."""
    def check() -> None:
        if not path.exists():
            raise JobError(message)

    return check


def style_options(style: list[Path], style_weights: str | None, alpha: float, preserve_color: PreserveColor,
                  style_size: int | None, device: Device, precision: Precision, decoder: Path | None,
                  vgg: Path | None, tile: int, compile_nets: bool, calibrate: bool, size: int, feedback: int,
                  adapt: int | None, control: ControlOptions | None = None,
                  cpu_backend: CpuBackend = CpuBackend.AUTO, memory_budget: float = 2.0) -> StyleOptions:
    """The shared style options; the style and calibration sizes follow the work size unless given."""
    for path in style or []:
        if not Path(path).exists():  # here, before torch loads: a typo costs 0.4 s, not 2.5
            raise StyleError(f"style {path}: no such file")
    return StyleOptions(style or [], parse_weights(style_weights), alpha, preserve_color,
                        style_size_for(size) if style_size is None else style_size, device, precision, decoder,
                        vgg, tile, compile_nets, calibrate, calibration_size_for(size), feedback, adapt,
                        control or ControlOptions(), cpu_backend=cpu_backend, memory_budget=memory_budget)


def timeline(keyframes: Path | None, style_per_scene: bool, video: bool = True) -> ControlOptions:
    """The styles over time that ``--keyframes`` / ``--style-per-scene`` ask for (the keyframe file is read and
    checked here); a folder of images has no timeline, so ``stylize folder`` refuses them."""
    if not video and (keyframes is not None or style_per_scene):
        raise OptionError(f"{'--keyframes' if keyframes is not None else '--style-per-scene'} needs a timeline: "
                          "it is for stylize video (a folder of numbered frames is a video there)")
    return ControlOptions(keyframes=keyframes, style_per_scene=style_per_scene)


def gatys_knobs(pooling: Pooling, save_every: int, snapshot_dir: Path | None, backbone: Backbone,
                backbone_weights: Path | None, range_weight: float) -> dict:
    """The Gatys settings that ``folder`` and ``video`` share beyond the weights, as ``gatys_for`` takes them."""
    return {"pooling": pooling, "save_every": save_every, "snapshot_dir": snapshot_dir, "backbone": backbone,
            "backbone_weights": backbone_weights, "range_weight": range_weight}


def check_refinable(style_opts: StyleOptions, refine: int) -> None:
    """Gatys refinement of video frames optimises toward one fixed style target per frame."""
    if refine and style_opts.control.masked:
        raise OptionError("--mask with Gatys refinement of video frames (--refine-every, --method gatys) is not "
                          "supported: the refiner optimises one style target per frame; use --method adain")
    if refine and (style_opts.control.keyframes is not None or style_opts.control.style_per_scene):
        raise OptionError("--keyframes and --style-per-scene take --method adain without --refine-every: the "
                          "Gatys refiner optimises toward one fixed style, not one that changes over time")


def snapshot_batch(batch_size: int, save_every: int) -> int:
    """Video frames one at a time while snapshots are written (each snapshot names its frame)."""
    if save_every and batch_size > 1:
        raise OptionError("--save-every on a video stylizes one frame at a time: leave --batch-size out")
    return 1 if save_every else batch_size


def folder(
    input_dir: Annotated[Path, typer.Argument(help="Folder of images (walked recursively).")],
    output_dir: Annotated[Path, typer.Argument(help="Where the mirrored tree of stylized images goes.")],
    ctx: typer.Context, style: Styles = None, style_weights: StyleWeights = None, mask: Masks = None,
    mask_feather: MaskFeather = None,
    alpha: Alpha = 1.0,
    preserve_color: PreserveColorOpt = PreserveColor.NONE, style_size: StyleSize = None, calibrate: Calibrate = True,
    adapt: Adapt = None, feedback: Feedback = 0, decoder: DecoderPath = None, vgg: VggPath = None,
    size: Size = 512, keep_size: KeepSize = False, upscale: UpscaleOpt = Upscale.GUIDED, batch_size: BatchSize = 0,
    device: DeviceOpt = Device.AUTO,
    precision: PrecisionOpt = Precision.AUTO, cpu_backend: CpuBackendOpt = CpuBackend.AUTO, tile: Tile = 0,
    memory_budget: MemoryBudget = 2.0, compile_nets: Compile = False,
    method: MethodOpt = Method.ADAIN, iterations: Iterations = 100, optimizer: OptimizerOpt = Optimizer.LBFGS,
    content_weight: ContentWeight = 1.0, style_weight: StyleWeight = 10.0, tv_weight: TvWeight = 0.0,
    range_weight: RangeWeight = 1000.0,
    init: InitOpt = Init.CONTENT, scales: Scales = 1, pooling: PoolingOpt = Pooling.MAX, save_every: SaveEvery = 0,
    snapshot_dir: SnapshotDir = None, backbone: BackboneOpt = Backbone.VGG19, backbone_weights: BackboneWeights = None,
    engine: EngineOpt = Engine.LOCAL, ray_address: RayAddress = None, workers: Workers = 2,
    ext: Ext = None, skip_existing: SkipExisting = False, contact_sheet: ContactSheet = None,
    temporal: FolderTemporal = TemporalMode.FULL, json_out: Json = False, quiet: Quiet = False,
    verbose: Verbose = False, debug: Debug = False, keyframes: FolderKeyframes = None,
    style_per_scene: FolderStylePerScene = False,
) -> Summary:
    """Stylize every image under INPUT_DIR into the same tree under OUTPUT_DIR (animations come back animated, a
    multi-page TIFF with every page)."""
    if method == Method.GATYS and init != Init.ADAIN and adapt is None:
        adapt = 0  # the decoder is not used: nothing to adapt by default
    built = {}

    def build_style() -> StyleOptions:  # every option, before torch loads: a bad value costs no start-up
        built["gatys"] = gatys_for(method, iterations=iterations, optimizer=optimizer, content_weight=content_weight,
                                   style_weight=style_weight, tv_weight=tv_weight, init=init, scales=scales,
                                   **gatys_knobs(pooling, save_every, snapshot_dir, backbone, backbone_weights,
                                                 range_weight))
        built["folder"] = FolderOptions(size, keep_size, batch_size, ext, skip_existing, upscale=upscale,
                                        contact_sheet=contact_sheet, temporal=TemporalOptions(temporal))
        return with_masks(style_options(style, style_weights, alpha, preserve_color, style_size, device, precision,
                                        decoder, vgg, tile, compile_nets, calibrate, size, feedback, adapt,
                                        timeline(keyframes, style_per_scene, video=False), cpu_backend,
                                        memory_budget), mask, mask_feather, ctx)

    def job(style_opts, hooks):
        from pipeline.control.masks import check_masks
        from pipeline.jobs.folder import run_folder_job

        check_masks(style_opts.control, video=False)
        return run_folder_job(input_dir, output_dir, style_opts, built["folder"], built["gatys"],
                              EngineOptions(engine, ray_address, workers), hooks)

    return run_job(job, build_style, "images", json_out, quiet, verbose, debug,
            require(input_dir, f"input folder {input_dir} does not exist"))


def video(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A video file, or a folder of videos.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Output video or animated image, image "
                                           "sequence ('frames/%05d.png'), or folder for a folder INPUT.")],
    ctx: typer.Context, style: Styles = None, style_weights: StyleWeights = None, mask: Masks = None,
    mask_feather: MaskFeather = None,
    keyframes: Keyframes = None, style_per_scene: StylePerScene = False,
    alpha: Alpha = 1.0,
    preserve_color: PreserveColorOpt = PreserveColor.NONE, style_size: StyleSize = None, calibrate: Calibrate = True,
    adapt: Adapt = None, feedback: Feedback = 0, decoder: DecoderPath = None, vgg: VggPath = None,
    size: Size = 512, keep_size: KeepSize = False, upscale: UpscaleOpt = Upscale.GUIDED, batch_size: BatchSize = 0,
    device: DeviceOpt = Device.AUTO,
    precision: PrecisionOpt = Precision.AUTO, cpu_backend: CpuBackendOpt = CpuBackend.AUTO, tile: Tile = 0,
    memory_budget: MemoryBudget = 2.0, compile_nets: Compile = False,
    codec: Codec = "libx264", crf: Crf = 18, preset: Preset = "medium", pix_fmt: PixFmt = "yuv420p",
    audio: AudioOpt = Audio.AUTO, start: Start = 0.0, duration: Duration = None, max_frames: MaxFrames = None,
    resume: Resume = False, skip_existing: SkipExisting = False, segment_seconds: SegmentSeconds = 10.0,
    parallel: Parallel = 0, strict: Strict = False,
    deinterlace: Deinterlace = True, fps: Fps = None, temporal: TemporalOpt = TemporalMode.FULL,
    temporal_strength: TemporalStrength = 0.5,
    temporal_still_strength: TemporalStill = 0.8, refine_every: RefineEvery = 0, flow: FlowOpt = FlowBackend.AUTO,
    method: MethodOpt = Method.ADAIN, iterations: Iterations = 30, optimizer: OptimizerOpt = Optimizer.LBFGS,
    content_weight: ContentWeight = 1.0, style_weight: StyleWeight = 10.0, tv_weight: TvWeight = 0.0,
    range_weight: RangeWeight = 1000.0,
    init: InitOpt = Init.ADAIN, scales: Scales = 1, pooling: PoolingOpt = Pooling.MAX, save_every: SaveEvery = 0,
    snapshot_dir: SnapshotDir = None, backbone: BackboneOpt = Backbone.VGG19, backbone_weights: BackboneWeights = None,
    engine: EngineOpt = Engine.LOCAL, ray_address: RayAddress = None, workers: Workers = 2,
    contact_sheet: ContactSheet = None,
    json_out: Json = False, quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False,
) -> Summary:
    """Stylize a video (or a folder of videos) into a playable video with the original audio."""
    built = {}

    def build_style() -> StyleOptions:  # every option, before torch loads: a bad value costs no start-up
        style_opts = with_masks(style_options(style, style_weights, alpha, preserve_color, style_size, device,
                                              precision, decoder, vgg, tile, compile_nets, calibrate, size, feedback,
                                              adapt, timeline(keyframes, style_per_scene), cpu_backend,
                                              memory_budget), mask, mask_feather, ctx)
        refine = refine_every or (1 if method != Method.ADAIN else 0)
        check_refinable(style_opts, refine)
        built["gatys"] = gatys_for(Method.GATYS if refine else Method.ADAIN, iterations=iterations,
                                   optimizer=optimizer, content_weight=content_weight, style_weight=style_weight,
                                   tv_weight=tv_weight, init=init, scales=scales,
                                   **gatys_knobs(pooling, save_every, snapshot_dir, backbone, backbone_weights,
                                                 range_weight))
        built["video"] = VideoOptions(size, keep_size, snapshot_batch(batch_size, save_every), start, duration,
                                      max_frames, resume, segment_seconds, parallel,
                                      EncodeOptions(codec, crf, preset, pix_fmt, audio),
                                      TemporalOptions(temporal, temporal_strength, temporal_still_strength, refine,
                                                      flow=flow),
                                      upscale=upscale, strict=strict, fps=fps, contact_sheet=contact_sheet,
                                      deinterlace=deinterlace, skip_existing=skip_existing)
        return style_opts

    def job(style_opts, hooks):
        from pipeline.control.masks import check_masks
        from pipeline.jobs.video import run_video_job

        check_masks(style_opts.control, video=True)
        return run_video_job(input_path, output, style_opts, built["video"], built["gatys"],
                             EngineOptions(engine, ray_address, workers), hooks)

    return run_job(job, build_style, "frames", json_out, quiet, verbose, debug,
            (lambda: None) if is_pattern(input_path) else require(input_path, f"input {input_path} does not exist"))
