"""A checkpoint given to `stylize export` or `stylize train --resume` is never unpickled: a crafted file whose
pickle would run code runs nothing and is refused in one line (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.conftest import SAMPLES
from tests.helpers import one_error_line, run_cli, save_rgb


class _Payload:
    """Unpickling this calls os.mkdir(marker): the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _crafted(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"decoder": {}, "iteration": 1, "payload": _Payload(marker)}, path)
    return path


def test_export_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = _crafted(tmp_path / "ck" / "checkpoint.pt", marker)
    out = tmp_path / "decoder.safetensors"
    result = run_cli("export", checkpoint, "--out", out)
    assert result.exit_code == 2
    assert str(checkpoint) in one_error_line(result.stderr)
    assert not marker.exists() and not out.exists()


def test_train_resume_refuses_a_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    out = tmp_path / "ck"
    _crafted(out / "checkpoint.pt", marker)
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    for i in range(2):
        save_rgb(photos / f"p{i}.png", 64, 64, seed=i)
    (paintings).mkdir()
    (paintings / "s.png").write_bytes((SAMPLES / "style" / "stained_glass.png").read_bytes())
    result = run_cli("train", "--content-dir", photos, "--style-dir", paintings, "--out", out, "--iterations", "2",
                     "--batch-size", "1", "--crop", "32", "--resume", "--device", "cpu")
    assert result.exit_code == 2
    assert "checkpoint" in one_error_line(result.stderr)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04truncated"])
def test_damaged_checkpoints_are_one_line(tmp_path, content):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(content)
    result = run_cli("export", checkpoint, "--out", tmp_path / "d.safetensors")
    assert result.exit_code == 2
    assert str(checkpoint) in one_error_line(result.stderr)
    assert not (tmp_path / "d.safetensors").exists()
