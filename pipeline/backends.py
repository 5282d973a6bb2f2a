"""Which kernels run the networks on the CPU, chosen by timing them on this machine, not by a rule.

Ways to run the same VGG encoder and decoder on a CPU, whose order changes from chip to chip
(docs/BENCHMARKS.md, "CPU backends"): ``nnpack`` (fp32, NCHW, ``models/fast_cpu.py``'s Winograd layers),
``onednn`` (fp32, channels_last), ``bf16`` (the weights cast to bf16 once, channels_last: native bf16
kernels where the CPU has them, the same pixels as bf16 autocast without a cast per call), ``openvino`` (the
same networks compiled by OpenVINO: bf16 where the CPU has it, else f32) and ``int8`` (the shipped quantized
decoder). ``--precision auto`` takes whichever a short probe finds fastest at the run's size; the probe's
figures are cached per CPU model, core count, thread count and PyTorch version, in the user cache folder.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.cache import cache_dir
from pipeline.device import autocast, cpu_has_fast_bf16
from pipeline.models.fast_cpu import nnpack_available, use_fast_cpu_layers

NAMES = ("nnpack", "onednn", "bf16", "openvino", "int8")
OPENVINO = ("openvino", "int8")  # run by OpenVINO: where it is missing, what auto takes instead
FP32 = ("nnpack", "onednn")  # torch's fp32 kernels: what --precision fp32 chooses between
ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")  # set: the kernels of a lesser CPU run here
PROBE_LAYER = "relu4_1"  # the whole encoder and the decoder after it, on a frame of the run's size
PROBE_RUNS = 3  # timed rounds at most, after one warm-up call each
PROBE_MIN_RUNS = 2  # ... and at least: the probe stops there when one backend leads every other by PROBE_LEAD
PROBE_LEAD = 0.15  # ... and no backend's calls differ by more than PROBE_SPREAD (else load is about: go on)
PROBE_SPREAD = 0.10
PROBE_MAX_SIDE = 512  # longer sides are timed at it, as runs calibrate (at 1280: 99 s and 4 GB on 2 AVX2 cores)
PROBE_MIN_SHARE = 0.75  # of the threads' time the probe must get to be cached (quiet here 0.95, two busy loops 0.50)
CACHE_FILE = "cpu_backends.json"
# Figures of a probe made while the CPU was busy: not stored, but kept for the rest of the process, so that its
# later stylizers run the same kernels (a re-probe could pick another backend, a level off here and there).
_THIS_PROCESS: dict[str, dict[str, float]] = {}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """How the networks run: ``dtype`` of the weights and the math, ``memory_format`` of the activations,
    ``fast_layers`` (NNPACK's), and ``measured`` (probe seconds per candidate, empty when not probed)."""

    name: str
    dtype: torch.dtype
    memory_format: torch.memory_format
    fast_layers: bool = False
    measured: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        timed = ", ".join(f"{n} {s * 1000:.0f} ms" for n, s in self.measured)
        return self.name + (f" (probe: {timed})" if timed else "")


def backend(name: str, measured: tuple[tuple[str, float], ...] = ()) -> Backend:
    """The ``Backend`` called ``name`` (one of ``NAMES``, or fp16); int8's torch side (what takes gradients,
    calibration) is fp32, as is openvino's."""
    if name == "nnpack":
        return Backend(name, torch.float32, torch.contiguous_format, True, measured)
    if name in OPENVINO:
        return Backend(name, torch.float32, torch.contiguous_format, False, measured)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name, torch.float32)
    return Backend(name, dtype, torch.channels_last, False, measured)


def available() -> list[str]:
    """The backends this CPU and this PyTorch build have: bf16 only where oneDNN runs it natively (it is
    emulated, and slow, elsewhere); OpenVINO's not while ``ISA_LIMITS`` hold torch to a lesser CPU's kernels
    (OpenVINO ignores them: it would be timed with this CPU's)."""
    from pipeline.models import int8, openvino_nets

    limited = any(os.environ.get(name) for name in ISA_LIMITS)
    have = {"nnpack": nnpack_available(), "onednn": True, "bf16": cpu_has_fast_bf16(),
            "openvino": openvino_nets.available() and not limited, "int8": int8.available() and not limited}
    return [n for n in NAMES if have[n]]


def left_out() -> dict[str, str]:
    """The backends ``--precision auto`` does not consider here, each with why, in words (``stylize info``)."""
    from pipeline.models import int8, openvino_nets

    limited = "OpenVINO ignores " + " and ".join(ISA_LIMITS)
    why = {"nnpack": "not in this PyTorch build", "bf16": "no native bf16 on this CPU (it would be emulated)",
           "openvino": limited if openvino_nets.available() else "OpenVINO is not installed",
           "int8": limited if int8.available() else "OpenVINO or the quantized networks are not installed"}
    have = available()
    out = {name: reason for name, reason in why.items() if name not in have}
    refused = int8.refusal() if "int8" in have else None  # found, but not gated for auto here
    if refused:
        out["int8"] = refused
    return out


def for_precision(precision: str, size: int, encoder=None, decoder=None, int8: bool = True) -> Backend:
    """The CPU backend for ``--precision``: bf16 casts the weights, int8 takes the quantized networks
    (``openvino``, a backend's name, its float ones; without OpenVINO, what auto takes, said in one log line),
    ``auto`` probes the available ones at long side ``size`` (on ``encoder``, a ``VGGEncoder``, and
    ``decoder``; None: the bundled ones) and takes the fastest, fp32 the faster of torch's fp32 kernels
    (``FP32``), probed alike: NNPACK transforms every layer's weights on every call, so it loses on small
    frames (docs/BENCHMARKS.md, "`--precision fp32` by the probe"). int8 only where it passed the quality gate
    (``models/int8.passed_gate``) and ``int8`` allows it (False: the run's networks have no int8 form)."""
    if precision in ("bf16", "fp16"):  # fp16: autocast, no native kernels on most CPUs; only when asked
        return backend(precision)
    if precision in OPENVINO and precision not in available():
        fallback = for_precision("auto", size, encoder, decoder)
        log.info("%s needs OpenVINO (pip install 'stylize-pipeline[openvino]'); running %s", precision,
                 fallback.name)
        return fallback
    if precision in OPENVINO:
        return backend(precision)
    if precision == "fp32":
        names = [n for n in available() if n in FP32]
    else:
        from pipeline.models import int8 as quantized

        names = [n for n in available() if n != "int8" or int8 and quantized.passed_gate()]
    if len(names) == 1:
        return backend(names[0])
    return fastest(probe(names, size, encoder, decoder))


def fastest(measured: dict[str, float]) -> Backend:
    """The backend with the least probe time in ``measured``, carrying all the figures (fastest first)."""
    return backend(min(measured, key=measured.get), tuple(sorted(measured.items(), key=lambda kv: kv[1])))


def probe(names: list[str], size: int, encoder=None, decoder=None) -> dict[str, float]:
    """Seconds per call of the encoder to ``PROBE_LAYER`` and the decoder on a 4:3 frame of long side
    ``size`` (at most ``PROBE_MAX_SIDE``), for each backend in ``names``: from the cache when this machine
    measured them before, else timed now (``_time_interleaved``) and stored, unless other processes took the
    cores meanwhile (``_cpu_share`` under ``PROBE_MIN_SHARE``). Both networks, since int8 quantizes the decoder
    only. At the run's size, not a smaller stand-in: the kernels' cost per pixel changes with size and the order
    turns over (on an AVX2-only Zen 3 NNPACK took 1.4-1.7x OpenVINO's time at half the sides, 0.7-0.9x at the
    run's)."""
    key, size = cache_key(size), probe_side(size)
    stored = _read_cache().get(key, {})
    cached = {**_THIS_PROCESS.get(key, {}), **stored}
    if all(n in cached for n in names):
        return {n: cached[n] for n in names}
    if encoder is None:
        from pipeline.models.vgg import load_encoder

        encoder = load_encoder(None, PROBE_LAYER)
        encoder.use_reflect_padding()  # as a run's (OpenVINO converts it once, keyed by its form)
    if decoder is None:
        from pipeline.models.decoder import load_decoder, shipped_weights_path

        decoder = load_decoder(shipped_weights_path())
    if "openvino" in names:  # converted once per weights (seconds, one thread): before the probe's clock
        from pipeline.models.openvino_nets import converted_pair

        converted_pair(encoder, decoder)
    start = time.perf_counter(), time.process_time()
    measured = _time_interleaved(names, (encoder, decoder), _frame(size))
    share = _cpu_share(*start)
    if share >= PROBE_MIN_SHARE:
        _write_cache(key, {**stored, **measured})
    else:
        _THIS_PROCESS.setdefault(key, {}).update(measured)
        log.info("the CPU was busy while the backends were probed (%.0f %% of %d threads): these figures serve "
                 "this process only, the next one measures again", 100 * share, torch.get_num_threads())
    return measured


def _cpu_share(wall_start: float, cpu_start: float) -> float:
    """CPU seconds this process took since ``cpu_start`` over the wall seconds since ``wall_start`` times its
    threads: near 1 when the probe had the cores to itself, about 0.5 when as many busy processes shared them
    (figures that would have put a slower backend first for good). 1 for a wall time too short to judge."""
    wall = time.perf_counter() - wall_start
    if wall < 0.05:
        return 1.0
    return (time.process_time() - cpu_start) / (wall * torch.get_num_threads())


def _frame(long_side: int) -> tuple[int, int]:
    """(H, W) of the 4:3 frame of ``long_side`` the probe times, its sides multiples of 8."""
    return max(16, long_side * 3 // 4 // 8 * 8), max(16, long_side // 8 * 8)


@torch.no_grad()
def _time_interleaved(names: list[str], nets, hw: tuple[int, int]) -> dict[str, float]:
    """Best seconds per call of each backend's ``nets`` (encoder, decoder) on ``hw``: one warm-up call each, then rounds
    taking the backends in turn, so that a burst of load from another process falls on all of them alike
    rather than on whichever ran then (a loaded first run would otherwise be cached). ``PROBE_RUNS`` rounds,
    or ``PROBE_MIN_RUNS`` when by then one backend is ahead of every other by more than ``PROBE_LEAD`` and
    the calls were steady (``_settled``): more rounds would not change the choice, only cost a first run time."""
    runs = {name: _runner(name, nets) for name in names}
    inputs = {name: torch.rand(1, 3, *hw).to(dtype=backend(name).dtype, memory_format=backend(name).memory_format)
              for name in names}
    for name, run in runs.items():
        run(inputs[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    for done in range(1, PROBE_RUNS + 1):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run(inputs[name])
            times[name].append(time.perf_counter() - t0)
        if done >= PROBE_MIN_RUNS and _settled(times):
            break
    return {name: min(seconds) for name, seconds in times.items()}


def _settled(times: dict[str, list[float]]) -> bool:
    """Whether the fastest backend (by its best call) is ahead of every other by more than ``PROBE_LEAD``, and
    no backend's calls spread by more than ``PROBE_SPREAD`` (a burst of load from elsewhere would)."""
    first, *others = sorted(min(seconds) for seconds in times.values())
    steady = all(max(seconds) <= min(seconds) * (1 + PROBE_SPREAD) for seconds in times.values())
    return steady and all(first * (1 + PROBE_LEAD) < other for other in others)


def _runner(name: str, nets):
    """A call running backend ``name``'s encoder to relu4_1 and decoder on a batch, in the forms a run uses."""
    b = backend(name)
    if name in OPENVINO:
        from pipeline.models.openvino_nets import backend_pair

        encode, decode = backend_pair(name, *nets)
        return lambda x: decode(encode(x)[0])
    encoder, decoder = nets
    encoder = encoder.up_to(PROBE_LAYER) if hasattr(encoder, "up_to") else encoder  # only what runs
    encoder, decoder = (copy.deepcopy(n).eval().to(dtype=b.dtype, memory_format=b.memory_format)
                        for n in (encoder, decoder))  # copies: each backend casts its own
    if b.fast_layers:
        use_fast_cpu_layers(encoder)
        use_fast_cpu_layers(decoder)

    def run(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, b.dtype):  # as ``Networks.features`` and ``render`` run them
            return decoder(encoder(x, (PROBE_LAYER,))[0])
    return run


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (Linux: /proc/cpuinfo), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The instruction-set extensions that matter to these kernels, of those the CPU reports."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16", "amx_bf16", "amx_int8",
              "avx_vnni", "neon", "asimd")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith(("flags",
                                                                                                 "Features"))), [])
    return [f for f in wanted if f in flags]


def cache_key(size: int) -> str:
    """What the probe's figures depend on: CPU, cores, threads, PyTorch, the size (rounded up to 64), and
    the instruction sets oneDNN and ATen were limited to (``ISA_LIMITS``), if any; ``enc+dec``: figures of
    both networks (older caches timed the encoder alone); ``quiet``: kept only when the probe had the cores
    (older figures may have been taken under load, and are measured again once); ``at size``: timed at the
    run's size (older figures at half its sides)."""
    size = probe_side(size)
    limits = "".join(f"|{name}={os.environ[name]}" for name in ISA_LIMITS if os.environ.get(name))
    return f"{cpu_model()}|{os.cpu_count()} cpus|{torch.get_num_threads()} threads|torch {torch.__version__}|" \
           f"{-(-size // 64) * 64}|enc+dec|quiet|at size{limits}"


def probe_side(size: int) -> int:
    """The long side the probe times for a run at long side ``size``: the run's, up to ``PROBE_MAX_SIDE``."""
    return min(size, PROBE_MAX_SIDE)


def forget(size: int) -> None:
    """Drop the cached probe figures for ``size`` on this machine: the next run measures again (say, after one
    made on a busy machine)."""
    _THIS_PROCESS.pop(cache_key(size), None)
    data = _read_cache()
    if data.pop(cache_key(size), None) is not None:
        path = (cache_dir() / CACHE_FILE).resolve()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass


def _read_cache() -> dict:
    try:
        return json.loads((cache_dir() / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, figures: dict[str, float]) -> None:
    """Stored by write-and-rename (through a link, to what it points at); a cache that cannot be written
    only costs the next run a probe."""
    path = (cache_dir() / CACHE_FILE).resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache()
        data[key] = figures
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass
