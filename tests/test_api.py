"""The Python API: each input kind gives its kind back, stylized as ``stylize folder`` stylizes; bad inputs are
one clear error; importing the package stays light and the process setup is what the CLI gets."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pipeline
from pipeline.errors import ImageReadError, OptionError, StyleError, UsageError
from pipeline.metrics import style_loss
from pipeline.models.decoder import shipped_weights_path
from pipeline.build import load_style_images
from tests.conftest import SAMPLES
from tests.helpers import run_cli

pytestmark = pytest.mark.skipif(shipped_weights_path() is None, reason="no trained decoder is shipped")
STYLE = SAMPLES / "style" / "starry_night.jpg"
SIZE = 128  # the work size: small enough for the CPU suite


@pytest.fixture(scope="module")
def stylizer():
    return pipeline.load_stylizer(STYLE, size=SIZE)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A real photo as a lossless file (so the path, the PIL image and the array hold the same pixels)."""
    path = tmp_path_factory.mktemp("content") / "coffee.png"
    Image.open(SAMPLES / "content" / "coffee.jpg").convert("RGB").save(path)
    return path


def _as_float(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.reshape(-1, *image.shape[-2:]).permute(1, 2, 0).numpy() * 255
    return np.asarray(image, dtype=np.float64)


def test_a_path_gives_the_image_stylize_folder_writes(tmp_path, photo):
    """Same defaults as the CLI: the API's image for a path is the very file ``stylize folder`` writes, at the
    work size and with --keep-size."""
    for keep in (False, True):
        out = tmp_path / f"keep_{keep}"
        flags = ["--keep-size"] if keep else []
        result = run_cli("folder", photo.parent, out, "--style", STYLE, "--size", SIZE, *flags)
        assert result.exit_code == 0, result.stderr
        image = pipeline.stylize_image(photo, STYLE, size=SIZE, keep_size=keep)
        assert isinstance(image, Image.Image) and image.size == ((512, 341) if keep else (128, 85))
        assert np.array_equal(np.asarray(image), np.asarray(Image.open(out / photo.name)))


def test_each_kind_of_content_gives_its_kind_back(stylizer, photo):
    rgb = np.asarray(Image.open(photo))  # 512x341: the work size is 128x85
    tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
    from_path, from_pil, from_array = stylizer(photo), stylizer(Image.open(photo)), stylizer(rgb)
    assert isinstance(from_pil, Image.Image) and from_pil.size == (128, 85)
    assert isinstance(from_array, np.ndarray) and from_array.dtype == np.uint8 and from_array.shape == (85, 128, 3)
    assert np.array_equal(np.asarray(from_path), np.asarray(from_pil))
    assert np.array_equal(np.asarray(from_pil), from_array)
    chw, nchw = stylizer(tensor), stylizer(tensor[None])
    assert chw.shape == (3, 85, 128) and nchw.shape == (1, 3, 85, 128) and chw.dtype == torch.float32
    assert torch.equal(chw, nchw[0]) and 0 <= chw.min() and chw.max() <= 1
    # Tensors are resized by torch, arrays as the folder job does (area averaging): alike, not identical.
    assert np.abs(_as_float(chw) - from_array).mean() < 4
    small = rgb[::4, ::4].copy()  # already within the work size: nothing is resized, the kinds agree exactly
    small_tensor = torch.from_numpy(small).permute(2, 0, 1).float() / 255
    from_tensor = (stylizer(small_tensor) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(from_tensor, stylizer(small))


def test_keep_size_gives_the_contents_size(photo):
    stylizer = pipeline.load_stylizer(STYLE, size=SIZE, keep_size=True, calibrate=False)
    rgb = np.asarray(Image.open(photo))
    assert stylizer(photo).size == (512, 341) and stylizer(rgb).shape == (341, 512, 3)
    tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
    assert stylizer(tensor).shape == (3, 341, 512) and stylizer(tensor[None]).shape == (1, 3, 341, 512)


def test_the_result_is_stylized(stylizer, encoder):
    content = np.asarray(Image.open(SAMPLES / "content" / "astronaut.jpg").resize((SIZE, SIZE)))
    out = stylizer(content)
    to_t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    style = load_style_images([STYLE], SIZE)[0]
    assert np.abs(out.astype(float) - content).mean() > 20  # far from the content ...
    before, after = (style_loss(encoder, to_t(a), style).item() for a in (content, out))
    assert after < 0.8 * before  # ... and its statistics moved towards the painting's
    gap = lambda a: np.linalg.norm(a.reshape(-1, 3).mean(0) / 255 - style.mean((0, 2, 3)).numpy())  # noqa: E731
    assert gap(out) < gap(content)


def test_a_style_in_memory_stylizes_as_its_file():
    """One CPU backend named for all three: ``auto`` probes each time, and a near tie can fall either way while
    the machine is busy (each backend's pixels differ by a level here and there)."""
    style_pixels = np.asarray(Image.open(STYLE).convert("RGB"))
    content = np.asarray(Image.open(SAMPLES / "content" / "astronaut.jpg").resize((96, 96)))
    named = {"size": SIZE, "cpu_backend": "onednn"}
    expected = pipeline.load_stylizer(STYLE, **named)(content)
    assert np.array_equal(pipeline.stylize_image(content, style_pixels, **named), expected)
    style_tensor = torch.from_numpy(style_pixels.copy()).permute(2, 0, 1).float() / 255
    assert np.array_equal(pipeline.load_stylizer(style_tensor, **named)(content), expected)


def test_bad_inputs_are_one_clear_error(stylizer, photo, tmp_path):
    rgb = np.asarray(Image.open(photo))
    tensor = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    cases = {
        "uint8 tensor": (tensor, "float in \\[0, 1\\], got torch.uint8"),
        "0-255 float tensor": (tensor.float(), "in \\[0, 1\\], got values in \\[0, 255\\]"),
        "batch of two": (torch.rand(2, 3, 16, 16), "\\(3, H, W\\) or \\(1, 3, H, W\\)"),
        "four channels": (torch.rand(4, 16, 16), "\\(3, H, W\\) or \\(1, 3, H, W\\)"),
        "float array": (rgb / 255.0, "\\(H, W, 3\\) uint8, got \\(341, 512, 3\\) float64"),
        "grey array": (rgb[..., 0], "\\(H, W, 3\\) uint8"),
        "a list": ([[0, 1]], "expected a path, a PIL image"),
    }
    for name, (content, message) in cases.items():
        with pytest.raises(UsageError, match=message):
            stylizer(content)
    with pytest.raises(ImageReadError, match="no such file"):
        stylizer(tmp_path / "missing.png")
    with pytest.raises(UsageError, match="unknown option 'strength'; expected one of adapt, alpha"):
        pipeline.load_stylizer(STYLE, strength=0.5)
    with pytest.raises(OptionError, match="--alpha"):
        pipeline.load_stylizer(STYLE, alpha=2.0)
    with pytest.raises(StyleError, match="missing.jpg"):
        pipeline.load_stylizer(tmp_path / "missing.jpg")
    with pytest.raises(UsageError, match="uint8"):
        pipeline.load_stylizer(tensor)


def test_a_missing_style_fails_before_the_networks_are_built(tmp_path, monkeypatch):
    """Before any network is loaded or the CPU's kernels are probed (seconds on a machine that has not yet)."""
    import pipeline.build

    def built(*args, **kwargs):
        raise AssertionError("the networks were built first")

    monkeypatch.setattr(pipeline.build, "build_networks", built)
    with pytest.raises(StyleError, match="missing.jpg: no such file"):
        pipeline.load_stylizer(tmp_path / "missing.jpg")


def test_import_pipeline_does_not_import_torch():
    code = "import sys, pipeline; assert 'torch' not in sys.modules, 'torch imported'; print(pipeline.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from importlib.metadata import version

    assert done.stdout.strip() == version(pipeline.DISTRIBUTION) == pipeline.__version__
    assert {"stylize_image", "load_stylizer"} <= set(dir(pipeline))


SIGTERM_AFTER_SETUP = """
import os, signal, torch
from pipeline.process import Terminated, setup_process
setup_process(torch.device("cpu"), torch.float32, threads=1)
setup_process(torch.device("cpu"), torch.float32, threads=1)  # twice: the same
assert torch.get_num_threads() == 1
try:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()
    finally:
        print("cleanup ran")
except Terminated:
    print("terminated")
"""


def test_sigterm_after_setup_raises_terminated_so_cleanup_runs():
    done = subprocess.run([sys.executable, "-c", SIGTERM_AFTER_SETUP], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cleanup", "ran", "terminated"]


UMASK_KEPT = """
import os, numpy as np
os.umask(0o027)
from pipeline.io.images import write_image
assert os.umask(0o027) == 0o027, "importing changed the umask"
write_image("{path}", np.zeros((4, 4, 3), np.uint8))
print(oct(os.stat("{path}").st_mode & 0o777))
"""


def test_writes_follow_the_umask_without_changing_it(tmp_path):
    path = tmp_path / "out.png"
    done = subprocess.run([sys.executable, "-c", UMASK_KEPT.format(path=path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0o640"


def test_an_animation_given_by_path_is_its_first_frame_said(stylizer, tmp_path, caplog):
    """An image in, an image out: an animated GIF's first frame is stylized, and one line says the rest is not."""
    import logging

    frames = [Image.fromarray(np.full((40, 60, 3), (60 * k, 90, 200), np.uint8)) for k in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        out = stylizer(tmp_path / "anim.gif")
    assert out.size == (60, 40)  # smaller than the work size: its own
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'anim.gif'}: 3 frames or pages: the first is stylized (`stylize folder` and `stylize video` "
        "keep every frame of an animation)"]
