"""Shared fixtures: the real encoder (loaded once), a seeded random decoder file, and the shared data path."""

from __future__ import annotations

import logging
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.device import cpu_has_fast_bf16
from pipeline.models.decoder import Decoder, save_decoder
from pipeline.models.vgg import load_encoder

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STYLIZE_DATA", ROOT.parent / "shared" / "data"))  # elsewhere on a lent machine
SAMPLES = ROOT / "samples"

# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored across exec: the
# Ctrl-C tests (in this process and in the `stylize` processes they start) would then wait forever.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    skip_data = pytest.mark.skip(reason=f"needs {DATA} (shared test data)")
    skip_bf16 = pytest.mark.skip(reason="this CPU has no native bf16 (AVX512-BF16 / AMX): --precision auto is fp32")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
        if "data" in item.keywords and not DATA.is_dir():
            item.add_marker(skip_data)
        if "bf16" in item.keywords and not cpu_has_fast_bf16():
            item.add_marker(skip_bf16)


@pytest.fixture(autouse=True)
def pipeline_logger_as_it_was():
    """An in-process CLI run (``run_cli``) points the ``pipeline`` logger at its console and stops it
    propagating: put back after each test, or a later test's ``caplog`` sees none of its records."""
    logger = logging.getLogger("pipeline")
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@pytest.fixture(autouse=True)
def ordinary_scheduling():
    """No test leaves the process real-time for the ones after it: SVT-AV1 opened as root makes the opening
    thread SCHED_FIFO 99 (pipeline/io/scheduling.py), and a browser a later test starts inherits it and spins
    both cores where not even SIGKILL reaches it."""
    yield
    from pipeline.io.scheduling import ordinary_threads

    ordinary_threads()


@pytest.fixture(autouse=True)
def seeded():
    """Every test draws the same random inputs whatever ran before it (a test that needs others seeds its own
    generator where it makes them)."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(scope="session")
def probe_file(tmp_path_factory):
    """The CPU backend probe's figures (``backends.py``), shared by every test of the session: the probe runs
    once, not once per test's fresh cache."""
    return tmp_path_factory.mktemp("probe") / "cpu_backends.json"


@pytest.fixture(scope="session")
def calibration_folder(tmp_path_factory):
    """Calibrated style statistics (``calibration.cached_stats``), shared by every test of the session as
    they are by every run on a user's machine: a style is calibrated once, not once per test."""
    return tmp_path_factory.mktemp("calibration")


def _cache_folder(tmp_path_factory, probe_file, calibration_folder):
    """A fresh cache folder holding links to the session's probe figures, calibrations and networks converted
    for OpenVINO (a conversion takes seconds: once per weights, as on a user's machine)."""
    from pipeline.backends import CACHE_FILE
    from pipeline.models.openvino_nets import FOLDER

    cache = tmp_path_factory.mktemp("stylize-cache")
    if not probe_file.exists():
        probe_file.write_text("{}")
    (cache / CACHE_FILE).symlink_to(probe_file)
    converted = tmp_path_factory.getbasetemp() / "openvino-nets"
    for name, folder in (("calibration", calibration_folder), (FOLDER, converted)):
        folder.mkdir(exist_ok=True)
        (cache / name).symlink_to(folder, target_is_directory=True)
    return cache


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory, probe_file, calibration_folder):
    """The cache folder of everything built before a test's own fixtures run (module- and session-scoped
    stylizers): the session's, never the user's. Without it such a stylizer probed and calibrated in the
    user's cache, and could run other kernels than the stylizers a test builds (a flaky pixel difference)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STYLIZE_CACHE", str(_cache_folder(tmp_path_factory, probe_file, calibration_folder)))
        yield


@pytest.fixture(autouse=True)
def adaptation_cache(tmp_path_factory, monkeypatch, probe_file, calibration_folder):
    """Adapted decoders (``--adapt``, the default on CUDA) go to a per-test folder (not in ``tmp_path``, which
    tests count the files of), never the user's cache; the backend probe's figures and the calibrations are
    the session's."""
    monkeypatch.setenv("STYLIZE_CACHE", str(_cache_folder(tmp_path_factory, probe_file, calibration_folder)))


@pytest.fixture(scope="session")
def encoder():
    return load_encoder(last_layer="relu5_1")


@pytest.fixture(scope="session")
def random_decoder_file(tmp_path_factory) -> Path:
    """Random (seeded) decoder weights: the pipeline's plumbing does not depend on a trained decoder."""
    path = tmp_path_factory.mktemp("weights") / "random_decoder.safetensors"
    with torch.random.fork_rng():  # seeded here, without moving the global generator other tests draw from
        torch.manual_seed(0)
        decoder = Decoder()
    save_decoder(decoder, path, fp16=True)
    return path
