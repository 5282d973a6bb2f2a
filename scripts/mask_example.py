"""The README's mask picture: source | mask | result, with starry_night where the mask is white (left) and
stained_glass elsewhere, made by the project's own API from the bundled samples.

    python scripts/mask_example.py --out docs/images/masks.jpg
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "samples" / "content" / "animals" / "chelsea.jpg"
STYLES = [ROOT / "samples" / "style" / "starry_night.jpg", ROOT / "samples" / "style" / "stained_glass.png"]


def left_mask(size: tuple[int, int]) -> Image.Image:
    """White on the left half, black on the right (the seam is feathered by the stylizer)."""
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[:, : size[0] // 2] = 255
    return Image.fromarray(mask, "L")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "masks.jpg")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()

    import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        mask_path = Path(tmp) / "left.png"
        source = Image.open(CONTENT).convert("RGB")
        left_mask(source.size).save(mask_path)
        result = pipeline.stylize_image(CONTENT, STYLES, masks=[mask_path, None], size=args.size)
        mask = Image.open(mask_path).convert("RGB")
    panels = [p.resize(result.size, Image.LANCZOS) for p in (source, mask)] + [result]
    sheet = Image.new("RGB", (3 * result.width + 16, result.height + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (panel, label) in enumerate(zip(panels, ("source", "--mask (white: starry_night)", "result"))):
        sheet.paste(panel, (i * (result.width + 8), 22))
        draw.text((i * (result.width + 8) + 4, 5), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=args.quality, optimize=True)
    print(f"{args.out}: {sheet.width}x{sheet.height}, {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
