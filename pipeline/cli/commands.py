"""``stylize folder`` and ``stylize video``: each parses, builds the options and hands them to its job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.params import (Styles, StyleWeights, Alpha, PreserveColorOpt, StyleSize, Calibrate, Adapt,
                                 Feedback, DecoderPath, VggPath, Size, KeepSize, UpscaleOpt, BatchSize, DeviceOpt,
                                 PrecisionOpt, Tile, Compile, MethodOpt, Iterations, OptimizerOpt,
                                 ContentWeight, StyleWeight, TvWeight, InitOpt, Scales, EngineOpt, RayAddress,
                                 Workers, Json, Debug, Quiet, Verbose, Ext, SkipExisting, Codec, Crf, Preset,
                                 PixFmt, AudioOpt, Start, Duration, MaxFrames, Resume, SegmentSeconds,
                                 Parallel, TemporalOpt, TemporalStrength, TemporalStill, RefineEvery, Strict, Fps)
from pipeline.cli.run import run_job
from pipeline.options import (Audio, Device, EncodeOptions, Engine, EngineOptions, FolderOptions, Init, Method, Optimizer,
                              Precision, PreserveColor, StyleOptions, TemporalMode, TemporalOptions, Upscale, VideoOptions,
                              calibration_size_for, gatys_for, parse_weights, style_size_for)

FOLDER_EXAMPLES = """Examples:

  stylize folder photos/ out/ -s starry_night.jpg

  stylize folder photos/ out/ -s a.jpg -s b.jpg --style-weights 2,1 --size 1024 --ext png

  stylize folder photos/ out/ -s a.jpg --method adain+gatys --iterations 50"""

VIDEO_EXAMPLES = """Examples:

  stylize video clip.mp4 out.mp4 -s starry_night.jpg

  stylize video clip.mp4 out.mp4 -s a.jpg --keep-size --crf 20 --resume

  stylize video clips/ out/ -s a.jpg --temporal off --size 256"""


def style_options(style: list[Path], style_weights: str | None, alpha: float, preserve_color: PreserveColor,
                  style_size: int | None, device: Device, precision: Precision, decoder: Path | None,
                  vgg: Path | None, tile: int, compile_nets: bool, calibrate: bool, size: int, feedback: int,
                  adapt: int | None) -> StyleOptions:
    """The shared style options; the style and calibration sizes follow the work size unless given."""
    return StyleOptions(style, parse_weights(style_weights), alpha, preserve_color,
                        style_size_for(size) if style_size is None else style_size, device, precision, decoder,
                        vgg, tile, compile_nets, calibrate, calibration_size_for(size), feedback, adapt)


def folder(
    input_dir: Annotated[Path, typer.Argument(help="Folder of images (walked recursively).")],
    output_dir: Annotated[Path, typer.Argument(help="Where the mirrored tree of stylized images goes.")],
    style: Styles, style_weights: StyleWeights = None, alpha: Alpha = 1.0,
    preserve_color: PreserveColorOpt = PreserveColor.NONE, style_size: StyleSize = None, calibrate: Calibrate = True,
    adapt: Adapt = None, feedback: Feedback = 0, decoder: DecoderPath = None, vgg: VggPath = None,
    size: Size = 512, keep_size: KeepSize = False, upscale: UpscaleOpt = Upscale.GUIDED, batch_size: BatchSize = 0,
    device: DeviceOpt = Device.AUTO,
    precision: PrecisionOpt = Precision.AUTO, tile: Tile = 0, compile_nets: Compile = False,
    method: MethodOpt = Method.ADAIN, iterations: Iterations = 100, optimizer: OptimizerOpt = Optimizer.LBFGS,
    content_weight: ContentWeight = 1.0, style_weight: StyleWeight = 10.0, tv_weight: TvWeight = 0.0,
    init: InitOpt = Init.CONTENT, scales: Scales = 1,
    engine: EngineOpt = Engine.LOCAL, ray_address: RayAddress = None, workers: Workers = 2,
    ext: Ext = None, skip_existing: SkipExisting = False, json_out: Json = False, quiet: Quiet = False,
    verbose: Verbose = False, debug: Debug = False,
) -> None:
    """Stylize every image under INPUT_DIR into the same tree under OUTPUT_DIR."""
    if method == Method.GATYS and init != Init.ADAIN and adapt is None:
        adapt = 0  # the decoder is not used: nothing to adapt by default
    build_style = lambda: style_options(style, style_weights, alpha, preserve_color, style_size, device, precision,  # noqa: E731
                                        decoder, vgg, tile, compile_nets, calibrate, size, feedback, adapt)

    def job(style_opts, hooks):
        from pipeline.jobs.folder import run_folder_job

        gatys = gatys_for(method, iterations=iterations, optimizer=optimizer, content_weight=content_weight,
                          style_weight=style_weight, tv_weight=tv_weight, init=init, scales=scales)
        return run_folder_job(input_dir, output_dir, style_opts, FolderOptions(size, keep_size, batch_size, ext,
                              skip_existing, upscale=upscale), gatys, EngineOptions(engine, ray_address, workers), hooks)

    run_job(job, build_style, "images", json_out, quiet, verbose, debug)


def video(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A video file, or a folder of videos.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Output video (or folder, for a folder INPUT).")],
    style: Styles, style_weights: StyleWeights = None, alpha: Alpha = 1.0,
    preserve_color: PreserveColorOpt = PreserveColor.NONE, style_size: StyleSize = None, calibrate: Calibrate = True,
    adapt: Adapt = None, feedback: Feedback = 0, decoder: DecoderPath = None, vgg: VggPath = None,
    size: Size = 512, keep_size: KeepSize = False, upscale: UpscaleOpt = Upscale.GUIDED, batch_size: BatchSize = 0,
    device: DeviceOpt = Device.AUTO,
    precision: PrecisionOpt = Precision.AUTO, tile: Tile = 0, compile_nets: Compile = False,
    codec: Codec = "libx264", crf: Crf = 18, preset: Preset = "medium", pix_fmt: PixFmt = "yuv420p",
    audio: AudioOpt = Audio.AUTO, start: Start = 0.0, duration: Duration = None, max_frames: MaxFrames = None,
    resume: Resume = False, segment_seconds: SegmentSeconds = 10.0, parallel: Parallel = 0, strict: Strict = False,
    fps: Fps = None, temporal: TemporalOpt = TemporalMode.FULL, temporal_strength: TemporalStrength = 0.5,
    temporal_still_strength: TemporalStill = 0.8, refine_every: RefineEvery = 0,
    method: MethodOpt = Method.ADAIN, iterations: Iterations = 30, optimizer: OptimizerOpt = Optimizer.LBFGS,
    content_weight: ContentWeight = 1.0, style_weight: StyleWeight = 10.0, tv_weight: TvWeight = 0.0,
    engine: EngineOpt = Engine.LOCAL, ray_address: RayAddress = None, workers: Workers = 2,
    json_out: Json = False, quiet: Quiet = False, verbose: Verbose = False, debug: Debug = False,
) -> None:
    """Stylize a video (or a folder of videos) into a playable video with the original audio."""
    build_style = lambda: style_options(style, style_weights, alpha, preserve_color, style_size, device, precision,  # noqa: E731
                                        decoder, vgg, tile, compile_nets, calibrate, size, feedback, adapt)

    def job(style_opts, hooks):
        from pipeline.jobs.video import run_video_job

        refine = refine_every or (1 if method != Method.ADAIN else 0)
        gatys = gatys_for(Method.ADAIN_GATYS if refine else Method.ADAIN, iterations=iterations,
                          optimizer=optimizer, content_weight=content_weight, style_weight=style_weight,
                          tv_weight=tv_weight)
        video_opts = VideoOptions(size, keep_size, batch_size, start, duration, max_frames, resume, segment_seconds,
                                  parallel, EncodeOptions(codec, crf, preset, pix_fmt, audio),
                                  TemporalOptions(temporal, temporal_strength, temporal_still_strength, refine),
                                  upscale=upscale, strict=strict, fps=fps)
        return run_video_job(input_path, output, style_opts, video_opts, gatys,
                             EngineOptions(engine, ray_address, workers), hooks)

    run_job(job, build_style, "frames", json_out, quiet, verbose, debug)
