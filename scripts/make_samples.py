"""Rebuild samples/ from registry packages and from what this project generates (see samples/README.md).

Content photos, and the decoder's calibration photos in pipeline/weights/calibration, come from scikit-image's
bundled data (public domain / CC0), the Starry Night from Debian's ``opencv-doc`` examples (``apt-get download
opencv-doc``; public-domain painting), and the generated style and the demo video are made here. Run once by
a developer; the results are committed.

    python scripts/make_samples.py --opencv-doc /path/to/opencv-doc_*.deb
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import skimage.data
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
CALIBRATION = ROOT / "pipeline" / "weights" / "calibration"  # the decoder's calibration photos (packaged)


def save(img: Image.Image, path: Path, long_side: int = 512) -> None:
    img = img.convert("RGB")
    img.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=90)


def generated_style(size: int = 384, cells: int = 90, seed: int = 7) -> Image.Image:
    """A stained-glass mosaic: Voronoi cells in a warm/cool palette with dark leading."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (cells, 2))
    palette = np.array([[231, 76, 60], [241, 196, 15], [39, 174, 96], [41, 128, 185], [142, 68, 173],
                        [230, 126, 34], [26, 188, 156], [236, 240, 241]], dtype=np.float32)
    colours = palette[rng.integers(0, len(palette), cells)] * rng.uniform(0.7, 1.1, (cells, 1))
    yy, xx = np.mgrid[0:size, 0:size]
    d = (xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2
    order = np.argsort(d, axis=2)
    nearest, second = order[..., 0], order[..., 1]
    gap = np.sqrt(np.take_along_axis(d, second[..., None], 2)) - np.sqrt(np.take_along_axis(d, nearest[..., None], 2))
    image = colours[nearest] * (gap > 2.5)
    return Image.fromarray(image.clip(0, 255).astype(np.uint8))


def demo_video(path: Path, photo: np.ndarray, seconds: float = 2.0, fps: int = 24, size=(320, 240)) -> None:
    """A slow pan and zoom over ``photo`` with a 440 Hz tone, H.264 + AAC."""
    w, h = size
    frames = int(seconds * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "23"}
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        ph, pw = photo.shape[:2]
        for i in range(frames):
            t = i / max(frames - 1, 1)
            crop_w = int(pw * (0.8 - 0.2 * t))
            crop_h = crop_w * h // w
            x0 = int((pw - crop_w) * t)
            y0 = int((ph - crop_h) * 0.3)
            crop = Image.fromarray(photo[y0:y0 + crop_h, x0:x0 + crop_w]).resize((w, h), Image.Resampling.BILINEAR)
            for packet in video.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
                out.mux(packet)
        samples = int(seconds * 44100)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[None, start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = 44100
            frame.pts, frame.time_base = start, Fraction(1, 44100)
            for packet in audio.encode(frame):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opencv-doc", type=Path, help="the opencv-doc .deb (else it is fetched with apt-get)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        deb = args.opencv_doc
        if deb is None:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True)
            deb = next(Path(tmp).glob("opencv-doc_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), tmp], check=True)
        starry = Path(tmp) / "usr/share/doc/opencv-doc/examples/data/starry_night.jpg"
        save(Image.open(starry), SAMPLES / "style" / "starry_night.jpg")
    generated_style().save(SAMPLES / "style" / "stained_glass.png")
    save(Image.fromarray(skimage.data.astronaut()), SAMPLES / "content" / "astronaut.jpg")
    save(Image.fromarray(skimage.data.coffee()), SAMPLES / "content" / "coffee.jpg")
    save(Image.fromarray(skimage.data.chelsea()), SAMPLES / "content" / "animals" / "chelsea.jpg")
    save(Image.fromarray(skimage.data.rocket()), SAMPLES / "content" / "space" / "rocket.jpg")
    for name in ("chelsea", "astronaut", "coffee"):
        save(Image.fromarray(getattr(skimage.data, name)()), CALIBRATION / f"{name}.jpg")
    (SAMPLES / "video").mkdir(parents=True, exist_ok=True)
    demo_video(SAMPLES / "video" / "astronaut_pan.mp4", skimage.data.astronaut())


if __name__ == "__main__":
    main()
