"""scripts/fetch_styles.py: Qt resource files are unpacked, puzzle pieces go back together exactly, and
packaged pictures are picked by pattern, framed ones cropped, cut-outs and listed files left out."""

import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from fetch_styles import assemble_paintings, packaged_pictures, read_qt_resources  # noqa: E402


def _rcc(tmp_path: Path) -> Path:
    """A version-1 .rcc: root -> (a/ -> b.txt zlib-compressed, c.bin stored)."""
    names, name_offsets = b"", {}
    for name in ("a", "b.txt", "c.bin"):
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    payload_b, payload_c = b"hello " * 20, b"\x00\x01raw"
    compressed = struct.pack(">I", len(payload_b)) + zlib.compress(payload_b)
    data = struct.pack(">I", len(compressed)) + compressed
    data_c = len(data)
    data += struct.pack(">I", len(payload_c)) + payload_c
    tree = (struct.pack(">IHII", 0, 2, 2, 1)                       # 0: root, children 1-2
            + struct.pack(">IHII", name_offsets["a"], 2, 1, 3)     # 1: a/, child 3
            + struct.pack(">IHHHI", name_offsets["c.bin"], 0, 0, 0, data_c)
            + struct.pack(">IHHHI", name_offsets["b.txt"], 1, 0, 0, 0))
    header = 20
    blob = b"qres" + struct.pack(">IIII", 1, header, header + len(tree), header + len(tree) + len(data))
    path = tmp_path / "x.rcc"
    path.write_bytes(blob + tree + data + names)
    return path


def test_qt_resources_are_unpacked(tmp_path):
    files = read_qt_resources(_rcc(tmp_path))
    assert files == {"/a/b.txt": b"hello " * 20, "/c.bin": b"\x00\x01raw"}


def _webp(image: np.ndarray) -> bytes:
    return cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()  # 101: lossless


def _board(title: str, pieces: list[tuple[str, float, float]]) -> bytes:
    items = ",".join(f'{{"pixmapfile" : "{name}", "x" : "{x}", "y" : "{y}"}}' for name, x, y in pieces)
    return (f'property string instruction: qsTr("{title}")\nproperty var levels : [{{"pixmapfile" : "image/bg.svg",'
            f' "type" : "SHAPE_BACKGROUND_IMAGE", "width": 200, "height": 150}},{items}]').encode()


def test_jigsaw_pieces_are_put_back_together(tmp_path):
    painting = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    files, pieces = {}, []
    rows, cols = [(0, 20), (20, 60)], [(0, 30), (30, 80)]  # pieces of different sizes, as real ones are
    for r, (top, bottom) in enumerate(rows):
        for c, (left, right) in enumerate(cols):
            piece = painting[top:bottom, left:right]
            piece = np.dstack([piece, np.full(piece.shape[:2], 255, np.uint8)])
            name = f"image/p{r}{c}.webp"
            files[f"/act/resource/{name}"] = _webp(piece)
            # Centre of the piece on the 200 x 150 board, the painting's corner at (20, 10).
            pieces.append((name, (20 + (left + right) / 2) / 200, (10 + (top + bottom) / 2) / 150))
    files["/act/resource/board/board1_0.qml"] = _board("Whole", pieces)
    files["/act/resource/board/board2_0.qml"] = _board("Holed", pieces[:1] + [(pieces[3][0], 0.9, 0.9)])
    assembled = assemble_paintings(files)
    assert list(assembled) == ["Whole"]  # the board whose pieces leave a hole is skipped
    assert np.array_equal(assembled["Whole"], painting)


def test_holes_in_a_painting_are_filled_by_its_pieces():
    painting = np.random.default_rng(1).integers(0, 240, (60, 80, 3), dtype=np.uint8)
    holed = painting.copy()
    holed[10:30, 20:50] = 255  # GCompris cuts the pieces out in white
    piece = np.dstack([painting[5:35, 15:55], np.full((30, 40), 255, np.uint8)])  # overlaps the hole's rim
    files = {"/act/resource/image/bg.webp": _webp(holed), "/act/resource/image/piece.webp": _webp(piece)}

    def board(title: str, x: float) -> bytes:
        return (f'property string instruction: qsTr("{title}")\nproperty var levels: [{{"pixmapfile" :'
                f' "image/bg.webp", "type" : "SHAPE_BACKGROUND_IMAGE"}}, {{"pixmapfile" : "image/piece.webp",'
                f' "dropAreaSize" : "10", "x" : "{x}", "y" : "{20 / 60}"}}]').encode()

    files["/act/resource/board/board7_0.qml"] = board("A painter, A painting - 1890", 35 / 80)
    files["/act/resource/board/board7_1.qml"] = board("A painter, Misplaced - 1890", 20 / 80)
    files["/act/resource/board/board8_0.qml"] = board("A castle", 35 / 80)
    assembled = assemble_paintings(files, title_pattern=r"\d{4}")
    assert list(assembled) == ["A painter, A painting - 1890"]  # the castle is no painting; a hole stays
    assert np.array_equal(assembled["A painter, A painting - 1890"], painting)


def test_packaged_pictures_crop_frames_and_leave_out_cut_outs(tmp_path):
    rng = np.random.default_rng(2)
    framed, opaque, cut_out = (rng.integers(0, 256, (40, 50, channels), dtype=np.uint8) for channels in (3, 4, 4))
    opaque[..., 3], cut_out[..., 3] = 255, 255
    cut_out[0, 0, 3] = 0  # one transparent pixel makes a cut-out
    for folder, name, image in (("frames", "king.size6.png", framed), ("scenes", "ship.png", opaque),
                                ("scenes", "logo.png", cut_out), ("scenes", "photo.png", opaque),
                                ("other", "skip.png", opaque), ("other", "ship.png", opaque)):
        (tmp_path / folder).mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / folder / name), image)
    pictures = packaged_pictures(tmp_path, (("frames/*.size6.png", 4), ("scenes/*.png", 0)), ("photo.png",))
    assert sorted(pictures) == ["king", "ship"]
    assert np.array_equal(pictures["king"], framed[4:36, 4:46])
    assert np.array_equal(pictures["ship"], opaque[..., :3])
    with pytest.raises(ValueError, match="second picture named ship"):  # two folders' ship.png: refused
        packaged_pictures(tmp_path, (("*/ship.png", 0),))
