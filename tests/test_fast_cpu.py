"""The CPU fp32 fast path: NNPACK convolutions and strided-view pooling compute what the stock layers do."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.build import build_stylizer
from pipeline.io.images import read_image, to_tensor
from pipeline.models import fast_cpu
from pipeline.models.decoder import Decoder
from pipeline.models.fast_cpu import FastConv2d, SliceMaxPool2d, nnpack_available, use_fast_cpu_layers
from pipeline.models.vgg import load_encoder
from pipeline.ops.resize import resize_long_side
from pipeline.options import StyleOptions
from tests.conftest import SAMPLES
from tests.helpers import PLAIN

pytestmark = pytest.mark.skipif(not nnpack_available(), reason="this PyTorch build has no NNPACK")


def _pair(conv: nn.Conv2d) -> tuple[nn.Conv2d, nn.Conv2d]:
    fast = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=conv.padding, padding_mode=conv.padding_mode)
    fast.load_state_dict(conv.state_dict())
    assert use_fast_cpu_layers(fast) == 1 and type(fast) is FastConv2d
    return conv, fast


@pytest.mark.parametrize("padding,mode", [(1, "zeros"), (1, "reflect"), (0, "zeros")])
@pytest.mark.parametrize("batch", [1, 3])
def test_nnpack_conv_matches_the_stock_conv(padding, mode, batch):
    torch.manual_seed(0)
    stock, fast = _pair(nn.Conv2d(16, 24, 3, padding=padding, padding_mode=mode))
    x = torch.randn(batch, 16, 37, 50)
    with torch.no_grad():
        ref, out = stock(x), fast(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= 1e-4 * ref.abs().max()
    assert not torch.equal(out, ref)  # Winograd rounds differently: this really is the NNPACK path
    with torch.no_grad():
        assert all(torch.equal(out[i:i + 1], fast(x[i:i + 1])) for i in range(batch))  # batching changes nothing


@pytest.mark.parametrize("channels", [(3, 16), (16, 3)])
@pytest.mark.parametrize("padding,mode", [(1, "zeros"), (1, "reflect"), (0, "zeros")])
@pytest.mark.parametrize("batch", [1, 3])
def test_thin_conv_matches_the_stock_conv(monkeypatch, channels, padding, mode, batch):
    """Three channels in or out (the encoder's first layer, the decoder's last): one matrix product."""
    torch.manual_seed(5)
    stock, fast = _pair(nn.Conv2d(*channels, 3, padding=padding, padding_mode=mode))
    monkeypatch.setattr(FastConv2d, "_nnpack", None)  # neither NNPACK nor its oneDNN fallback
    x = torch.randn(batch, channels[0], 29, 44)
    with torch.no_grad():
        ref, out = stock(x), fast(x)
        assert out.shape == ref.shape
        assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()
        assert all(torch.equal(out[i:i + 1], fast(x[i:i + 1])) for i in range(batch))


@pytest.mark.parametrize("channels", [(8, 8), (3, 8), (8, 3)])
def test_strips_give_the_same_result(monkeypatch, channels):
    torch.manual_seed(1)
    _, fast = _pair(nn.Conv2d(*channels, 3, padding=1))
    x = torch.randn(2, channels[0], 41, 30)
    with torch.no_grad():
        whole = fast(x)
        monkeypatch.setattr(fast_cpu, "STRIP_VALUES", 8 * 30 * 5)  # several strips of rows
        strips = fast(x)
    assert (strips - whole).abs().max() <= 1e-5 * whole.abs().max()


def test_large_inputs_and_gradients_take_oneDNN(monkeypatch):
    torch.manual_seed(2)
    stock, fast = _pair(nn.Conv2d(8, 8, 3, padding=1))
    x = torch.randn(1, 8, 20, 20, requires_grad=True)
    with torch.no_grad():
        monkeypatch.setattr(fast_cpu, "MAX_PIXELS", 399)
        assert torch.equal(fast(x), stock(x.contiguous(memory_format=torch.channels_last)))
    out = fast(x)  # grad mode: oneDNN too, so training and Gatys work through it
    out.sum().backward()
    assert torch.equal(out, stock(x.contiguous(memory_format=torch.channels_last)))
    assert fast.weight.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_slice_pool_is_exact(ceil_mode):
    x = torch.randn(2, 5, 12, 18)
    pool = nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)
    fast = nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)
    assert use_fast_cpu_layers(fast) == 1 and type(fast) is SliceMaxPool2d
    with torch.no_grad():
        assert torch.equal(fast(x), pool(x))
        odd = torch.randn(1, 2, 7, 9)  # odd sides: the stock pooling (floor or ceil) decides
        assert torch.equal(fast(odd), pool(odd))


def test_models_switch_in_place_and_keep_their_weights():
    encoder, decoder = load_encoder(last_layer="relu4_1"), Decoder()
    keys = (list(encoder.state_dict()), list(decoder.state_dict()))
    assert use_fast_cpu_layers(encoder) == 1 + 9 + 3  # the 1x1 Caffe conv, nine 3x3 convs, three poolings
    assert use_fast_cpu_layers(decoder) == 9
    assert not encoder.input_conv.winograd and encoder.features[0].winograd
    assert (list(encoder.state_dict()), list(decoder.state_dict())) == keys


def test_stylizer_output_is_unchanged_by_the_fast_path(random_decoder_file):
    image = resize_long_side(to_tensor(read_image(SAMPLES / "content" / "astronaut.jpg").rgb)[None], 160)
    opts = StyleOptions(styles=[SAMPLES / "style" / "starry_night.jpg"], style_size=160,
                        decoder=random_decoder_file, **PLAIN)
    outs = []
    for fast in (False, True):
        stylizer = build_stylizer(opts, fast_cpu=fast)
        assert stylizer.fast_cpu is fast
        assert isinstance(stylizer.encoder.features[0], FastConv2d) is fast
        outs.append(stylizer(image))
    assert outs[0].shape == image.shape
    assert (outs[0] - outs[1]).abs().max() < 1e-3  # far below one 8-bit step (0.0039)
    assert F.mse_loss(outs[0], image) > 1e-3  # and it is a real stylization, not the input passed through


def test_results_do_not_depend_on_the_thread_count():
    """Ray workers run one thread each and the local engine all the cores: both must write the same pixels
    (oneDNN's NCHW kernels round differently with the thread count; the fast path avoids them)."""
    torch.manual_seed(3)
    encoder, decoder = load_encoder(last_layer="relu4_1"), Decoder().eval()
    use_fast_cpu_layers(encoder)
    use_fast_cpu_layers(decoder)
    x = torch.rand(1, 3, 384, 384)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            with torch.no_grad():
                feats = encoder(x)[0]
                outs.append((feats, decoder(feats)))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*outs))


def test_an_nnpack_failure_falls_back_to_onednn(monkeypatch):
    torch.manual_seed(4)
    stock, fast = _pair(nn.Conv2d(8, 6, 3, padding=1))
    x = torch.randn(1, 8, 16, 16)

    def fail(*args):
        raise RuntimeError("NNPACK SpatialConvolution_updateOutput failed")

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", fail)
    with torch.no_grad():
        assert torch.equal(fast(x), stock(x.contiguous(memory_format=torch.channels_last)))


def test_without_the_private_nnpack_op_the_public_conv_gives_the_stock_result(monkeypatch):
    """``torch._nnpack_spatial_convolution`` is private: where a torch release drops it, models keep the stock
    layers, and a layer switched before computes with ``F.conv2d``, exactly as the stock layer does."""
    torch.manual_seed(6)
    stock, fast = _pair(nn.Conv2d(8, 6, 3, padding=1))
    x = torch.randn(1, 8, 20, 24)
    with torch.no_grad():
        assert not torch.equal(fast(x), stock(x))  # with the op: NNPACK's Winograd rounding
    monkeypatch.delattr(torch, "_nnpack_spatial_convolution")
    assert not nnpack_available()
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    assert use_fast_cpu_layers(model) == 0 and [type(m) for m in model] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    with torch.no_grad():
        assert torch.equal(fast(x), stock(x.contiguous(memory_format=torch.channels_last)))
