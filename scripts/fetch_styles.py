"""Fetch more training paintings from a Debian package into a folder outside the tree (default out/styles).

The decoder generalises worse to unseen paintings than to unseen photos (eval_decoder.py --gap), and
../shared/data/train/style holds only 105 paintings, so the style side gets more. Debian's gcompris-qt-data
(GPL-3.0-or-later; the paintings themselves are public domain) ships 22 famous paintings for its "paintings"
puzzle, cut into pieces inside a Qt resource file; each is put back together from its board file.

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
LEFT_OUT = ("Great Wave", "Pieta")  # a held-out evaluation style; a photograph of a sculpture


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


def assemble_paintings(files: dict[str, bytes]) -> dict[str, np.ndarray]:
    """GCompris boards: each piece (RGBA) sits centred at (x, y) fractions of the board (drawn here on a canvas
    with half a board of margin, then cropped to the pieces); returns {title: BGR image}."""
    paintings = {}
    for path, text in files.items():
        if not re.search(r"/board/board\d+_0\.qml$", path):
            continue
        board = text.decode()
        title = re.search(r'qsTr\("([^"]*)"\)', board).group(1)
        width, height = (int(re.search(rf'"{k}":\s*(\d+)', board).group(1)) for k in ("width", "height"))
        canvas = np.zeros((2 * height, 2 * width, 3), np.float32)
        cover = np.zeros((2 * height, 2 * width), np.float32)
        folder = path.rsplit("/board/", 1)[0]
        for name, x, y in re.findall(r'"pixmapfile"\s*:\s*"([^"]+\.webp)",\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"',
                                     board):
            piece = cv2.imdecode(np.frombuffer(files[f"{folder}/{name}"], np.uint8), cv2.IMREAD_UNCHANGED)
            alpha = piece[..., 3] / 255.0 if piece.shape[2] == 4 else np.ones(piece.shape[:2])
            h, w = piece.shape[:2]
            top, left = round((float(y) + 0.5) * height - h / 2), round((float(x) + 0.5) * width - w / 2)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/styles"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sources = ["file\tpackage\tversion\ttitle\tlicence"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        version = unpack_deb(GCOMPRIS, root)
        rcc = root / "files/usr/share/gcompris-qt/rcc/paintings.rcc"
        for title, image in sorted(assemble_paintings(read_qt_resources(rcc)).items()):
            if any(word in title for word in LEFT_OUT):
                continue
            name = f"gcompris_{re.sub(r'[^A-Za-z0-9]+', '_', title).strip('_')[:60]}.jpg"
            cv2.imwrite(str(args.out / name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            sources.append(f"{name}\t{GCOMPRIS}\t{version}\t{title}\tpublic domain painting; package GPL-3.0-or-later")
    (args.out / "SOURCES.tsv").write_text("\n".join(sources) + "\n")
    print(f"{len(sources) - 1} paintings in {args.out}")


if __name__ == "__main__":
    main()
