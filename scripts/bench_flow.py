"""The flow backends of the temporal step (``--flow opencv`` and ``torch``) for scripts/bench.py: the cost per
consecutive frame pair at 512x288 and 1280x720 (CPU, and CUDA when present), and `stylize video` with the
default temporal mode at 512x288, 720p and 1080p with each backend.

    python scripts/bench.py --flow-only --frames 240 --json out/flow.json
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from bench import DATA, _sync, pipeline_run, upscale_to_1080p
from pipeline.device import pick_device, pick_dtype
from pipeline.process import setup_process


def _clip_batch(clip: Path, work_hw: tuple[int, int], frames: int, device: torch.device) -> torch.Tensor:
    """The clip's first ``frames`` frames at ``work_hw`` on ``device``, (N, 3, H, W) in [0, 1], as the networks
    see them."""
    with av.open(str(clip)) as src:
        images = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), src.decode(video=0))]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255).to(device)
    return F.interpolate(batch, size=work_hw, mode="bilinear", antialias=True, align_corners=False)


def _pairs_once(flow, batch: torch.Tensor, images: list[np.ndarray], pool) -> None:
    """What the temporal step asks of a flow backend for one batch: cues (torch: from the device batch;
    OpenCV: from the host frames ``images``, as the job has them), cuts, flows forward and backward, and each
    backward flow brought to the work size with its confidence on the batch's device."""
    work_hw = tuple(batch.shape[-2:])
    guides = flow.guides(batch) if flow.on_device else [flow.guide(image, work_hw) for image in images]
    previous = [None, *guides[:-1]]
    cuts = flow.cuts(previous, guides, 0.5)
    for future in flow.start_flows(previous, guides, cuts, pool):
        if future is not None:
            flow.backward_and_mask(*future.result(), work_hw, batch.device, soft=True)
    _sync(batch.device)


def flow_costs(clip: Path, frames: int = 9, repeats: int = 5) -> list[dict]:
    """Milliseconds per consecutive frame pair of each flow backend at 512x288 and 1280x720, on the CPU and on
    CUDA when present: the median of ``repeats`` batches of ``frames`` frames, the backends taking turns (a
    shared machine's load then weighs on both alike)."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.options import FlowBackend
    from pipeline.temporal.flow import make_flow_estimator

    rows = []
    devices = [torch.device("cpu")] + [torch.device("cuda")] * torch.cuda.is_available()
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1), thread_name_prefix="flow") as pool:
        for device, work_hw in ((d, hw) for d in devices for hw in ((288, 512), (720, 1280))):
            batch = _clip_batch(clip, work_hw, frames, device)
            images = list((batch * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
            flows = {str(b): make_flow_estimator(b, device) for b in (FlowBackend.OPENCV, FlowBackend.TORCH)}
            times: dict[str, list[float]] = {name: [] for name in flows}
            for turn in range(repeats + 1):  # the first turn warms up
                for name, flow in flows.items():
                    start = time.perf_counter()
                    _pairs_once(flow, batch, images, pool)
                    if turn:
                        times[name].append(time.perf_counter() - start)
            for name in flows:
                rows.append({"device": device.type, "work": f"{work_hw[1]}x{work_hw[0]}", "backend": name,
                             "threads": torch.get_num_threads(),
                             "ms_per_pair": round(1000 * float(np.median(times[name])) / (frames - 1), 2)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def flow_section(style: Path, frames: int) -> dict:
    """The flow backends: per pair, then (``frames`` > 0) `stylize video` with the default temporal mode at
    512x288, 720p and 1080p with each backend, from the 1080p clip: fps and seconds per stage."""
    found: dict = {"flow_per_pair": flow_costs(DATA / "video" / "cockatoo.mp4")}
    if frames <= 0:
        return found
    runs = found["flow_video"] = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = upscale_to_1080p(DATA / "video" / "cockatoo.mp4", Path(tmp) / "clip_1080p.mp4", frames)
        setup_process(pick_device("auto"), pick_dtype("auto", pick_device("auto")))
        for size in (512, 1280, 1920):
            for flow in ("opencv", "torch"):
                row = pipeline_run(clip, style, size, frames, Path(tmp) / f"{size}_{flow}.mp4", "full",
                                   "veryfast", segment_seconds=2.0, flow=flow)
                runs.append({"size": size, "flow": flow, **row})
                print(json.dumps(runs[-1]), flush=True)
    return found
