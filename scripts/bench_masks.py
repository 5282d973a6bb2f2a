"""Masks, measured: the style loss of each side of a photo stylized with A on the left (``--mask``) and B on
the right, against both styles; and the time of a masked image against an unmasked one (same photo, same
styles, runs interleaved, medians). Prints a table and JSON.

    python scripts/bench_masks.py --content ../shared/data/content/golden_gate.jpg --size 512 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
STYLES = [ROOT / "samples" / "style" / "starry_night.jpg", ROOT / "samples" / "style" / "stained_glass.png"]


def side_losses(encoder, image: Image.Image, styles: list[torch.Tensor]) -> dict:
    """Style loss of the left and right thirds against each style (the middle third holds the seam)."""
    from pipeline.metrics import style_loss

    x = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]
    third = x.shape[-1] // 3
    return {side: {name: round(float(style_loss(encoder, part, s)), 1) for name, s in zip("AB", styles)}
            for side, part in (("left", x[..., :third]), ("right", x[..., -third:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import pipeline
    from pipeline.build import load_style_images
    from pipeline.models.vgg import load_encoder

    with tempfile.TemporaryDirectory() as tmp:
        width, height = Image.open(args.content).size
        mask = np.zeros((height, width), np.uint8)
        mask[:, : width // 2] = 255
        Image.fromarray(mask).save(Path(tmp) / "left.png")
        masked = pipeline.load_stylizer(STYLES, size=args.size, masks=[Path(tmp) / "left.png", None])
        plain = {name: pipeline.load_stylizer(style, size=args.size) for name, style in zip("AB", STYLES)}
        mixed = pipeline.load_stylizer(STYLES, size=args.size)
        encoder = load_encoder()
        styles = [load_style_images([p], args.size)[0] for p in STYLES]
        report = {"content": str(args.content), "size": args.size, "torch_threads": torch.get_num_threads(),
                  "loss": {"masked A|B": side_losses(encoder, masked(args.content), styles),
                           **{f"all {k}": side_losses(encoder, s(args.content), styles) for k, s in plain.items()}}}
        times: dict[str, list[float]] = {"masked": [], "unmasked": [], "masked_cpu": [], "unmasked_cpu": []}
        for _ in range(args.repeats):  # interleaved, so a busy machine weighs on both alike
            for name, stylizer in (("masked", masked), ("unmasked", mixed)):
                t0, c0 = time.perf_counter(), time.process_time()
                stylizer(args.content)
                times[name].append(time.perf_counter() - t0)
                times[f"{name}_cpu"].append(time.process_time() - c0)
    report["seconds"] = {k: round(statistics.median(v), 3) for k, v in times.items()}
    report["seconds_min"] = {k: round(min(v), 3) for k, v in times.items()}
    report["masked_over_unmasked"] = round(report["seconds"]["masked"] / report["seconds"]["unmasked"], 3)
    report["masked_over_unmasked_cpu"] = round(report["seconds"]["masked_cpu"] / report["seconds"]["unmasked_cpu"], 3)
    for name, sides in report["loss"].items():
        print(f"{name:12s} " + "  ".join(f"{side}: A {v['A']:8.1f} B {v['B']:8.1f}" for side, v in sides.items()))
    med, low = report["seconds"], report["seconds_min"]
    print(f"median wall s: masked {med['masked']}, unmasked {med['unmasked']} (x{report['masked_over_unmasked']}); "
          f"median CPU s: masked {med['masked_cpu']}, unmasked {med['unmasked_cpu']} "
          f"(x{report['masked_over_unmasked_cpu']}); min wall s: {low['masked']}, {low['unmasked']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
