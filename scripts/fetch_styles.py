"""Fetch more training paintings from Debian packages into a folder outside the tree (default out/styles).

The decoder generalises worse to unseen paintings than to unseen photos (eval_decoder.py --gap), and
../shared/data/train/style holds only 105 paintings, so the style side gets more:
- gcompris-qt-data (GPL-3.0-or-later; the paintings themselves are public domain): 22 famous paintings cut
  into pieces for its "paintings" jigsaw, and 13 more with holes cut out for its "details" and "baby shapes"
  activities, each put back together from its board file inside a Qt resource file;
- freecol (GPL-2+; the pictures are public-domain portraits and engravings, 16th to 19th century): 46
  portraits of its founding fathers, monarchs and mercenary leaders, and four engravings;
- Battle for Wesnoth (GPL-2.0-or-later, art included): its story art, digital paintings by several artists:
  the 16 landscapes of the core data and 43 scenes of six campaigns (one whose "story" images are game
  screenshots is not fetched).

Paintings that are also among the held-out evaluation styles (../shared/data/style; titles checked by hand, as
the copies differ in crop and colour) are left out, so the evaluation stays on unseen paintings. Nothing fetched
here is committed: train with a second --style-dir.

    python scripts/fetch_styles.py --out out/styles
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

GCOMPRIS = "gcompris-qt-data"
# Qt resource file of each activity, and what a board's title says when the board is a painting: the other
# boards of "details" are photographs of monuments, those of "babyshapes" a dog and toys.
GCOMPRIS_ACTIVITIES = (("paintings", ""), ("details", "van Gogh"), ("babyshapes", r"\d{4}|century"))
LEFT_OUT = ("Great Wave", "Pieta")  # a held-out evaluation style; a photograph of a sculpture

FREECOL = "freecol"
# Paths under its data folder, and the pixels cropped off each side: the founding fathers hang in a drawn
# gilt frame.
FREECOL_PICTURES = (("default/resources/images/foundingFathers/*.size6.jpg", 76),
                    ("default/resources/images/monarch/*.png", 0),
                    ("default/resources/images/mercenaries/*.jpg", 0),
                    ("mods/19thCenturyNations/resources/images/monarch/leopold.png", 0),
                    ("mods/19thCenturyNations/resources/images/monarch/suleiman.png", 0),
                    ("default/resources/images/ui/landing.png", 0),
                    ("default/resources/images/ui/discovery.png", 0),
                    ("default/resources/images/ui/meet_natives.png", 0),
                    ("default/resources/images/ui/meet_aztec.png", 0))
FREECOL_LEFT_OUT = ("geronimo.png",)  # a photograph

WESNOTH = ("wesnoth-1.16-data", "wesnoth-1.16-did", "wesnoth-1.16-httt", "wesnoth-1.16-l", "wesnoth-1.16-trow",
           "wesnoth-1.16-tsg", "wesnoth-1.16-ttb")
WESNOTH_STORY = (("data/core/images/story/*.jpg", 0), ("data/campaigns/*/images/story/*.jpg", 0),
                 ("data/campaigns/*/images/story/*.png", 0))
WESNOTH_LEFT_OUT = ("landscape-battlefield_nohumans.jpg", "landscape-bridge_sun.jpg")  # the same paintings again


def unpack_deb(package: str, root: Path) -> str:
    """Download the package with apt and unpack it under ``root``/files; returns its version."""
    subprocess.run(["apt-get", "download", package], cwd=root, check=True, capture_output=True)
    deb = next(root.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root / "files")], check=True)
    return deb.name.split("_")[1].replace("%3a", ":")


def read_qt_resources(path: Path) -> dict[str, bytes]:
    """Files of a compiled Qt resource (.rcc): header, then a tree of 14- or 22-byte nodes, names, data.
    (Qt's own tools compile these files but do not unpack them.)"""
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource file")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 22 if version >= 2 else 14
    files: dict[str, bytes] = {}

    def name(offset: int) -> str:
        length = struct.unpack(">H", blob[names + offset:names + offset + 2])[0]
        return blob[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[node:node + 6])
        path = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 2:  # directory: child count, first child
            count, first = struct.unpack(">II", blob[node + 6:node + 14])
            for child in range(first, first + count):
                walk(child, path)
            return
        offset = data + struct.unpack(">I", blob[node + 10:node + 14])[0]
        size = struct.unpack(">I", blob[offset:offset + 4])[0]
        content = blob[offset + 4:offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resources are not supported")
        files[path] = zlib.decompress(content[4:]) if flags & 1 else content

    walk(0, "")
    return files


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def assemble_paintings(files: dict[str, bytes], title_pattern: str = "") -> dict[str, np.ndarray]:
    """GCompris boards whose title matches ``title_pattern``, put back together; returns {title: BGR image}.

    A board is either pieces alone on a blank board of the stated width and height (the jigsaw), or a
    painting with white holes (its SHAPE_BACKGROUND_IMAGE) and the pieces that fill them. Each piece (RGBA)
    sits centred at (x, y) fractions of the board, drawn here on a canvas with half a board of margin, then
    cropped to what is covered."""
    paintings = {}
    for path, text in files.items():
        if not re.search(r"/board/board\d+_\d+\.qml$", path):
            continue
        board = text.decode()
        title = re.search(r'qsTr\("([^"]*)"\)', board)
        if not title or not re.search(title_pattern, title := title.group(1)):
            continue
        folder = path.rsplit("/board/", 1)[0]
        background = re.search(r'"pixmapfile"\s*:\s*"([^"]+\.webp)",\s*"type"\s*:\s*"SHAPE_BACKGROUND_IMAGE"', board)
        if background:
            image = decode(files[f"{folder}/{background.group(1)}"])[..., :3].astype(np.float32)
            known = (image.min(axis=2) <= 250).astype(np.float32)  # the holes are white
        else:
            width, height = (int(re.search(rf'"{k}":\s*(\d+)', board).group(1)) for k in ("width", "height"))
            image, known = np.zeros((height, width, 3), np.float32), np.zeros((height, width), np.float32)
        height, width = known.shape
        canvas = np.zeros((2 * height, 2 * width, 3), np.float32)
        cover = np.zeros((2 * height, 2 * width), np.float32)
        top0, left0 = height // 2, width // 2
        canvas[top0:top0 + height, left0:left0 + width] = image * known[..., None]
        cover[top0:top0 + height, left0:left0 + width] = known
        for name, x, y in re.findall(r'"pixmapfile"\s*:\s*"([^"]+\.webp)",\s*(?:"dropAreaSize"\s*:\s*"\d+",\s*)?'
                                     r'"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"', board):
            piece = decode(files[f"{folder}/{name}"])
            alpha = piece[..., 3] / 255.0 if piece.shape[2] == 4 else np.ones(piece.shape[:2])
            h, w = piece.shape[:2]
            top, left = top0 + round(float(y) * height - h / 2), left0 + round(float(x) * width - w / 2)
            canvas[top:top + h, left:left + w] += piece[..., :3] * alpha[..., None]
            cover[top:top + h, left:left + w] += alpha
        rows, cols = np.nonzero(cover > 0.5)
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        if np.mean(cover[box] > 0.5) < 0.99:  # pieces misplaced: a hole would teach the decoder a flat patch
            print(f"skipped {title!r}: the pieces do not tile its frame")
            continue
        image = canvas[box] / np.maximum(cover[box], 1e-3)[..., None]
        paintings[title] = np.clip(image, 0, 255).astype(np.uint8)
    return paintings


def packaged_pictures(data: Path, patterns: tuple[tuple[str, int], ...], left_out: tuple[str, ...] = ()
                      ) -> dict[str, np.ndarray]:
    """Pictures under ``data`` matching each (glob, pixels cropped off each side), less the files named in
    ``left_out`` and cut-outs (any transparent pixel: logos, a book on nothing); returns {file stem: BGR image}."""
    pictures = {}
    for pattern, margin in patterns:
        for path in sorted(data.glob(pattern)):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if path.name in left_out or (image.shape[2] == 4 and image[..., 3].min() < 250):
                continue
            if (stem := path.name.split(".")[0]) in pictures:
                raise ValueError(f"{path}: a second picture named {stem}")
            pictures[stem] = image[margin:image.shape[0] - margin, margin:image.shape[1] - margin, :3]
    return pictures


def safe_name(prefix: str, title: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]+', '_', title).strip('_')[:60]}.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/styles"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sources = ["file\tpackage\tversion\ttitle\tlicence"]

    def save(name: str, image: np.ndarray, package: str, version: str, title: str, licence: str) -> None:
        cv2.imwrite(str(args.out / name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        sources.append(f"{name}\t{package}\t{version}\t{title}\t{licence}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        version = unpack_deb(GCOMPRIS, root)
        for activity, title_pattern in GCOMPRIS_ACTIVITIES:
            files = read_qt_resources(root / f"files/usr/share/gcompris-qt/rcc/{activity}.rcc")
            for title, image in sorted(assemble_paintings(files, title_pattern).items()):
                if not any(word in title for word in LEFT_OUT):
                    save(safe_name("gcompris", title), image, GCOMPRIS, version, title,
                         "public domain painting; package GPL-3.0-or-later")
        version = unpack_deb(FREECOL, root)
        pictures = packaged_pictures(root / "files/usr/share/games/freecol", FREECOL_PICTURES, FREECOL_LEFT_OUT)
        for title, image in pictures.items():
            save(safe_name("freecol", title), image, FREECOL, version, title,
                 "public domain portrait or engraving; package GPL-2+")
        for package in WESNOTH[1:]:  # the campaigns
            unpack_deb(package, root)
        version = unpack_deb(WESNOTH[0], root)
        pictures = packaged_pictures(root / "files/usr/share/games/wesnoth/1.16", WESNOTH_STORY, WESNOTH_LEFT_OUT)
        for title, image in pictures.items():
            save(safe_name("wesnoth", title), image, WESNOTH[0], version, title, "digital painting; GPL-2.0-or-later")
    (args.out / "SOURCES.tsv").write_text("\n".join(sources) + "\n")
    print(f"{len(sources) - 1} paintings in {args.out}")


if __name__ == "__main__":
    main()
