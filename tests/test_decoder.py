import torch
from torch import nn

from pipeline.models.decoder import Decoder, load_decoder, save_decoder


def test_reference_layer_layout():
    decoder = Decoder()
    convs = {k: v.shape for k, v in decoder.state_dict().items() if k.endswith("weight")}
    assert list(convs) == [f"{i}.weight" for i in (1, 5, 8, 11, 14, 18, 21, 25, 28)]
    assert convs["1.weight"] == (256, 512, 3, 3) and convs["28.weight"] == (3, 64, 3, 3)
    assert sum(isinstance(m, nn.Upsample) for m in decoder) == 3
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in decoder) == 9
    assert isinstance(decoder[-1], nn.Conv2d)  # no activation after the last conv
    assert decoder(torch.rand(2, 512, 4, 6)).shape == (2, 3, 32, 48)


def test_reference_decoder_pth_loads(tmp_path):
    torch.manual_seed(0)
    reference = Decoder()
    path = tmp_path / "decoder.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, path)
    loaded = load_decoder(path)
    x = torch.rand(1, 512, 4, 4)
    assert torch.allclose(loaded(x), reference.eval()(x))


def test_fp16_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    decoder = Decoder()
    path = tmp_path / "d.safetensors"
    save_decoder(decoder, path, fp16=True, metadata={"iterations": 12})
    assert 6_500_000 < path.stat().st_size < 7_500_000  # 3.5 M parameters in fp16
    loaded = load_decoder(path)
    for key, value in decoder.state_dict().items():
        assert torch.allclose(loaded.state_dict()[key], value.half().float())
