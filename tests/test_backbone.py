"""A second backbone for the Gatys losses: ResNet-50 behind the VGG seam, loaded from a torchvision state dict
the user has (here: random weights saved to a temporary file: the plumbing, not the look)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.errors import WeightsError
from pipeline.jobs.folder import load_task
from pipeline.jobs.folder_plan import Task
from pipeline.models.backbones import RESNET50_GATYS, VGG19_GATYS, FeatureNet
from tests.conftest import SAMPLES
from tests.helpers import STYLE_PATH, one_error_line, psnr, run_cli

torchvision = pytest.importorskip("torchvision")

PLAIN = ("--no-calibrate", "--precision", "fp32", "--device", "cpu", "--adapt", "0")
PHOTO = SAMPLES / "content" / "coffee.jpg"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A torchvision resnet50 state dict with random weights, as .pth and as .safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(0)  # module fixtures are made before the autouse seeding
    state = torchvision.models.resnet50(weights=None).state_dict()
    folder = tmp_path_factory.mktemp("resnet")
    torch.save(state, folder / "resnet50.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "resnet50.safetensors"))
    return folder / "resnet50.pth", folder / "resnet50.safetensors", state


def test_resnet50_features_come_from_the_file_and_the_layer_choice(weights):
    from pipeline.models.resnet import load_resnet50

    pth, safetensors, state = weights
    net = load_resnet50(pth)
    assert torch.equal(net.body.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    assert torch.equal(load_resnet50(safetensors).body.layer4[2].bn3.running_var, state["layer4.2.bn3.running_var"])
    image = torch.rand(1, 3, 64, 96)
    feats = FeatureNet(net, RESNET50_GATYS)(image, RESNET50_GATYS.gram)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 48), (256, 16, 24), (512, 8, 12), (1024, 4, 6),
                                                   (2048, 2, 3)]
    assert FeatureNet(net, RESNET50_GATYS).min_side == 32 and VGG19_GATYS.stride == 16
    pooled = load_resnet50(pth).with_pooling("avg")
    assert isinstance(pooled.body.maxpool, torch.nn.AvgPool2d)


def test_a_file_that_is_not_a_resnet50_state_dict_is_one_line_naming_it(tmp_path):
    from pipeline.models.resnet import load_resnet50

    wrong = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    for path, words in ((wrong, "not a torchvision resnet50 state dict"), (text, "cannot be read")):
        with pytest.raises(WeightsError) as err:
            load_resnet50(path)
        assert str(path) in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("args, expected", [
    (("--method", "gatys", "--backbone", "resnet50"), "no registry package ships ResNet-50 weights"),
    (("--backbone", "resnet50", "--backbone-weights", "{pth}"), "--backbone is for the Gatys optimisation"),
])
def test_resnet50_without_weights_or_with_adain_is_refused(tmp_path, weights, args, expected):
    (tmp_path / "in").mkdir()
    args = [a.format(pth=weights[0]) for a in args]
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, *args, *PLAIN)
    assert result.exit_code == 2 and expected in one_error_line(result.stderr)


def test_gatys_on_resnet50_features_changes_the_image_and_lowers_its_loss(tmp_path, weights):
    # Adam: random weights give gradients so large that L-BFGS's first step (1 / |g|_1) barely moves the image
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "coffee.jpg").write_bytes(PHOTO.read_bytes())
    snaps = tmp_path / "snaps"
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--size", "64",
                     "--method", "gatys", "--backbone", "resnet50", "--backbone-weights", weights[1],
                     "--optimizer", "adam", "--iterations", "2", "--save-every", "1", "--snapshot-dir", snaps, "--ext", "png", *PLAIN)
    assert result.exit_code == 0, result.stderr
    records = json.loads((snaps / "coffee_snapshots.json").read_text())["snapshots"]
    assert records[-1]["total"] < records[0]["total"], records
    out = np.asarray(Image.open(tmp_path / "out" / "coffee.png"))
    content = (load_task(Task(PHOTO, tmp_path / "x.png"), 64).work * 255 + 0.5).astype(np.uint8)
    assert out.shape == content.shape and psnr(out, content) < 35
