"""The CPU backends (``backends.py``): chosen by a probe cached per machine, the bf16 weights cast once giving
the pixels of bf16 autocast, ``--cpu-backend`` overriding, ``stylize info`` reporting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline import backends
from pipeline.cache import cache_dir
from pipeline.device import cpu_has_fast_bf16
from tests.helpers import STYLE_PATH, make_stylizer, run_cli


@pytest.fixture(autouse=True)
def own_process_figures(monkeypatch):
    """Each test here starts as a fresh process would, with no busy probe's figures kept by another test, and
    leaves its own (some made of stand-in timings and clocks) to no other test."""
    monkeypatch.setattr(backends, "_THIS_PROCESS", {})


def test_auto_takes_the_fastest_probed_backend_and_caches_the_figures(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))  # not the session's figures: this probe is made up
    calls = []
    monkeypatch.setattr(backends, "available", lambda: ["nnpack", "onednn"])
    figures = {"nnpack": 0.2, "onednn": 0.1}
    monkeypatch.setattr(backends, "_time_interleaved", lambda names, net, hw: calls.extend(names) or
                        {n: figures[n] for n in names})
    chosen = backends.for_precision("auto", 128, encoder=object())
    assert chosen.name == "onednn" and chosen.dtype == torch.float32 and dict(chosen.measured)["nnpack"] == 0.2
    assert backends.for_precision("auto", 128, encoder=object()).name == "onednn"
    assert calls == ["nnpack", "onednn"]  # the second run read the cache
    stored = json.loads((cache_dir() / backends.CACHE_FILE).read_text())
    assert stored[backends.cache_key(128)] == {"nnpack": 0.2, "onednn": 0.1}


def test_fp32_takes_the_faster_of_torchs_fp32_kernels(monkeypatch, tmp_path):
    """NNPACK transforms the weights on every call: at small sizes oneDNN is faster, at larger NNPACK; fp32
    probes the two (never OpenVINO or bf16, faster or not) and takes the faster at the run's size."""
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))  # made-up figures, not the session's
    monkeypatch.setattr(backends, "available", lambda: ["nnpack", "onednn", "bf16", "openvino"])
    figures = {64: {"nnpack": 0.14, "onednn": 0.03, "bf16": 0.02, "openvino": 0.01},
               384: {"nnpack": 0.47, "onednn": 0.66, "bf16": 0.3, "openvino": 0.2}}
    probed = []
    monkeypatch.setattr(backends, "_time_interleaved", lambda names, net, hw: probed.append(sorted(names)) or
                        {n: figures[max(hw)][n] for n in names})
    small, large = (backends.for_precision("fp32", size, encoder=object()) for size in (64, 384))
    assert (small.name, large.name) == ("onednn", "nnpack") and probed == [["nnpack", "onednn"]] * 2
    assert large.fast_layers and not small.fast_layers and small.memory_format == torch.channels_last
    assert dict(small.measured) == {"nnpack": 0.14, "onednn": 0.03}  # the summary names what was compared
    monkeypatch.setattr(backends, "available", lambda: ["onednn"])  # a build without NNPACK: nothing to probe
    assert backends.for_precision("fp32", 512, encoder=object()).name == "onednn" and len(probed) == 2


def test_figures_probed_with_the_kernels_limited_to_a_lesser_cpu_are_kept_apart(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 (or ATEN_CPU_CAPABILITY) runs an AVX2-only machine's kernels on this one: the
    probe's figures then are that machine's, not to be read back for the whole chip."""
    for name in backends.ISA_LIMITS:
        monkeypatch.delenv(name, raising=False)
    whole = backends.cache_key(384)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert backends.cache_key(384) == whole + "|ONEDNN_MAX_CPU_ISA=AVX2"
    # OpenVINO keeps to the whole chip's kernels whatever these say: its figures would not be that machine's.
    assert not {"openvino", "int8"} & set(backends.available())


def test_the_probe_times_the_backends_at_the_runs_size(monkeypatch, tmp_path):
    """Measured on an AVX2-only AMD EPYC (Zen 3) here, encoder and decoder: at half the sides (144x192)
    NNPACK took 1.7x OpenVINO's time, at the run's (288x384) 0.9x; the probe then at half the sides took
    OpenVINO, and a 40-frame clip at 384 ran 1.95x the reference loop instead of NNPACK's 2.30x."""
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))
    timed = []
    figures = {(144, 192): {"nnpack": 0.270, "onednn": 0.212, "openvino": 0.156},
               (288, 384): {"nnpack": 0.598, "onednn": 0.756, "openvino": 0.679}}
    monkeypatch.setattr(backends, "available", lambda: ["nnpack", "onednn", "openvino"])
    monkeypatch.setattr("pipeline.models.openvino_nets.converted_pair", lambda encoder, decoder: None)
    monkeypatch.setattr(backends, "_time_interleaved", lambda names, nets, hw: timed.append((names, hw)) or
                        {n: figures[hw][n] for n in names})
    chosen = backends.for_precision("auto", 384, encoder=object(), decoder=object())
    assert chosen.name == "nnpack" and timed == [(["nnpack", "onednn", "openvino"], (288, 384))]
    assert dict(chosen.measured) == figures[(288, 384)]
    # Longer sides are timed at PROBE_MAX_SIDE (at 1280 the whole probe took 99 s and 4 GB here), cached there.
    figures[(384, 512)] = {"nnpack": 0.770, "onednn": 1.164, "openvino": 1.114}
    assert backends.for_precision("auto", 1280, encoder=object(), decoder=object()).name == "nnpack"
    assert timed[-1][1] == (384, 512) and backends.cache_key(1280) == backends.cache_key(512)


def test_a_probe_made_while_other_processes_took_the_cores_is_not_kept(monkeypatch, tmp_path, caplog):
    """A stop's `make demo`, probed while another job took a core, cached nnpack 529, onednn 661, bf16 691 ms,
    and every later run took nnpack (quiet: bf16 79, onednn 134, nnpack 151 ms). Such figures serve their process
    only: its later stylizers take them (the same kernels, the same pixels), the next process measures again."""
    from types import SimpleNamespace

    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))
    monkeypatch.setattr(backends, "available", lambda: ["nnpack", "bf16"])
    timed, clock = [], {"wall": 0.0, "cpu": 0.0, "busy": True}

    def timing(names, nets, hw):  # 0.8 s of wall time, in which the process ran 2 x 0.8 s, or half that when busy
        timed.append(names)
        clock["wall"] += 0.8
        clock["cpu"] += 0.8 if clock["busy"] else 1.6
        return {"nnpack": 0.529, "bf16": 0.691} if clock["busy"] else {"nnpack": 0.151, "bf16": 0.079}

    monkeypatch.setattr(backends, "_time_interleaved", timing)
    monkeypatch.setattr(backends, "time", SimpleNamespace(perf_counter=lambda: clock["wall"],
                                                          process_time=lambda: clock["cpu"]))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    with caplog.at_level("INFO", logger="pipeline.backends"):
        assert backends.for_precision("auto", 384, encoder=object()).name == "nnpack"
    assert any("CPU was busy" in r.getMessage() for r in caplog.records)
    assert not (cache_dir() / backends.CACHE_FILE).exists()
    clock["busy"] = False
    assert backends.for_precision("auto", 384, encoder=object()).name == "nnpack" and len(timed) == 1
    backends._THIS_PROCESS.clear()  # the next process
    assert backends.for_precision("auto", 384, encoder=object()).name == "bf16" and len(timed) == 2
    assert backends.for_precision("auto", 384, encoder=object()).name == "bf16" and len(timed) == 2  # now kept


def test_the_probe_times_real_layers(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))  # measured here, not read from the session's figures
    names = ["onednn"] + ["int8"] * ("int8" in backends.available())
    figures = backends.probe(names, 64)  # the bundled encoder to relu4_1 and decoder
    assert set(figures) == set(names) and all(0 < s < 5 for s in figures.values())


@pytest.mark.bf16
def test_bf16_weights_cast_once_give_the_pixels_of_autocast():
    stylizer = make_stylizer(None, STYLE_PATH, size=64, precision="bf16")
    assert stylizer.nets.backend.name == "bf16" and stylizer.nets.encode_fn is not None
    assert next(stylizer.nets.encode_fn.parameters()).dtype == torch.bfloat16
    assert next(stylizer.nets.encoder.parameters()).dtype == torch.float32  # kept for gradients
    autocast_only = dataclasses.replace(stylizer.nets, encode_fn=None, decode_fn=None)
    batch = torch.rand(2, 3, 48, 64)
    cast = stylizer(batch)
    stylizer.nets = autocast_only
    assert torch.equal(cast, stylizer(batch))


def test_cpu_backend_option_overrides_the_precision():
    stylizer = make_stylizer(None, STYLE_PATH, size=64, cpu_backend="onednn")
    assert stylizer.nets.backend.name == "onednn" and not stylizer.nets.fast_cpu
    assert stylizer.nets.memory_format == torch.channels_last


def test_info_reports_the_cpu_and_the_backends():
    result = run_cli("info", "--json", "--size", "32")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["cpus"] >= 1 and info["cpu_backends"] and info["auto_backend"] in info["cpu_backends"]
    assert set(info["probe_s"]) <= set(info["cpu_backends"])
    assert info["auto_backend"] in info["probe_s"] or len(info["cpu_backends"]) == 1
    fp32 = {n: s for n, s in info["probe_s"].items() if n in backends.FP32}  # both timed where NNPACK is
    assert info["fp32_backend"] == (min(fp32, key=fp32.get) if info["nnpack"] else "onednn")
    assert info["auto_backend"] not in info["left_out"] and all(info["left_out"].values())
    if "int8" in info["cpu_backends"] and "int8" not in info["probe_s"]:  # found, but auto does not time it
        assert info["left_out"]["int8"] in ("this CPU has no VNNI", "no quality gate recorded") or \
            info["left_out"]["int8"].startswith("failed the quality gate (")


def _int8_available() -> bool:
    from pipeline.models import int8

    return int8.available()


needs_int8 = pytest.mark.skipif(not _int8_available(), reason="OpenVINO is not installed: "
                                "pip install 'stylize-pipeline[openvino]' runs the int8 path")
needs_openvino = pytest.mark.skipif("openvino" not in backends.available(), reason="OpenVINO is not installed: "
                                    "pip install 'stylize-pipeline[openvino]' runs the openvino backend")


@needs_int8
def test_int8_frames_are_the_same_bytes_whatever_the_batch_and_threads():
    from pipeline.models.int8 import CompiledNet, model_dir

    batch = torch.rand(2, 3, 64, 96)
    encoder = model_dir() / "encoder.xml"
    two, one = CompiledNet(encoder, 2, list_output=True), CompiledNet(encoder, 1, list_output=True)
    feats = two(batch)[0]
    assert torch.equal(feats, torch.cat([two(batch[:1])[0], two(batch[1:])[0]]))
    assert torch.equal(feats, one(batch)[0])
    decoder = CompiledNet(model_dir() / "decoder.xml", 2)
    assert torch.equal(decoder(feats), torch.cat([decoder(feats[:1]), decoder(feats[1:])]))


@needs_int8
def test_int8_stylizes_like_fp32():
    from pipeline.models.int8 import CompiledNet, model_dir
    from pipeline.precision_gate import psnr

    int8 = make_stylizer(None, STYLE_PATH, size=128, precision="int8")
    fp32 = make_stylizer(None, STYLE_PATH, size=128, precision="fp32")
    assert int8.nets.backend.name == "int8" and isinstance(int8.nets.encode_fn, CompiledNet)
    from tests.helpers import ROOT
    from pipeline.build import load_style_images

    photo = load_style_images([ROOT / "samples" / "content" / "coffee.jpg"], 128)[0]
    close = psnr(int8(photo), fp32(photo))
    assert 20 < close < 60  # quantized: near fp32 at 128 px (the gate at 512: the model card), not equal


@needs_openvino
def test_openvino_frames_are_the_same_bytes_whatever_the_batch_and_threads():
    from pipeline.models.decoder import load_decoder, shipped_weights_path
    from pipeline.models.openvino_nets import float_pair
    from pipeline.models.vgg import load_encoder

    encoder, decoder = load_encoder(None, "relu4_1"), load_decoder(shipped_weights_path())
    (encode2, decode2), (encode1, decode1) = float_pair(encoder, decoder, 2), float_pair(encoder, decoder, 1)
    batch = torch.rand(2, 3, 64, 96)
    feats = encode2(batch)[0]
    assert torch.equal(feats, torch.cat([encode2(batch[:1])[0], encode2(batch[1:])[0]]))
    assert torch.equal(feats, encode1(batch)[0])
    out = decode2(feats)
    assert torch.equal(out, torch.cat([decode2(feats[:1]), decode1(feats[1:])]))
    with torch.no_grad():
        reference = decoder(encoder(batch)[0])
    # The same network at OpenVINO's default precision: bf16 kernels where the CPU has native bf16, else f32.
    low, high = (1e-4, 0.01) if cpu_has_fast_bf16() else (0.0, 1e-4)
    assert low <= float((out - reference).abs().mean()) < high


@needs_openvino
def test_openvino_stylizes_like_bf16():
    from pipeline.build import load_style_images
    from pipeline.models.openvino_nets import CompiledNet
    from pipeline.precision_gate import psnr
    from tests.helpers import ROOT

    photo = load_style_images([ROOT / "samples" / "content" / "coffee.jpg"], 128)[0]
    fp32 = make_stylizer(None, STYLE_PATH, size=128, precision="fp32")(photo)
    ov = make_stylizer(None, STYLE_PATH, size=128, cpu_backend="openvino")
    bf16 = make_stylizer(None, STYLE_PATH, size=128, cpu_backend="bf16")
    assert ov.nets.backend.name == "openvino" and isinstance(ov.nets.decode_fn, CompiledNet)
    assert psnr(ov(photo), fp32) > psnr(bf16(photo), fp32) - 3 > 30


@needs_openvino
def test_openvino_converts_each_network_once_and_keeps_no_half_file(monkeypatch, tmp_path):
    """Converting traces the module (seconds): a run converts the networks it has not converted before, keyed
    by their weights, and reads them back after; a folder left with an .xml but no .bin converts again."""
    import shutil

    import openvino

    from pipeline.models.openvino_nets import FOLDER, converted

    frame = torch.rand(1, 3, 48, 64)
    first = make_stylizer(None, STYLE_PATH, size=64, cpu_backend="openvino")(frame)  # the session's conversions
    shutil.copytree(cache_dir() / FOLDER, tmp_path / FOLDER, ignore=shutil.ignore_patterns("compiled"))
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))  # those two networks, nothing compiled yet
    conversions = []
    convert = openvino.convert_model
    monkeypatch.setattr(openvino, "convert_model", lambda *a, **k: conversions.append(1) or convert(*a, **k))
    assert torch.equal(make_stylizer(None, STYLE_PATH, size=64, cpu_backend="openvino")(frame), first)
    assert conversions == [] and list((tmp_path / FOLDER / "compiled").iterdir())  # read back, compiled kept
    files = lambda: {p.name for p in (tmp_path / FOLDER).iterdir() if p.is_file()}  # noqa: E731
    before = files()
    small = torch.nn.Conv2d(512, 3, 3, padding=1)  # another decoder: other weights, converted on their own
    path = converted(small, "decoder", 512)
    assert len(conversions) == 1 and converted(small, "decoder", 512) == path and len(conversions) == 1
    assert files() - before == {path.name, path.with_suffix(".bin").name}  # the .xml and .bin, no temporary
    path.with_suffix(".bin").unlink()
    assert converted(small, "decoder", 512) == path and len(conversions) == 2 and path.with_suffix(".bin").is_file()


@needs_openvino
def test_openvino_compiles_into_its_cache_one_process_at_a_time(monkeypatch, tmp_path):
    """OpenVINO writes a compiled blob in place and deletes one it cannot read, with no lock between processes:
    two Ray workers compiling at once failed ("cannot set permissions: No such file or directory"). Every
    compile into the cache folder holds a lock that another process (here another open of it) cannot take."""
    import filelock
    import openvino

    from pipeline.models.decoder import load_decoder, shipped_weights_path
    from pipeline.models.openvino_nets import FOLDER, compiled, converted_pair
    from pipeline.models.vgg import load_encoder

    encoder = load_encoder(None, backends.PROBE_LAYER)
    encoder.use_reflect_padding()  # as a run's
    files = converted_pair(encoder, load_decoder(shipped_weights_path()))  # the session's conversions, read back
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))  # nothing compiled here yet
    held = []
    compile_model = openvino.Core.compile_model

    def compile_checked(core, model, *args, **kwargs):
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(tmp_path / FOLDER / "compiled" / ".lock", timeout=0).acquire()
        held.append(Path(model).stem)
        return compile_model(core, model, *args, **kwargs)

    monkeypatch.setattr(openvino.Core, "compile_model", compile_checked)
    net, _ = compiled(*files, threads=1)
    assert held == [f.stem for f in files] and len(list((tmp_path / FOLDER / "compiled").glob("*.blob"))) == 2
    assert net(torch.rand(1, 3, 32, 32))[0].shape[1] == 512


_SIGINT_AFTER_INT8 = """
import gc, os, signal, time
import torch
from pipeline.models.int8 import compiled_pair
encoder, decoder = compiled_pair(2)
decoder(encoder(torch.rand(1, 3, 64, 64))[0])
del encoder, decoder
gc.collect()
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    print("interrupted")
"""


@needs_int8
def test_sigint_after_the_int8_networks_were_dropped_is_a_keyboard_interrupt():
    """OpenVINO's CPU plugin left the compiling thread's signal stack on memory it unmapped when it went, and
    Python's SIGINT handler runs on that stack: Ctrl-C after the probe had compiled and dropped the int8
    networks was a SIGSEGV (3 of 3 before ``openvino_nets.keeping_signal_stack``), in the suite a crash in libgomp."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-c", _SIGINT_AFTER_INT8], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "interrupted"), done.stderr[-2000:]


def _without_openvino(monkeypatch) -> None:
    from pipeline.models import int8, openvino_nets

    monkeypatch.setattr(int8, "available", lambda: False)
    monkeypatch.setattr(openvino_nets, "available", lambda: False)


def test_int8_without_openvino_runs_the_best_torch_path(monkeypatch, caplog):
    _without_openvino(monkeypatch)
    with caplog.at_level("INFO", logger="pipeline.backends"):
        chosen = backends.for_precision("int8", 64)
    assert chosen.name in ("nnpack", "onednn", "bf16")
    assert any("int8 needs OpenVINO" in r.getMessage() for r in caplog.records)


def test_auto_never_takes_int8_that_failed_the_quality_gate(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))
    from pipeline.models import int8

    monkeypatch.setattr(backends, "available", lambda: ["onednn", "int8"])
    monkeypatch.setattr(backends, "_time_interleaved",
                        lambda names, net, hw: {n: {"onednn": 0.2, "int8": 0.1}[n] for n in names})
    monkeypatch.setattr(int8, "passed_gate", lambda: False)
    assert backends.for_precision("auto", 64, encoder=object()).name == "onednn"
    monkeypatch.setattr(int8, "passed_gate", lambda: True)
    assert backends.for_precision("auto", 64, encoder=object()).name == "int8"


def test_auto_leaves_int8_out_where_the_networks_have_no_int8_form(monkeypatch, tmp_path, caplog):
    """Only the shipped VGG and decoder are quantized: with a decoder of one's own (or one passed in, or --adapt)
    auto chooses among the torch backends, and says nothing of int8 (``--precision int8`` still says why not)."""
    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path))
    from pipeline.build import build_networks, no_int8_form
    from pipeline.models import int8
    from pipeline.models.decoder import Decoder, save_decoder
    from pipeline.options import StyleOptions

    monkeypatch.setattr(backends, "available", lambda: ["onednn", "bf16", "int8"])
    monkeypatch.setattr(int8, "passed_gate", lambda: True)
    probed = []
    monkeypatch.setattr(backends, "_time_interleaved", lambda names, net, hw: probed.append(names) or
                        {n: {"onednn": 0.3, "bf16": 0.2, "int8": 0.1}[n] for n in names})
    own = tmp_path / "own.safetensors"
    save_decoder(Decoder(), own)
    plain = StyleOptions(styles=[STYLE_PATH], calibration_size=64)
    assert no_int8_form(plain) is None and no_int8_form(plain, decoder=Decoder()) == "a network passed in"
    assert no_int8_form(dataclasses.replace(plain, adapt=5)) == "--adapt"
    with caplog.at_level("INFO"):
        nets = build_networks(dataclasses.replace(plain, decoder=own), torch.device("cpu"))
    assert nets.backend.name == "bf16" and probed == [["onednn", "bf16"]]
    assert not any("int8" in r.getMessage() for r in caplog.records)
    assert build_networks(plain, torch.device("cpu")).backend.name == "int8"


def test_int8_gate_counts_only_on_a_cpu_with_vnni_and_with_both_halves(monkeypatch, tmp_path):
    """The decoder's weights use all 8 bits (no overflow fix): without VNNI the gate's figures do not hold. And
    the photo pairs are half the gate: the clips' warping error must have passed too."""
    from pipeline.models import int8

    recorded = tmp_path / "provenance.json"
    recorded.write_text(json.dumps({"quality_gate": {"pass": True, "video": {"pass": True}}}))
    monkeypatch.setattr(int8, "model_dir", lambda: tmp_path)
    monkeypatch.setattr(backends, "cpu_flags", lambda: ["avx2", "fma", "avx512f", "avx512_vnni"])
    assert int8.passed_gate() is True
    monkeypatch.setattr(backends, "cpu_flags", lambda: ["avx2", "fma", "avx512f"])
    assert int8.passed_gate() is False
    monkeypatch.setattr(backends, "cpu_flags", lambda: ["avx2", "fma", "avx512f", "avx512_vnni"])
    for video in ({"pass": False}, None):
        recorded.write_text(json.dumps({"quality_gate": {"pass": True, **({"video": video} if video else {})}}))
        assert int8.passed_gate() is False


@pytest.mark.data
def test_what_auto_takes_on_this_cpu_passes_the_quality_gate_on_real_pairs():
    """The gate (precision_gate.py) on two held-out photo and painting pairs of the shared data at 256 px,
    uncalibrated (the full 12 pairs at 512: scripts/quality.py --precisions); fp32 is the reference."""
    from pipeline.precision_gate import run_gate
    from tests.conftest import DATA

    chosen = backends.for_precision("auto", 256)
    if chosen.name in ("nnpack", "onednn"):
        pytest.skip(f"--precision auto is fp32 here ({chosen.name}): nothing to gate")
    figures = run_gate(DATA, [chosen.name], size=256, count=2, calibrate=False)
    row = next(iter(figures.values()))
    assert row["pass"], row
    assert row["psnr_worst"] < 99  # a real difference was measured, not the reference against itself


def test_a_run_says_which_backend_ran(tmp_path):
    from tests.helpers import ROOT

    result = run_cli("folder", ROOT / "samples" / "content" / "space", tmp_path / "out", "--style", STYLE_PATH,
                     "--size", "32", "--no-calibrate", "--cpu-backend", "onednn", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["backend"] == "cpu onednn" and summary["processed"] == 1
    assert "networks: cpu onednn" in result.stderr


@pytest.mark.parametrize("name", ["int8", "openvino"])
def test_cpu_backend_run_by_openvino_without_it_falls_back(monkeypatch, name):
    _without_openvino(monkeypatch)
    stylizer = make_stylizer(None, STYLE_PATH, size=64, cpu_backend=name)
    assert stylizer.nets.backend.name in ("nnpack", "onednn", "bf16")
    assert stylizer(torch.rand(1, 3, 32, 48)).shape == (1, 3, 32, 48)


def test_int8_runs_only_the_shipped_networks(caplog, random_decoder_file, tmp_path):
    """Only the shipped VGG and decoder have an int8 form: a decoder of one's own at --precision int8 runs a
    torch backend (with one line), never the shipped int8 decoder in its place."""
    from pipeline.build import custom_weights
    from pipeline.models.decoder import shipped_weights_path
    from pipeline.options import StyleOptions

    plain = StyleOptions(styles=[STYLE_PATH])
    assert custom_weights(plain, None, None) is None
    assert custom_weights(dataclasses.replace(plain, decoder=shipped_weights_path()), None, None) is None
    assert custom_weights(dataclasses.replace(plain, decoder=random_decoder_file), None, None).startswith("--decoder")
    assert custom_weights(dataclasses.replace(plain, vgg=tmp_path / "vgg.pth"), None, None).startswith("--vgg")
    assert custom_weights(plain, None, torch.nn.Identity()) == "a network passed in"
    if not _int8_available():
        return
    from pipeline.models.int8 import CompiledNet, model_dir

    with caplog.at_level("INFO"):
        own = make_stylizer(random_decoder_file, STYLE_PATH, size=64, precision="int8")
    assert own.nets.backend.name != "int8" and not isinstance(own.nets.decode_fn, CompiledNet)
    assert any("has no int8 form" in r.getMessage() and "--decoder" in r.getMessage() for r in caplog.records)


def test_the_process_s_first_openvino_infer_runs_alone_and_later_ones_side_by_side(monkeypatch):
    """Two lanes making the process's first OpenVINO call together deadlocked in its bindings' first NumPy set-up
    (3 of 12 runs of two threads on an 8x8 frame hung here before; 0 of 12 after). The first call now runs alone,
    later ones overlap as before. OpenVINO stands in: a request that takes 0.2 s and records who overlapped."""
    import threading
    import time

    from pipeline.models import openvino_nets

    monkeypatch.setattr(openvino_nets, "_first_done", threading.Event())
    calls = []  # (start, end) of each infer

    class Request:
        def infer(self, inputs):
            start = time.perf_counter()
            time.sleep(0.2)
            calls.append((start, time.perf_counter()))

        def get_output_tensor(self, index):
            return dataclasses.make_dataclass("Tensor", ["data"])(np.zeros((1, 3, 4, 4), np.float32))

    net = openvino_nets.CompiledNet.__new__(openvino_nets.CompiledNet)
    net.compiled = type("Compiled", (), {"create_infer_request": lambda self: Request()})()
    net.list_output, net._local = False, threading.local()

    def lane(calls):
        for _ in range(calls):
            assert net(torch.zeros(1, 3, 4, 4)).shape == (1, 3, 4, 4)

    threads = [threading.Thread(target=lane, args=(2,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, *others = sorted(calls)
    assert len(others) == 3 and all(start >= first[1] for start, _ in others)  # the first call alone ...
    assert any(a[1] > b[0] for a, b in zip(others, others[1:]))  # ... later ones side by side
