"""A checkpoint given to `stylize export` or `stylize train --resume` is never unpickled: a crafted file whose
pickle would run code runs nothing and is refused in one line (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipeline.models.decoder import shipped_weights_path
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


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04truncated", b"hello\n"])
def test_damaged_checkpoints_are_one_line(tmp_path, content):
    """Whatever bytes: the safe unpickler raises what it meets (b"hello" starts with BINGET, a KeyError); the
    user sees one line, never a traceback."""
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(content)
    result = run_cli("export", checkpoint, "--out", tmp_path / "d.safetensors")
    assert result.exit_code == 2
    assert str(checkpoint) in one_error_line(result.stderr)
    assert not (tmp_path / "d.safetensors").exists()


def test_other_files_given_as_a_checkpoint_say_what_they_are(tmp_path):
    """The shipped decoder (exported weights) and a torch file that is not a training checkpoint are named as
    such, exit 2, nothing written; `train --out` naming a file is one line too."""
    weights = tmp_path / "decoder.safetensors"
    weights.write_bytes(shipped_weights_path().read_bytes())
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    for given, words in ((weights, "exported decoder weights, not a training checkpoint"),
                         (other, "not a checkpoint of `stylize train` (no config, decoder")):
        result = run_cli("export", given, "--out", tmp_path / "d.safetensors")
        assert result.exit_code == 2 and words in one_error_line(result.stderr)
    assert not (tmp_path / "d.safetensors").exists()
    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    save_rgb(photos / "a.png", 64, 64)
    save_rgb(paintings / "b.png", 64, 64, seed=1)
    (tmp_path / "taken").write_text("a file")
    result = run_cli("train", "--content-dir", photos, "--style-dir", paintings, "--out", tmp_path / "taken",
                     "--iterations", "1", "--workers", "0")
    assert result.exit_code == 2 and "--out" in one_error_line(result.stderr)
    assert (tmp_path / "taken").read_text() == "a file"
