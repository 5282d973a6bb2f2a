"""Per-style decoder adaptation (``--adapt``): closer to the style, cached exactly, and out of the way of alpha 0."""

import numpy as np
import pytest
import torch
from PIL import Image

import pipeline.adaptation as adaptation
from pipeline.io.images import read_image, to_tensor
from pipeline.metrics import style_loss
from pipeline.build import build_stylizer, load_style_images
from pipeline.errors import OptionError
from pipeline.models.decoder import load_decoder, shipped_weights_path
from pipeline.models.vgg import load_encoder
from pipeline.ops.resize import resize_long_side
from pipeline.options import StyleOptions
from pipeline.stylizer import Stylizer
from tests.conftest import SAMPLES
from tests.helpers import PLAIN, make_stylizer, run_cli, save_rgb

pytestmark = pytest.mark.skipif(shipped_weights_path() is None, reason="no trained decoder is shipped")
STYLE = SAMPLES / "style" / "starry_night.jpg"
SIZE = 128  # work, style and adaptation size: small enough for the CPU suite


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "adapted"


@pytest.fixture(scope="module")
def style():
    return load_style_images([STYLE], SIZE)[0]


def _stylizer(encoder, style, adapt: int, **kwargs) -> Stylizer:
    return make_stylizer(None, STYLE, SIZE, calibrate=True, calibration_size=SIZE, adapt=adapt, **kwargs)


def test_adaptation_brings_an_unseen_photo_closer_to_the_style(encoder, style, cache):
    """The rocket is not a calibration photo: what the decoder learnt about the style carries over to it."""
    content = resize_long_side(to_tensor(read_image(SAMPLES / "content" / "space" / "rocket.jpg").rgb)[None], SIZE)
    steps = []
    adapted = _stylizer(encoder, style, 8, on_adapt_step=steps.append)
    assert steps == list(range(1, 9))
    before = style_loss(encoder, _stylizer(encoder, style, 0)(content), style).item()
    after = style_loss(encoder, adapted(content), style).item()
    assert after < 0.96 * before  # 0.94 measured (8 steps at 128 px; 30 at 512 do far more, model card)
    assert len(list(cache.glob("*.safetensors"))) == 1


def test_a_cached_adaptation_stylizes_exactly_as_the_run_that_made_it(encoder, style, cache, monkeypatch):
    content = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    first = _stylizer(encoder, style, 2)(content)

    def no_adapting(*args, **kwargs):
        raise AssertionError("the cached weights should have been used")

    monkeypatch.setattr(adaptation, "adapt_decoder", no_adapting)
    monkeypatch.setattr("pipeline.build.adapt_decoder", no_adapting)
    assert torch.equal(_stylizer(encoder, style, 2)(content), first)
    with pytest.raises(AssertionError):  # other settings are another cache entry
        _stylizer(encoder, style, 3)


def test_a_damaged_cache_file_is_adapted_again(encoder, style, cache):
    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    good = _stylizer(encoder, style, 1)(content)
    (path,) = cache.glob("*.safetensors")
    path.write_bytes(b"not a safetensors file")
    assert torch.equal(_stylizer(encoder, style, 1)(content), good)
    assert path.stat().st_size > 1_000_000


def test_adaptation_leaves_the_callers_modules_and_alpha_zero_alone(style, cache):
    """The builder copies the modules it is given: adapting, moving and switching to the fast CPU layers
    happen to its own copies."""
    encoder, decoder = load_encoder(), load_decoder(shipped_weights_path())
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (encoder, decoder)]
    classes = [[type(layer) for layer in m.modules()] for m in (encoder, decoder)]
    opts = StyleOptions(styles=[STYLE], style_size=SIZE, calibration_size=SIZE, cpu_backend="nnpack",
                        **{**PLAIN, "adapt": 1})
    adapted = build_stylizer(opts, styles=[style], encoder=encoder, decoder=decoder)
    assert adapted.fast_cpu or not torch.backends.nnpack.is_available()
    for module, state, kinds in zip((encoder, decoder), before, classes):
        assert all(torch.equal(state[k], v) for k, v in module.state_dict().items())
        assert [type(layer) for layer in module.modules()] == kinds
    assert all(m.padding_mode == "zeros" for m in encoder.features if isinstance(m, torch.nn.Conv2d))
    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    # one backend named for both: "auto" probes each build, and a near tie can fall either way when another
    # process loads the machine (or rewrites the probe's cache) between the two
    plain = make_stylizer(None, STYLE, SIZE, alpha=0.0, cpu_backend="onednn")(content)
    adapted = make_stylizer(None, STYLE, SIZE, alpha=0.0, adapt=2, calibration_size=SIZE, cpu_backend="onednn")
    assert torch.equal(adapted(content), plain)
    assert len(list(cache.glob("*.safetensors"))) == 1  # alpha 0 adapted nothing: only the first build's entry
    with pytest.raises(OptionError, match="coral"):
        StyleOptions(styles=[STYLE], preserve_color="coral", adapt=1)


def test_adapt_option_reaches_the_stylizer_and_the_resume_key(tmp_path, cache):
    src = tmp_path / "in"
    save_rgb(src / "a.png", 64, 48)
    args = ["--style", STYLE, "--size", "64"]
    for name, extra in {"default": [], "adapted": ["--adapt", "2"]}.items():
        assert run_cli("folder", src, tmp_path / name, *args, *extra).exit_code == 0
    images = [np.asarray(Image.open(tmp_path / n / "a.png"), dtype=float) for n in ("default", "adapted")]
    assert np.abs(images[0] - images[1]).mean() > 0.5
    # The default adapts on CUDA only: one cache entry (--adapt 2) on the CPU.
    assert len(list(cache.glob("*.safetensors"))) == (2 if torch.cuda.is_available() else 1)
    plain = StyleOptions(styles=[STYLE])
    assert StyleOptions(styles=[STYLE], adapt=2).key() != plain.key()
