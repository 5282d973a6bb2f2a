"""Quality benchmark: flicker against style for the default temporal mode, and style kept at source size.

    python scripts/quality.py --json out/quality.json                 # all 8 clips, 48 frames at 256
    python scripts/quality.py --clips davis_bear cutBunny --frames 24
    python scripts/quality.py --flows opencv torch --json out/flows.json   # the two flow backends side by side
    python scripts/quality.py --keep-size --json out/upscale.json     # photos: --upscale resize, guided, decode
    python scripts/quality.py --precisions bf16 int8 --record         # photos: the CPU precisions' gate at 512
    python scripts/quality.py --video-precisions bf16 int8 --record   # clips: its warping-error half

Video (default): each clip of ../shared/data/video is stylized with ``--temporal off`` and with the default
temporal settings through the video job; per clip it prints the warping error (Lai et al. 2018, occlusion
masked; lower is steadier) of both and their ratio, and the mean style loss (AdaIN protocol, against the
style at the work size) of both and the change in per cent. The issue's aim: ratio <= 0.5, change <= +10 %.
``--flows opencv torch``: the default temporal settings once per flow backend (``--flow``), each a column, and
the warping error and style loss of each backend against the first (the aim for torch: within 5 % of opencv).
The metric's flow is DIS FAST, the opencv backend's own: it favours that backend (an output carried along a
flow scores best when judged by the same flow), so the comparison also gives the warping error judged with
two reference flows: DIS MEDIUM at the work size, and Farneback, which neither backend uses.

``--keep-size``: photos of ../shared/data/content with paintings of ../shared/data/style go through the
folder job at the work size, and at the source size with ``--upscale resize``, ``guided`` and ``decode``; the style
ratio is an output's style loss over its photo's (both against the painting at the scored image's size):
how much of the distance to the style is left. A good upsampler brings the source-size ratio toward the
work-size one. Nothing here asserts: these are figures to record (docs/TEMPORAL.md, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from pipeline.build import build_stylizer, load_style_images
from pipeline.calibration import calibration_size_for
from pipeline.engines.local import stylize_one
from pipeline.io.images import read_image, to_tensor
from pipeline.io.video import decode_frames, probe
from pipeline.jobs.folder import plan_folder, run_folder
from pipeline.metrics import style_loss, warping_error
from pipeline.options import FolderOptions, StyleOptions, TemporalOptions, VideoOptions
from pipeline.precision_gate import CLIP_WARP_PCT, options_for
from pipeline.temporal.flow import FlowEstimator

DATA = Path(os.environ.get("STYLIZE_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
PAIRS = {  # painting -> photos, for --keep-size (strokes of several kinds: swirls, flat areas, mosaic, lines)
    "starry_night.jpg": ["golden_gate.jpg", "tubingen.jpg"],
    "mosaic.jpg": ["chicago.jpg", "sailboat.jpg"],
    "the_scream.jpg": ["brad_pitt.jpg", "venice_boat.jpg"],
    "sketch.jpg": ["newyork.jpg", "taj_mahal.jpg"],
}


def _tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8, or float in [0, 1] (as read_image gives), to (1, 3, H, W) float in [0, 1]."""
    image = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    return image / 255 if frame.dtype == np.uint8 else image


def mean_style_loss(encoder, frames: list[np.ndarray], style: torch.Tensor, every: int) -> float:
    return float(np.mean([style_loss(encoder, _tensor(f), style).item() for f in frames[::every]]))


class FarnebackFlow(FlowEstimator):
    """OpenCV's Farneback flow (polynomial expansion, 4 levels) in place of DIS: a reference for the warping
    error that neither flow backend computes."""

    def small_flows(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calc = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 9, 4, 5, 1.1, 0)  # noqa: E731
        return calc(previous, current), calc(current, previous)


REFERENCES = {"dis_medium": lambda: FlowEstimator(preset=cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
              "farneback": FarnebackFlow}  # the warping error's reference flows beside the metric's DIS FAST


def _runs(flows: list[str]) -> dict[str, TemporalOptions]:
    """--temporal off, then the default temporal settings with each flow backend (``default``: just --flow auto)."""
    if flows == ["auto"]:
        return {"off": TemporalOptions(mode="off"), "default": TemporalOptions()}
    return {"off": TemporalOptions(mode="off"), **{flow: TemporalOptions(flow=flow) for flow in flows}}


def _scored(stylizer, clip: Path, dst: Path, opts: VideoOptions, row: dict, name: str, inputs: list[np.ndarray],
            encoder, args) -> list[np.ndarray]:
    """``clip`` through the video job into ``dst``; in ``row`` the seconds it took, its warping error against
    ``inputs`` and its mean style loss (``encoder``: the one every run of the row is scored with). Its frames."""
    start = time.perf_counter()
    stylize_one(stylizer, clip, dst, opts)
    row[f"seconds_{name}"] = round(time.perf_counter() - start, 2)
    outputs = [f.image for f in decode_frames(probe(dst))]
    style = load_style_images([args.style], max(outputs[0].shape[:2]))[0]
    row[f"warp_{name}"] = warping_error(inputs, outputs)
    row[f"style_{name}"] = mean_style_loss(encoder, outputs, style, args.every)
    return outputs


def _against(row: dict, first: str, others: list[str]) -> None:
    """Each of ``others``' warping error and style loss against ``first``'s, in per cent, into ``row``."""
    for name in others:
        row[f"warp_{name}_vs_{first}_pct"] = 100 * (row[f"warp_{name}"] / max(row[f"warp_{first}"], 1e-12) - 1)
        row[f"style_{name}_vs_{first}_pct"] = 100 * (row[f"style_{name}"] / row[f"style_{first}"] - 1)


def clip_row(stylizer, clip: Path, args, tmp: Path) -> dict:
    """One clip stylized with --temporal off and the default (per flow backend): warping errors, style losses,
    seconds."""
    inputs = [f.image for f in decode_frames(probe(clip), max_frames=args.frames)]
    row: dict = {"clip": clip.stem, "frames": len(inputs)}
    runs = _runs(args.flows)
    for name, temporal in runs.items():
        opts = VideoOptions(size=args.size, max_frames=args.frames, temporal=temporal)
        outputs = _scored(stylizer, clip, tmp / f"{clip.stem}.{name}.mp4", opts, row, name, inputs,
                          stylizer.encoder, args)
        if len(args.flows) > 1 and name != "off":  # backends side by side: also judged by flows of neither
            for ref, make in REFERENCES.items():
                row[f"warp_{name}_{ref}"] = warping_error(inputs, outputs, make())
    first, *others = list(runs)[1:]
    row["warp_ratio"] = row[f"warp_{first}"] / max(row["warp_off"], 1e-12)
    row["style_change_pct"] = 100 * (row[f"style_{first}"] / row["style_off"] - 1)
    _against(row, first, others)  # each further backend against the first
    for name in others:
        for ref in REFERENCES:
            judged = row[f"warp_{name}_{ref}"] / row[f"warp_{first}_{ref}"]
            row[f"warp_{name}_vs_{first}_{ref}_pct"] = 100 * (judged - 1)
    return row


def _print_row(r: dict, names: list[str]) -> None:
    first, *others = names
    line = (f"{r['clip']:<22} {r['warp_off']:9.5f} " + " ".join(f"{r[f'warp_{n}']:9.5f}" for n in names)
            + f" {r['warp_ratio']:6.2f} {r['style_off']:9.0f} " + " ".join(f"{r[f'style_{n}']:9.0f}" for n in names)
            + f" {r['style_change_pct']:+7.1f}%")
    for n in others:
        line += f" {r[f'warp_{n}_vs_{first}_pct']:+7.1f}% {r[f'style_{n}_vs_{first}_pct']:+7.1f}%"
        line += "".join(f" {r[f'warp_{n}_vs_{first}_{ref}_pct']:+7.1f}%" for ref in REFERENCES)
    print(line, flush=True)


def _clips(args) -> list[Path]:
    clips = sorted((DATA / "video").glob("*.mp4"))
    if args.clips:
        clips = [c for c in clips if any(c.stem.startswith(name.removesuffix(".mp4")) for name in args.clips)]
    return clips


def _stylizer(args, **style):
    return build_stylizer(StyleOptions(styles=[args.style], style_size=args.size,
                                       calibration_size=calibration_size_for(args.size), **style))


def video_table(args) -> list[dict]:
    stylizer = _stylizer(args)
    clips = _clips(args)
    rows = []
    names = [n for n in _runs(args.flows) if n != "off"]
    print(f"{'clip':<22} {'warp off':>9} " + " ".join(f"{n:>9}" for n in names) + f" {'ratio':>6} {'style off':>9} "
          + " ".join(f"{n:>9}" for n in names) + f" {'change':>8}"
          + "".join(f" {'warp ' + n:>8} {'style ' + n:>8}" + "".join(f" {ref[:8]:>8}" for ref in REFERENCES)
                    for n in names[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            rows.append(clip_row(stylizer, clip, args, Path(tmp)))
            _print_row(rows[-1], names)
    if rows:
        pad = " " * (10 * len(names))
        print(f"{'worst':<22} {'':>9} {pad}{max(r['warp_ratio'] for r in rows):6.2f} {'':>9} {pad}"
              f"{max(r['style_change_pct'] for r in rows):+7.1f}%"
              + "".join(f" {max(r[f'warp_{n}_vs_{names[0]}_pct'] for r in rows):+7.1f}%"
                        f" {max(r[f'style_{n}_vs_{names[0]}_pct'] for r in rows):+7.1f}%"
                        + "".join(f" {max(r[f'warp_{n}_vs_{names[0]}_{ref}_pct'] for r in rows):+7.1f}%"
                                  for ref in REFERENCES) for n in names[1:]))
    return rows


def precision_video_table(args) -> list[dict]:
    """The video half of the precision gate: each clip through the default temporal mode at each of
    ``args.video_precisions`` on the CPU; per clip the warping error and style loss of each precision, and of
    each after the first against the first (the gate: warping error at most +5 % over bf16's). With
    ``--record``, int8's worst rise against bf16 is stored in the int8 provenance (``int8.passed_gate``)."""
    first, *others = names = args.video_precisions
    stylizers = {p: _stylizer(args, device="cpu", **options_for(p)) for p in names}
    print(f"{'clip':<22} " + " ".join(f"{'warp ' + p:>10} {'style ' + p:>10}" for p in names)
          + "".join(f" {'warp ' + p:>9} {'style ' + p:>9}" for p in others))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in _clips(args):
            inputs = [f.image for f in decode_frames(probe(clip), max_frames=args.frames)]
            row: dict = {"clip": clip.stem, "frames": len(inputs)}
            for p in names:
                _scored(stylizers[p], clip, Path(tmp) / f"{clip.stem}.{p}.mp4",
                        VideoOptions(size=args.size, max_frames=args.frames), row, p, inputs,
                        stylizers[first].encoder, args)
            _against(row, first, others)
            rows.append(row)
            print(f"{row['clip']:<22} " + " ".join(f"{row[f'warp_{p}']:10.5f} {row[f'style_{p}']:10.0f}" for p in names)
                  + "".join(f" {row[f'warp_{p}_vs_{first}_pct']:+8.1f}% {row[f'style_{p}_vs_{first}_pct']:+8.1f}%"
                            for p in others), flush=True)
    worst = {p: max(rows, key=lambda r: r[f"warp_{p}_vs_{first}_pct"]) for p in others}
    worst = {p: (r["clip"], r[f"warp_{p}_vs_{first}_pct"]) for p, r in worst.items()}
    print("worst warping error rise against " + first + ": "
          + ", ".join(f"{p} {w:+.1f}% on {c} ({'pass' if w <= CLIP_WARP_PCT else 'FAIL'})"
                      for p, (c, w) in worst.items()))
    if args.record and first == "bf16" and "int8" in worst:
        clip, rise = worst["int8"]
        _record_gate({"video": {"clips": [r["clip"] for r in rows], "frames": args.frames, "size": args.size,
                                "worst_warp_rise_pct": round(rise, 2), "worst_clip": clip,
                                "pass": rise <= CLIP_WARP_PCT}})
    return rows


def _record_gate(figures: dict) -> None:
    """Merge ``figures`` into the quality gate of the shipped int8 models' provenance (what auto reads)."""
    from pipeline.models.int8 import model_dir

    path = model_dir() / "provenance.json"
    provenance = json.loads(path.read_text())
    provenance["quality_gate"] = {**provenance.get("quality_gate", {}), **figures}
    path.write_text(json.dumps(provenance, indent=1) + "\n")


def _style_ratio(encoder, image: np.ndarray, photo: np.ndarray, painting: Path) -> float:
    style = load_style_images([painting], max(image.shape[:2]))[0]
    return style_loss(encoder, _tensor(image), style).item() / style_loss(encoder, _tensor(photo), style).item()


def _folder_outputs(stylizer, src: Path, dst: Path, opts: FolderOptions) -> dict[str, np.ndarray]:
    shutil.rmtree(dst, ignore_errors=True)
    tasks, _ = plan_folder(src, dst, ".png")
    run_folder(stylizer, tasks, opts)
    return {t.src.name: read_image(t.dst).rgb for t in tasks}


def keep_size_table(args) -> list[dict]:
    """Style ratio at the work size and at the source size for each upsampler, per photo and painting."""
    rows = []
    modes = {"work": {"keep_size": False}, "resize": {"keep_size": True, "upscale": "resize"},
             "guided": {"keep_size": True, "upscale": "guided"}, "decode": {"keep_size": True, "upscale": "decode"}}
    print(f"{'painting':<16} {'photo':<18} " + " ".join(f"{m:>7}" for m in modes))
    with tempfile.TemporaryDirectory() as tmp:
        for painting, photos in PAIRS.items():
            src = Path(tmp) / "src"
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir()
            for photo in photos:
                shutil.copy(DATA / "content" / photo, src / photo)  # a scratch folder for the job, deleted after
            path = DATA / "style" / painting
            options = StyleOptions(styles=[path], style_size=args.size, calibration_size=calibration_size_for(args.size))
            stylizer = build_stylizer(options)
            outs = {m: _folder_outputs(stylizer, src, Path(tmp) / m, FolderOptions(size=args.size, batch_size=1, **kw))
                    for m, kw in modes.items()}
            for photo in photos:
                source = read_image(src / photo).rgb
                work = outs["work"][photo]
                small = torch.nn.functional.interpolate(to_tensor(source)[None], size=work.shape[:2], mode="area")
                small = small[0].permute(1, 2, 0).numpy()
                row = {"painting": painting, "photo": photo, "work_hw": list(work.shape[:2]),
                       "source_hw": list(source.shape[:2])}
                for m in modes:
                    row[m] = _style_ratio(stylizer.encoder, outs[m][photo], small if m == "work" else source, path)
                rows.append(row)
                print(f"{painting:<16} {photo:<18} " + " ".join(f"{row[m]:7.3f}" for m in modes), flush=True)
    if rows:
        print(f"{'mean':<35} " + " ".join(f"{np.mean([r[m] for r in rows]):7.3f}" for m in modes))
    return rows


def precision_table(args) -> dict:
    """The quality gate of each of ``args.precisions`` at 512 px (pipeline/precision_gate.py), printed."""
    from pipeline.precision_gate import run_gate

    figures = run_gate(DATA, args.precisions)
    for name, row in figures.items():
        print(f"{name}: pass {row['pass']}, style ratio {row['style_ratio']:.4f} (fp32 {row['style_ratio_fp32']:.4f}), "
              f"worst pair +{row['worst_style_rise']:.4f}, content +{row['worst_content_rise']:.4f}, "
              f"PSNR {row['psnr_mean']:.1f} dB mean, {row['psnr_worst']:.1f} worst")
    if args.record and "int8" in figures:
        _record_gate({k: v for k, v in figures["int8"].items() if k != "pairs"})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", help="clip names (or prefixes) in ../shared/data/video; default all")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--every", type=int, default=2, help="style loss on every Nth output frame")
    parser.add_argument("--flows", nargs="+", default=["auto"], choices=["auto", "opencv", "torch"],
                        help="flow backends (--flow) of the temporal runs, each a column; the first is the reference")
    parser.add_argument("--style", type=Path, default=DATA / "style" / "starry_night.jpg")
    parser.add_argument("--keep-size", action="store_true", help="photos: style ratio at source size per upsampler")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--precisions", nargs="+", choices=["bf16", "openvino", "int8", "fp16"],
                        help="photos: the quality gate of these CPU precisions against fp32 (precision_gate.py)")
    parser.add_argument("--video-precisions", nargs="+", choices=["bf16", "openvino", "int8", "fp32"],
                        help="clips: the default temporal mode at each CPU precision, warping error against the first")
    parser.add_argument("--record", action="store_true", help="with --precisions or --video-precisions and int8: "
                        "store its gate figures in pipeline/weights/int8/provenance.json (what --precision auto reads)")
    args = parser.parse_args()
    if args.precisions:
        rows = precision_table(args)
    elif args.video_precisions:
        rows = precision_video_table(args)
    else:
        rows = keep_size_table(args) if args.keep_size else video_table(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
