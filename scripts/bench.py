"""Benchmark: the reference per-frame loop against our pipeline, network throughput, folder speed, memory.

    python scripts/bench.py --json out/bench.json            # CPU or CUDA, whichever is here
    python scripts/bench.py --quick                          # smaller grid
    python scripts/bench.py --flow-only --frames 240         # flow backends: per pair, and end to end
    python scripts/bench.py --startup 5                      # seconds to the first frame, caches warm
    python scripts/bench.py --gatys-only                     # Gatys at 256 px: time and final loss, fp32 and bf16

Prints a table and writes JSON. Nothing here asserts a speed: these are figures to record
(docs/BENCHMARKS.md), not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from pipeline.adaptation import default_steps
from pipeline.device import cpu_has_fast_bf16, pick_device, pick_dtype
from pipeline.jobs.folder import FolderOptions, plan_folder, run_folder
from pipeline.io.images import read_image, to_tensor
from pipeline.io.video import EncodeOptions, SegmentWriter, probe
from pipeline.models.decoder import decoder_metadata, load_decoder, shipped_weights_path
from pipeline.models.fast_cpu import nnpack_available
from pipeline.models.vgg import load_encoder
from pipeline.ops.adain import adain
from pipeline.options import StyleOptions
from pipeline.ops.resize import resize_long_side
from pipeline.build import build_stylizer
from pipeline.process import setup_process
from pipeline.stylizer import auto_batch_size
from pipeline.engines.local import stylize_one
from pipeline.options import TemporalOptions, VideoOptions

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STYLIZE_DATA", ROOT.parent / "shared" / "data"))
SIZES = {"256": (256, 256), "512": (512, 512), "720p": (720, 1280), "1080p": (1080, 1920)}


def reference_loop(clip: Path, style_path: Path, size: int, max_frames: int, out: Path) -> dict:
    """The reference AdaIN test loop, faithfully: one frame at a time, fp32, the style image read and encoded
    again for every frame, decode -> stylize -> encode strictly in sequence."""
    device = pick_device("auto")
    encoder = load_encoder(last_layer="relu4_1").to(device)
    decoder = load_decoder(shipped_weights_path()).to(device)
    frames = 0
    start = time.perf_counter()
    with av.open(str(clip)) as inp, av.open(str(out), "w") as dst:
        src = inp.streams.video[0]
        stream = None
        for frame in inp.decode(src):
            if frames >= max_frames:
                break
            content = resize_long_side(to_tensor(frame.to_ndarray(format="rgb24").astype(np.float32) / 255)[None],
                                       size).to(device)
            style = resize_long_side(to_tensor(read_image(style_path).rgb)[None], size).to(device)
            with torch.no_grad():
                h, w = content.shape[-2:]
                content = F.pad(content, (0, (-w) % 8, 0, (-h) % 8), mode="reflect")
                t = adain(encoder(content)[0], encoder(style)[0])
                image = decoder(t).clamp(0, 1)[..., :h, :w]
            rgb = (image[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            if stream is None:
                stream = dst.add_stream("libx264", rate=src.average_rate)
                stream.height, stream.width = h - h % 2, w - w % 2
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb[: h - h % 2, : w - w % 2], format="rgb24")):
                dst.mux(packet)
            frames += 1
        for packet in stream.encode(None):
            dst.mux(packet)
    elapsed = time.perf_counter() - start
    return {"frames": frames, "seconds": round(elapsed, 2), "fps": round(frames / elapsed, 3)}


def pipeline_run(clip: Path, style_path: Path, size: int, max_frames: int, out: Path, temporal: str,
                 preset: str = "medium", parallel: int = 0, segment_seconds: float = 10.0, flow: str = "auto") -> dict:
    """`stylize video` with the CLI's defaults (``parallel`` 0: ``auto_parallel``); decode, compute and
    encode seconds are summed over the lanes."""
    stylizer = build_stylizer(StyleOptions(styles=[style_path]))
    opts = VideoOptions(size=size, max_frames=max_frames, temporal=TemporalOptions(mode=temporal, flow=flow),
                        encode=EncodeOptions(preset=preset), segment_seconds=segment_seconds, parallel=parallel)
    start = time.perf_counter()
    figures = stylize_one(stylizer, clip, out, opts)  # lanes and batch size decided in the plan, as the CLI
    elapsed = time.perf_counter() - start
    return {"frames": figures["frames"], "seconds": round(elapsed, 2), "fps": round(figures["frames"] / elapsed, 3),
            "parallel": figures["parallel"], "batch_size": figures["batch_size"],
            **{k: figures[k] for k in ("decode_s", "compute_s", "encode_s", "join_s")}}


def net_throughput(sizes: list[str], precisions: list[str], batches: list[int], repeats: int) -> list[dict]:
    """Encoder + AdaIN + decoder only, on random frames already on the device. ``fp32-onednn`` is fp32 on
    the CPU without the NNPACK layers (pipeline/models/fast_cpu.py), to show what they bring."""
    device = pick_device("auto")
    rows = []
    style = torch.rand(1, 3, 256, 256)
    for precision in precisions:
        opts = StyleOptions(styles=["random"], precision=precision.removesuffix("-onednn"), device=device.type,
                            calibrate=False, adapt=0, style_size=0)
        stylizer = build_stylizer(opts, styles=[style], fast_cpu=not precision.endswith("-onednn"))
        for name in sizes:
            for batch in batches:
                x = torch.rand(batch, 3, *SIZES[name], device=device)
                try:
                    stylizer(x)  # warm-up (cuDNN autotuning)
                    _sync(device)
                    t0 = time.perf_counter()
                    for _ in range(repeats):
                        stylizer(x)
                    _sync(device)
                    seconds = (time.perf_counter() - t0) / repeats
                    rows.append({"size": name, "precision": precision, "batch": batch,
                                 "images_per_s": round(batch / seconds, 3)})
                except torch.cuda.OutOfMemoryError:
                    rows.append({"size": name, "precision": precision, "batch": batch, "images_per_s": None})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def setup_times(style_path: Path, tmp: Path) -> dict:
    """What a run pays once before its first frame, at the default 512 px: models and style, with calibration,
    and with the device's default ``--adapt`` (CUDA only) into an empty cache."""
    os.environ["STYLIZE_CACHE"] = str(tmp / "cache")
    steps = default_steps(pick_device("auto"))
    runs = {"plain": StyleOptions(styles=[style_path], calibrate=False),
            "calibrated": StyleOptions(styles=[style_path])}
    if steps:
        runs[f"adapted_{steps}"] = StyleOptions(styles=[style_path], adapt=steps)
    times = {}
    for name, opts in runs.items():
        start = time.perf_counter()
        build_stylizer(opts)
        times[name] = round(time.perf_counter() - start, 2)
    return times


def folder_run(style_path: Path, size: int, out: Path) -> dict:
    stylizer = build_stylizer(StyleOptions(styles=[style_path]))
    tasks, _ = plan_folder(DATA / "content", out)
    summary = run_folder(stylizer, tasks, FolderOptions(size=size, batch_size=auto_batch_size(stylizer, (size, size))))
    return {"images": summary.units_done, "seconds": round(summary.elapsed_s, 2),
            "images_per_s": round(summary.units_done / summary.elapsed_s, 3)}


def upscale_to_1080p(clip: Path, out: Path, frames: int) -> Path:
    """A real clip scaled to 1920x1080 (looped if short): the input of the 1080p runs."""
    with av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=30, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        written = 0
        while written < frames:
            with av.open(str(clip)) as src:
                for frame in src.decode(video=0):
                    if written == frames:
                        break
                    scaled = frame.reformat(width=1920, height=1080, format="yuv420p")
                    scaled.pts, scaled.time_base = written, Fraction(1, 30)
                    for packet in stream.encode(scaled):
                        dst.mux(packet)
                    written += 1
        for packet in stream.encode(None):
            dst.mux(packet)
    return out


def encoder_alone(clip: Path, preset: str, frames: int = 120) -> dict:
    """The pipeline's segment writer by itself on the clip's frames (decoded beforehand into the packed yuv420p
    arrays the GPU path hands it): the encoder's own ceiling on this host, to tell a slow encoder from a
    starved one in the end-to-end runs."""
    with av.open(str(clip)) as src:
        images = [f.to_ndarray(format="yuv420p") for _, f in zip(range(frames), src.decode(video=0))]
    size = (images[0].shape[0] * 2 // 3, images[0].shape[1])
    with tempfile.TemporaryDirectory() as tmp:
        writer = SegmentWriter(Path(tmp) / "x.mp4", size, Fraction(30), Fraction(1, 30),
                               EncodeOptions(preset=preset))
        start = time.perf_counter()
        for i, image in enumerate(images):
            writer.write(image, i)
        writer.close()
        elapsed = time.perf_counter() - start
    return {"preset": preset, "frames": len(images), "fps": round(len(images) / elapsed, 1)}


def video_1080p_memory(style_path: Path, src: Path, tmp: Path) -> dict:
    """Peak RSS of `stylize video` on the 1080p clip written back at 1080p (--keep-size), in a child process
    so the figure is that command's alone."""
    import subprocess
    import sys

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "video", str(src), str(tmp / "out_1080p.mp4"), "--style",
                    str(style_path), "--size", "256", "--keep-size"], check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"frames": probe(src).frames, "seconds": round(elapsed, 2), "peak_rss_mb": round(peak, 1)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DATA / "video" / "cutBunny.mp4")
    parser.add_argument("--style", type=Path, default=ROOT / "samples" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--frames-1080p", type=int, default=0,
                        help="frames of the full-1080p end-to-end runs (default: 240 on CUDA, --frames on the CPU)")
    parser.add_argument("--segment-seconds", type=float, default=10.0,
                        help="segments of the runs at --size: lanes (--parallel) need at least two")
    parser.add_argument("--quick", action="store_true", help="fewer sizes, precisions and repeats")
    parser.add_argument("--skip-1080p", action="store_true",
                        help="leave out the 1080p runs (on a CPU without bf16 they take most of an hour)")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench.json")
    parser.add_argument("--upscale-only", action="store_true",
                        help="only the cost per frame of --upscale resize, guided and decode at 1080p and 2160p")
    parser.add_argument("--flow-only", action="store_true",
                        help="only the flow backends: per frame pair, then the default temporal mode end to end at "
                             "512x288, 720p and 1080p with each (--frames frames; 0: per pair only)")
    parser.add_argument("--startup", type=int, metavar="N", help="only the start-up: N runs of `stylize video` "
                        "at 384, the median seconds to the first frame (scripts/bench_startup.py)")
    parser.add_argument("--gatys-only", action="store_true",
                        help="only the Gatys optimisation: one pair at 256 px, 100 L-BFGS iterations, fp32 and bf16 "
                             "(scripts/bench_gatys.py has the knobs)")
    args = parser.parse_args()
    if args.gatys_only:
        from bench_gatys import default_precisions, gatys_section, print_gatys

        found = gatys_section(default_precisions())
        print_gatys(found)
        out = args.json.with_name("gatys.json") if args.json == ROOT / "out" / "bench.json" else args.json
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"device": device_name(), **found}, indent=2) + "\n")
        return
    if args.startup:
        from bench_startup import main as startup

        out = args.json.with_name("startup.json") if args.json == ROOT / "out" / "bench.json" else args.json
        startup(["--runs", str(args.startup), "--json", str(out)])  # not over the full benchmark's figures
        return
    if args.upscale_only or args.flow_only:
        from bench_flow import flow_section  # the flow backends' section (it uses this module's runs)

        found = {"upscale": upscale_costs(args.style)} if args.upscale_only else flow_section(args.style, args.frames)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": device_name(), **found}, indent=2) + "\n")
        return

    device = pick_device("auto")
    cuda = device.type == "cuda"
    sizes = ["256", "512", "720p", "1080p"] if cuda or not args.quick else ["256", "512"]
    # The default first; bf16 only where the CPU has it natively (emulated, it takes hours here).
    precisions = ["bf16", "fp16", "fp32"] if cuda else ["bf16"] * cpu_has_fast_bf16() + ["fp32", "fp32-onednn"]
    batches = [1, 4, 8, 16] if cuda else [1, 4]
    results = {"device": torch.cuda.get_device_name() if cuda else cpu_name(),
               "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "av": av.__version__,
               "clip": args.clip.name, "size": args.size, "frames": args.frames,
               "segment_seconds": args.segment_seconds,
               "decoder_iterations": decoder_metadata(shipped_weights_path()).get("iterations"),
               "cpu_fast_bf16": cpu_has_fast_bf16(), "nnpack": nnpack_available(),
               # What ATen vectorises with and how far oneDNN may go (ONEDNN_MAX_CPU_ISA=AVX2 runs an
               # AVX512-BF16 CPU as one without bf16: docs/BENCHMARKS.md).
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["reference_loop"] = reference_loop(args.clip, args.style, args.size, args.frames, tmp / "ref.mp4")
        print(json.dumps({"reference_loop": results["reference_loop"]}), flush=True)
        setup_process(device, pick_dtype("auto", device))  # what `stylize` does once, before its job
        for temporal in ("off", "full"):
            key = f"pipeline_temporal_{temporal}"
            results[key] = pipeline_run(args.clip, args.style, args.size, args.frames, tmp / f"{temporal}.mp4",
                                        temporal, segment_seconds=args.segment_seconds)
            results[key]["speedup_vs_reference"] = round(results[key]["fps"] / results["reference_loop"]["fps"], 2)
            print(json.dumps({key: results[key]}), flush=True)
        results["folder"] = folder_run(args.style, args.size, tmp / "folder")
        results["setup_s"] = setup_times(args.style, tmp)
        print(json.dumps({"setup_s": results["setup_s"]}), flush=True)
        if not args.skip_1080p:
            results.update(runs_1080p(args.style, args.frames_1080p or (240 if cuda else args.frames), tmp))
        results["net"] = net_throughput(sizes, precisions, batches, repeats=2 if args.quick or not cuda else 10)
        from bench_flow import flow_costs

        results["flow_per_pair"] = flow_costs(args.clip)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if cuda:
        results["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


def upscale_costs(style: Path, repeats: int = 5, decode_repeats: int = 1) -> list[dict]:
    """Milliseconds per frame (median of ``repeats``) to bring a work-size result to the output size, plain
    resize against the guided upsampler (ops/upsample.py), on the CPU; and ``--upscale decode``
    (pipeline/upscale.py: encoder at the work size, decoder at the output size, guided edges), which replaces
    the whole network step, against the network at the work size alone (``decode_repeats`` runs each: seconds)."""
    from pipeline.ops.upsample import guided_upsample
    from pipeline.upscale import decode_at_source

    stylizer = build_stylizer(StyleOptions(styles=[style], device="cpu", adapt=0))
    rows = []
    for work, out in (((288, 512), (1080, 1920)), ((540, 960), (1080, 1920)), ((1080, 1920), (2160, 3840))):
        result, source = torch.rand(1, 3, *work), torch.rand(1, 3, *out)
        ways = {"resize": lambda: F.interpolate(result, size=out, mode="bicubic", align_corners=False),
                "guided": lambda: guided_upsample(result, source),
                "network_at_work": lambda: stylizer(result),
                "decode": lambda: decode_at_source(stylizer, result, source)}
        row = {"work": f"{work[1]}x{work[0]}", "out": f"{out[1]}x{out[0]}"}
        for name, fn in ways.items():
            times = []
            for _ in range(repeats if name in ("resize", "guided") else decode_repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            row[f"{name}_ms"] = round(1000 * float(np.median(times)), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def runs_1080p(style: Path, frames: int, tmp: Path) -> dict:
    """The 1080p figures: memory with --keep-size, x264 alone, and end to end at full size."""
    results = {}
    clip = upscale_to_1080p(DATA / "video" / "cockatoo.mp4", tmp / "clip_1080p.mp4", frames)
    results["video_1080p_keep_size"] = video_1080p_memory(style, clip, tmp)
    print(json.dumps({"video_1080p_keep_size": results["video_1080p_keep_size"]}), flush=True)
    results["x264_1080p_alone"] = [encoder_alone(clip, preset) for preset in ("medium", "veryfast")]
    print(json.dumps({"x264_1080p_alone": results["x264_1080p_alone"]}), flush=True)
    # 2 s segments, so that the 240 frames make enough segments for every lane (users' videos are longer);
    # on CUDA the first run is repeated with one lane to show what the lanes bring.
    runs = [("off", "medium", 0), ("off", "veryfast", 0), ("full", "veryfast", 0)]
    if pick_device("auto").type == "cuda":
        runs.insert(1, ("off", "medium", 1))
    for temporal, preset, parallel in runs:
        key = f"video_1080p_temporal_{temporal}_{preset}" + ("_one_lane" if parallel == 1 else "")
        results[key] = pipeline_run(clip, style, 1920, frames, tmp / f"{key}.mp4", temporal, preset, parallel, 2.0)
        print(json.dumps({key: results[key]}), flush=True)
    return results


def print_table(results: dict) -> None:
    console = Console()
    isa = "" if "cuda_max_allocated_mb" in results else f", {results['cpu_capability']}"
    table = Table(title=f"bench on {results['device']}{isa} ({results['frames']} frames of {results['clip']} "
                        f"at {results['size']})")
    for column in ("run", "lanes", "fps", "speedup", "decode s", "compute s", "encode s"):
        table.add_column(column, overflow="fold")  # a log must tell the 1080p runs apart: no ellipsis
    ref = results["reference_loop"]
    table.add_row("reference loop", "1", str(ref["fps"]), "1.00", "", "", "")
    for key in [k for k in results if k.startswith(("pipeline_", "video_1080p_temporal"))]:
        r = results[key]
        label = key.removeprefix("pipeline_").removeprefix("video_").replace("_", " ")
        table.add_row(label, str(r["parallel"]), str(r["fps"]), str(r.get("speedup_vs_reference", "")),
                      str(r["decode_s"]), str(r["compute_s"]), str(r["encode_s"]))
    console.print(table)
    net = Table(title="network only (images/s)")
    for column in ("size", "precision", "batch", "images/s"):
        net.add_column(column)
    for row in results["net"]:
        net.add_row(row["size"], row["precision"], str(row["batch"]), str(row["images_per_s"]))
    console.print(net)
    if "x264_1080p_alone" in results:
        console.print("x264 alone at 1080p: " + ", ".join(f"{r['preset']} {r['fps']} frames/s"
                                                          for r in results["x264_1080p_alone"]))
        console.print("1080p video (--size 256 --keep-size): peak RSS "
                      f"{results['video_1080p_keep_size']['peak_rss_mb']} MB")
    console.print(f"folder: {results['folder']['images_per_s']} images/s; peak RSS {results['peak_rss_mb']} MB"
                  + (f"; CUDA max allocated {results['cuda_max_allocated_mb']} MB" if "cuda_max_allocated_mb" in results
                     else ""))


if __name__ == "__main__":
    main()
