"""The options of the ``stylize`` commands as annotated types, grouped into help panels.

Closed choices are the enums of ``pipeline.options``, so ``--help`` lists them and Typer refuses anything
else with exit code 2. Defaults live in the command signatures (pipeline/cli/commands.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.options import (Audio, Backbone, CpuBackend, Device, Engine, FlowBackend, Init, Method, Optimizer, Pooling,
                              Precision, PreserveColor, TemporalMode, Upscale)

STYLE, SIZE, VIDEO, TEMPORAL, GATYS, ENGINE, OUTPUT = ("Style", "Size and device", "Video and encoding",
                                                       "Temporal", "Gatys", "Engine", "Output")


def _opt(*names: str, panel: str, **kwargs) -> typer.models.OptionInfo:
    return typer.Option(*names, rich_help_panel=panel, **kwargs)


Styles = Annotated[list[Path], _opt("--style", "-s", panel=STYLE, help="Style image; repeat to interpolate styles.")]
StyleWeights = Annotated[Optional[str], _opt(panel=STYLE, help="Comma-separated weights, one per --style.")]
Masks = Annotated[Optional[list[Path]], _opt("--mask", panel=STYLE, help="Mask for the --style just before it: white takes that style, black the others (or the source), grey blends. An image (its alpha channel if it has transparency, else its luminance), a video (stylize video: frame by frame) or a folder mirroring the input (stylize folder).")]
Keyframes = Annotated[Optional[Path], _opt(panel=STYLE, help='Styles over time, instead of --style: a JSON file {"keyframes": [{"at": 0, "styles": {"a.jpg": 1}}, {"at": "00:03.5", "styles": {"b.jpg": 1}, "alpha": 0.8, "cut": true}]}; between keyframes the styles and alpha change linearly, "cut" jumps.')]
StylePerScene = Annotated[bool, _opt("--style-per-scene", panel=STYLE, help="With several --style images: each scene (found by hard cuts) takes the next style in turn.")]
FolderKeyframes = Annotated[Optional[Path], _opt("--keyframes", panel=STYLE, hidden=True)]  # refused: no timeline
FolderStylePerScene = Annotated[bool, _opt("--style-per-scene", panel=STYLE, hidden=True)]
MaskFeather = Annotated[Optional[float], _opt(panel=STYLE, min=0.0, help="Blur radius of the mask edges in work pixels (default: 1/64 of the long side; 0 = hard edges).")]
Alpha = Annotated[float, _opt(panel=STYLE, min=0.0, max=1.0, help="Style strength: 0 = content, 1 = full style.")]
PreserveColorOpt = Annotated[PreserveColor, _opt(panel=STYLE, help="Keep the content's colours: coral recolours the style, luminance stylizes the luminance only.")]
StyleSize = Annotated[Optional[int], _opt(panel=STYLE, min=0, help="Long side the style image is resized to, never enlarged (default: the work size, 512 with --size 0; 0 = as is).")]
Calibrate = Annotated[bool, _opt(panel=STYLE, help="Correct the style's statistics for the decoder's miss, once per run (a few seconds).")]
Adapt = Annotated[Optional[int], _opt(panel=STYLE, min=0, help="Steps fine-tuning the decoder to the style on three bundled photos before the run, cached per style (closer to the style; seconds a step on a CPU). Default: 30 on CUDA, 0 on the CPU.")]
Feedback = Annotated[int, _opt(panel=STYLE, min=0, help="Passes that correct each image's own statistics (one more encode and decode each; 1 is enough).")]
DecoderPath = Annotated[Optional[Path], _opt("--decoder", panel=STYLE, help="Decoder weights (.safetensors, or the reference decoder.pth).")]
VggPath = Annotated[Optional[Path], _opt("--vgg", panel=STYLE, help="Reference vgg_normalised.pth instead of the built-in VGG-19.")]

Size = Annotated[int, _opt(panel=SIZE, min=0, help="Long side of the work resolution (0 = source size).")]
KeepSize = Annotated[bool, _opt(panel=SIZE, help="Write outputs at the source resolution.")]
UpscaleOpt = Annotated[Upscale, _opt("--upscale", panel=SIZE, help="With --keep-size: guided brings the source's edges back at full size; resize is a plain bicubic resize; decode (photos) runs the decoder at the source size for finer strokes, at a decoder pass's cost.")]
BatchSize = Annotated[int, _opt(panel=SIZE, min=0, help="Images or frames per batch (0 = auto: 1 on the CPU, as many as fit on CUDA).")]
DeviceOpt = Annotated[Device, _opt(panel=SIZE, help="Where the networks run (auto: CUDA when present).")]
PrecisionOpt = Annotated[Precision, _opt(panel=SIZE, help="Network precision (auto: bf16 on CUDA; on the CPU the fastest backend a probe finds: see 'stylize info'; int8: the quantized networks, needs OpenVINO).")]
CpuBackendOpt = Annotated[CpuBackend, _opt("--cpu-backend", panel=SIZE, help="The CPU's kernels outright (auto: by --precision).")]
Tile = Annotated[int, _opt(panel=SIZE, min=0, help="Stylize frames larger than this in overlapping tiles (0 = on the CPU past --memory-budget, anywhere when out of memory).")]
MemoryBudget = Annotated[float, _opt("--memory-budget", panel=SIZE, min=0.25, help="GiB of memory a CPU run may take at peak: frames go through whole within it, in tiles past it.")]
Compile = Annotated[bool, _opt("--compile", panel=SIZE, help="torch.compile the networks (falls back to eager).")]

MethodOpt = Annotated[Method, _opt(panel=GATYS, help="adain (feed-forward), gatys (optimisation) or adain+gatys (AdaIN refined).")]
Iterations = Annotated[int, _opt(panel=GATYS, min=1, help="Gatys iterations per image or keyframe.")]
OptimizerOpt = Annotated[Optimizer, _opt(panel=GATYS, help="Gatys optimizer.")]
ContentWeight = Annotated[float, _opt(panel=GATYS, min=0.0, help="Gatys content weight (relu4_2).")]
StyleWeight = Annotated[float, _opt(panel=GATYS, min=0.0, help="Gatys style weight (Gram matrices relu1_1..relu5_1).")]
TvWeight = Annotated[float, _opt(panel=GATYS, min=0.0, help="Gatys total-variation weight.")]
RangeWeight = Annotated[float, _opt(panel=GATYS, min=0.0, help="Gatys (L-BFGS) penalty on pixels outside [0, 1], where the result is clamped to: the clamp then costs no loss (0: none, the objective before it).")]
InitOpt = Annotated[Init, _opt(panel=GATYS, help="Gatys start: the content, noise, the AdaIN result, or the style image (video: of each keyframe; default adain there).")]
Scales = Annotated[int, _opt(panel=GATYS, min=1, help="Gatys coarse-to-fine levels, each twice the size of the last; levels under the size the network's deepest layer needs (32 px with VGG-19) are dropped with a warning.")]
PoolingOpt = Annotated[Pooling, _opt("--pooling", panel=GATYS, help="Pools of the network the Gatys losses see: max (VGG's own) or avg (Gatys et al.'s choice: smoother gradients).")]
SaveEvery = Annotated[int, _opt(panel=GATYS, min=0, help="Write the image being optimised every N iterations into --snapshot-dir (needed with it) as NAME_iter0050.png, with the losses in NAME_snapshots.json; NAME: the output's stem (video: and _fINDEX, frames then go one at a time).")]
SnapshotDir = Annotated[Optional[Path], _opt(panel=GATYS, help="Folder for the --save-every snapshots.")]
BackboneOpt = Annotated[Backbone, _opt("--backbone", panel=GATYS, help="Features for the Gatys losses: vgg19, or resnet50 with --backbone-weights (not with --method adain: the decoder is trained on VGG-19).")]
BackboneWeights = Annotated[Optional[Path], _opt(panel=GATYS, help="A torchvision resnet50 state dict you have (.pth/.pt, read with weights_only=True, or .safetensors): no package ships ResNet-50 weights.")]

EngineOpt = Annotated[Engine, _opt(panel=ENGINE, help="local, or ray (a local Ray instance, or a cluster with --ray-address).")]
RayAddress = Annotated[Optional[str], _opt(panel=ENGINE, help="Ray cluster to join: 'auto', HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS, else start Ray here).")]
Workers = Annotated[int, _opt(panel=ENGINE, min=1, help="Ray workers (actors), one model copy each.")]

Json = Annotated[bool, _opt("--json", panel=OUTPUT, help="Print a machine-readable summary on stdout.")]
ContactSheet = Annotated[Optional[Path], _opt(panel=OUTPUT, help="Also write one overview image (.png or .jpg) after the job: the styles, then sources beside results (folder: at most 60 images, an even sample; video: 6 frames of each clip with their times).")]
Debug = Annotated[bool, _opt(panel=OUTPUT, help="Show tracebacks.")]
Quiet = Annotated[bool, _opt("--quiet", "-q", panel=OUTPUT, help="Only errors and the summary.")]
Verbose = Annotated[bool, _opt("--verbose", "-v", panel=OUTPUT, help="More detail (and library logs).")]
Ext = Annotated[Optional[str], _opt(panel=OUTPUT, help="Output format by extension, e.g. png (default: same as input; HEIC photos as JPEG, PSD and GIF as PNG).")]
SkipExisting = Annotated[bool, _opt(panel=OUTPUT, help="Leave outputs that already exist (and decode) alone.")]

Codec = Annotated[str, _opt(panel=VIDEO, help="Video encoder: libx264, libx265, libsvtav1, libvpx-vp9, h264_nvenc, ... A source with transparency keeps it in .webm (VP9 with alpha) and .mov (ProRes 4444) outputs; a --codec or --pix-fmt naming another codec or format wins, and one line says the alpha is dropped.")]
Crf = Annotated[int, _opt(panel=VIDEO, min=0, max=63, help="Constant rate factor (quality; lower is better).")]
Preset = Annotated[str, _opt(panel=VIDEO, help="Encoder speed preset (x264/x265).")]
PixFmt = Annotated[str, _opt(panel=VIDEO, help="Output pixel format (with an alpha source into .webm/.mov, see --codec).")]
AudioOpt = Annotated[Audio, _opt(panel=VIDEO, help="auto copies the audio when the container takes it, else transcodes (AAC, Opus for WebM).")]
Start = Annotated[float, _opt(panel=VIDEO, min=0.0, help="Start time in seconds from the first frame.")]
Duration = Annotated[Optional[float], _opt(panel=VIDEO, min=0.0, help="Seconds to process from --start.")]
MaxFrames = Annotated[Optional[int], _opt(panel=VIDEO, min=1, help="Stop after this many frames.")]
Resume = Annotated[bool, _opt(panel=VIDEO, help="Reuse the finished segments of an interrupted run (with --skip-existing, a batch's finished videos are left as they are too).")]
SegmentSeconds = Annotated[float, _opt(panel=VIDEO, min=0.1, help="Length of the resumable encoded segments.")]
Parallel = Annotated[int, _opt(panel=VIDEO, min=0, help="Lanes rendering runs of segments side by side, each with its own decoder and encoder (0 = auto, per video).")]
Strict = Annotated[bool, _opt(panel=VIDEO, help="A video that stops decoding part way (cut short, damaged) fails, instead of keeping the frames that decoded with a warning.")]
Deinterlace = Annotated[bool, _opt(panel=VIDEO, help="Deinterlace the frames a source flags interlaced (DVD, DV, broadcast 480i/576i/1080i) with FFmpeg's yadif, so a style does not paint their combs; --no-deinterlace keeps the fields woven.")]
Fps = Annotated[Optional[float], _opt(panel=VIDEO, help="Frame rate of an input that stores no times: an image sequence (a folder of numbered frames, or a pattern like frames/%05d.png; default 25) or a raw stream (.h264, .hevc, .m2v; default the rate its headers state). Other videos keep their own.")]

FolderTemporal = Annotated[TemporalMode, _opt("--temporal", panel=TEMPORAL, help="Flicker reduction across the frames of animations (GIF, APNG, animated WebP and AVIF), as stylize video's.")]
TemporalOpt = Annotated[TemporalMode, _opt(panel=TEMPORAL, help="Flicker reduction: smoothed statistics, flow-warped blending, or both (full).")]
TemporalStrength = Annotated[float, _opt(panel=TEMPORAL, min=0.0, max=0.99, help="Statistics momentum; the warped frame is renewed every 12x this many frames where the content moves.")]
TemporalStill = Annotated[float, _opt(panel=TEMPORAL, min=0.0, max=0.99, help="The warped frame is renewed every 12x this many frames where the content stands still (under 0.75 px a frame), fading in over two frames.")]
RefineEvery = Annotated[int, _opt(panel=TEMPORAL, min=0, help="Refine every Nth frame (and scene cuts) with Gatys; 0 = never.")]
FlowOpt = Annotated[FlowBackend, _opt("--flow", panel=TEMPORAL, help="Optical flow and scene cuts: torch (on the frames' device), opencv (DIS on the host), or auto (torch on CUDA, OpenCV on the CPU).")]
