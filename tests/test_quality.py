"""The shipped decoder really stylizes: statistics move toward the style, alpha 0 gives the content back."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from pipeline.io.images import read_image, to_tensor, to_uint8
from pipeline.metrics import style_loss
from pipeline.models.decoder import load_decoder, shipped_weights_path
from pipeline.stylizer import Stylizer, load_style_images, resize_long_side
from tests.conftest import SAMPLES
from tests.helpers import run_cli
from tests.videos import make_video, read_video

pytestmark = pytest.mark.skipif(shipped_weights_path() is None, reason="no trained decoder is shipped")
STYLE = SAMPLES / "style" / "starry_night.jpg"


def _content(name: str, size: int = 256) -> torch.Tensor:
    return resize_long_side(to_tensor(read_image(SAMPLES / "content" / name).rgb)[None], size)


@pytest.fixture(scope="module")
def style():
    return load_style_images([STYLE], 256)[0]


@pytest.mark.parametrize("name", ["astronaut.jpg", "coffee.jpg", "space/rocket.jpg"])
def test_output_statistics_move_towards_the_style(encoder, style, name):
    content = _content(name)
    out = Stylizer(encoder, load_decoder(shipped_weights_path()), [style])(content)
    ratio = style_loss(encoder, out, style).item() / style_loss(encoder, content, style).item()
    assert ratio < 0.8
    # The colour moves towards the painting's too: mean RGB distance to the style shrinks.
    gap = lambda img: (img.mean((2, 3)) - style.mean((2, 3))).norm().item()
    assert gap(out) < gap(content)


def test_alpha_zero_reconstructs_the_content(encoder, style):
    content = _content("coffee.jpg")
    out = Stylizer(encoder, load_decoder(shipped_weights_path()), [style], alpha=0.0)(content)
    psnr = peak_signal_noise_ratio(to_uint8(content[0]), to_uint8(out[0]), data_range=255)
    assert psnr > 12.0
    half = Stylizer(encoder, load_decoder(shipped_weights_path()), [style], alpha=0.5)(content)
    losses = [style_loss(encoder, x, style).item() for x in (out, half)]
    assert losses[1] < losses[0]  # more alpha, more style


def test_video_frames_are_stylized(tmp_path, encoder, style):
    src = make_video(tmp_path / "in.mp4", frames=6, size=(96, 64))
    result = run_cli("video", src, tmp_path / "out.mp4", "--style", STYLE, "--size", "96")
    assert result.exit_code == 0, result.stderr
    before, after = read_video(src)["images"], read_video(tmp_path / "out.mp4")["images"]
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255
    losses_in = [style_loss(encoder, to_t(f), style).item() for f in before]
    losses_out = [style_loss(encoder, to_t(f), style).item() for f in after]
    assert np.mean(losses_out) < 0.8 * np.mean(losses_in)
