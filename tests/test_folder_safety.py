"""`stylize folder` never loses or overwrites data: colliding outputs, symlinks in the output tree, links from the
input to the output, leftovers of a killed run, and broken outputs under --skip-existing."""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from pipeline.io.claim import hold_file
from tests.helpers import STYLE_PATH as STYLE, one_error_line, run_cli, save_rgb


def _run(src, dst, decoder, *extra):
    result = run_cli("folder", src, dst, "--style", STYLE, "--decoder", decoder, "--size", "32", "--json", *extra)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_two_inputs_for_one_output_are_refused_before_any_work(tmp_path, random_decoder_file):
    save_rgb(tmp_path / "in" / "a.jpg", 32, 32, seed=1)
    save_rgb(tmp_path / "in" / "a.png", 32, 32, seed=2)
    result, _ = _run(tmp_path / "in", tmp_path / "out", random_decoder_file, "--ext", "png")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "a.jpg" in line and "a.png" in line
    assert not (tmp_path / "out").exists()
    result, summary = _run(tmp_path / "in", tmp_path / "out", random_decoder_file)  # each keeps its format
    assert result.exit_code == 0 and summary["processed"] == 2


def test_a_symlink_inside_the_output_tree_is_refused(tmp_path, random_decoder_file):
    save_rgb(tmp_path / "in" / "sub" / "x.png", 32, 32)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(outside, target_is_directory=True)
    result, _ = _run(tmp_path / "in", tmp_path / "out", random_decoder_file)
    assert result.exit_code == 2 and "symlink" in one_error_line(result.stderr)
    assert list(outside.iterdir()) == []


def test_a_link_from_the_input_to_the_output_is_not_walked(tmp_path, random_decoder_file):
    save_rgb(tmp_path / "in" / "x.png", 32, 32)
    (tmp_path / "in" / "results").symlink_to(tmp_path / "out", target_is_directory=True)
    for _ in range(2):  # the second run would find the first run's output through the link
        result, summary = _run(tmp_path / "in", tmp_path / "out", random_decoder_file)
        assert result.exit_code == 0 and summary["processed"] == 1
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["x.png"]


def test_leftovers_of_a_killed_run_are_removed_and_broken_outputs_redone(tmp_path, random_decoder_file):
    for name in ("a", "b", "c"):
        save_rgb(tmp_path / "in" / f"{name}.png", 32, 32)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.k3j2x.png.part").write_bytes(b"half an image")  # what atomic_write leaves when killed
    (out / "b.png").write_bytes(b"")  # an empty output
    (out / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # one that does not decode
    result, summary = _run(tmp_path / "in", out, random_decoder_file, "--skip-existing")
    assert result.exit_code == 0 and summary["processed"] == 3 and summary["skipped"] == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for name in ("a", "b", "c"):
        assert np.asarray(Image.open(out / f"{name}.png")).shape == (32, 32, 3)
    result, summary = _run(tmp_path / "in", out, random_decoder_file, "--skip-existing")
    assert summary["skipped"] == 3 and summary["processed"] == 0


def test_a_file_another_run_is_writing_is_not_taken_for_a_leftover(tmp_path, random_decoder_file):
    """A temporary file held by a running writer (``atomic_write`` locks it while it writes) stays; one a
    killed run left beside it goes. Before, a second run into the same folder deleted the first's file
    under it, whose rename then failed."""
    save_rgb(tmp_path / "in" / "a.png", 32, 32)
    out = tmp_path / "out"
    out.mkdir()
    writing, left = out / ".a.live1.png.part", out / ".a.dead1.png.part"
    left.write_bytes(b"half an image")
    writing.write_bytes(b"being written")
    fd = os.open(writing, os.O_RDONLY)
    try:
        hold_file(fd)  # as the other run's atomic_write holds it
        result, summary = _run(tmp_path / "in", out, random_decoder_file)
        assert result.exit_code == 0 and summary["processed"] == 1
        assert writing.exists() and not left.exists()
    finally:
        os.close(fd)
