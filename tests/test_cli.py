"""The command line as a user meets it: help without torch, --version, one-line usage errors with exit 2,
quiet and plain progress output, and real SIGINT / SIGTERM sent to a running `stylize folder`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import STYLE_PATH as STYLE, one_error_line, run_cli, run_stylize, save_rgb
from tests.videos import make_video



def test_help_answers_without_importing_torch():
    probe = ("import sys; from pipeline.cli import app; "
             "sys.argv = ['stylize', 'video', '--help']\n"
             "try:\n    app()\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "--temporal" in result.stdout and "Temporal" in result.stdout  # the option and its help panel
    assert result.stderr.strip().endswith("NO-TORCH")


def test_version_and_short_help():
    from pipeline import __version__

    result = run_stylize("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"stylize {__version__}"
    assert run_stylize("folder", "-h").stdout.count("--style") >= 1


# Runs the CLI and prints whether torch was imported by the time it exited.
_SAYS_IF_TORCH_LOADED = ("import sys; from pipeline.cli import app; sys.argv[0] = 'stylize'\n"
                         "try:\n    app()\nexcept SystemExit as stop:\n"
                         "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(stop.code)")


@pytest.mark.parametrize("args, words", [
    (["--device", "tpu"], "--device"),
    (["--preserve-color", "sepia"], "--preserve-color"),
    (["--method", "magic"], "--method"),
    (["--alpha", "1.5"], "--alpha"),
    (["--style-weights", "nan"], "--style-weights"),
    (["--style-weights", "inf"], "--style-weights"),
    (["--style-weights", "0"], "--style-weights"),
    (["--tile", "10"], "--tile"),
])
def test_bad_option_values_are_one_line_and_exit_2(tmp_path, args, words):
    """One line, exit 2, nothing written, and before torch is imported: a typo costs no start-up (0.4 s, not
    the 2.8 s it took when the values were checked after ``pipeline.process``'s import)."""
    save_rgb(tmp_path / "in" / "x.png", 32, 32)
    result = subprocess.run([sys.executable, "-c", _SAYS_IF_TORCH_LOADED, "folder", tmp_path / "in",
                             tmp_path / "out", "--style", STYLE, *args], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 2 and result.stdout.strip() == "NO-TORCH", result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, words", [
    (["--duration", "0"], "--duration"),
    (["--method", "gatys", "--keyframes", "k.json"], "--keyframes"),
    (["--backbone", "resnet50"], "--backbone"),
    (["--save-every", "5"], "--save-every"),
])
def test_bad_video_option_values_are_one_line_before_torch(tmp_path, args, words):
    """The video options (timing, Gatys refinement) are checked with the style's, before torch loads: 0.5 s,
    not the 3.8 s it took when they were built inside the job."""
    (tmp_path / "k.json").write_text('{"keyframes": [{"at": 0, "styles": {"%s": 1}}]}' % STYLE)
    make_video(tmp_path / "in.mp4", frames=4)
    style = [] if "--keyframes" in args else ["--style", STYLE]
    result = subprocess.run([sys.executable, "-c", _SAYS_IF_TORCH_LOADED, "video", tmp_path / "in.mp4",
                             tmp_path / "out.mp4", *style, *[str(tmp_path / a) if a == "k.json" else a for a in args]],
                            capture_output=True,
                            text=True, cwd=tmp_path, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and result.stdout.strip() == "NO-TORCH", result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], result.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("command, missing, words", [
    ("folder", "input", "input folder"), ("video", "input", "input"), ("folder", "style", "style"),
    ("video", "style", "style"),
])
def test_a_missing_input_or_style_is_one_line_before_torch(tmp_path, command, missing, words):
    """The commonest typo, a path that is not there, costs no start-up either (0.5 s, not 2.5)."""
    save_rgb(tmp_path / "in" / "x.png", 32, 32)
    given = {"input": tmp_path / "in", "style": STYLE, "output": tmp_path / "out"}
    given[missing] = tmp_path / "nowhere"
    if command == "video" and missing != "input":
        given["input"] = tmp_path / "in" / "x.png"  # refused later, as a still image: the style comes first
    result = subprocess.run([sys.executable, "-c", _SAYS_IF_TORCH_LOADED, command, given["input"], given["output"],
                             "--style", given["style"]], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and result.stdout.strip() == "NO-TORCH", result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {words} {tmp_path / 'nowhere'}" + (": no such file" if missing == "style" else
                                                                 " does not exist")], result.stderr
    assert not (tmp_path / "out").exists()


def test_quiet_prints_only_the_summary_and_plain_progress_otherwise(tmp_path, random_decoder_file):
    for i in range(3):
        save_rgb(tmp_path / "in" / f"{i}.png", 32, 32, seed=i)
    (tmp_path / "in" / "bad.png").write_text("no")
    common = ("--style", STYLE, "--decoder", random_decoder_file, "--size", "32")
    loud = run_stylize("folder", tmp_path / "in", tmp_path / "a", *common)
    assert loud.returncode == 1
    assert "images: 4/4 (100 %)" in loud.stderr  # a plain progress line: stderr is not a terminal here
    assert "error:" in loud.stderr and "bad.png" in loud.stderr
    quiet = run_stylize("folder", tmp_path / "in", tmp_path / "b", *common, "-q", "--json")
    assert quiet.returncode == 1 and json.loads(quiet.stdout)["processed"] == 3
    assert "images:" not in quiet.stderr


def _folder_run(src: Path, dst: Path, decoder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "folder", str(src), str(dst), "--style", str(STYLE),
                             "--decoder", str(decoder), "--size", "96", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_folder_run_cleanly_and_a_rerun_finishes(tmp_path, random_decoder_file, signum, code):
    src = tmp_path / "in"
    for i in range(40):
        save_rgb(src / f"{i:02d}.png", 96, 96, seed=i)
    proc = _folder_run(src, tmp_path / "out", random_decoder_file)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob("*.png")):  # signalled once the first image is written
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the signal"
        time.sleep(0.01)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written and all(name.endswith(".png") and not name.startswith(".") for name in written), written
    assert len(written) < 40
    rerun = run_stylize("folder", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                    "--size", "96", "--skip-existing", "--json")
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and summary["skipped"] == len(written) and summary["processed"] == 40 - len(written)


def test_metrics_prints_to_stdout_and_names_a_bad_file(tmp_path, random_decoder_file):
    from tests.videos import make_video

    src = make_video(tmp_path / "in.mp4", frames=6, size=(64, 48), audio=None)
    assert run_cli("video", src, tmp_path / "out.mp4", "--style", STYLE, "--decoder", random_decoder_file,
                   "--size", "64").exit_code == 0
    good = run_stylize("metrics", src, tmp_path / "out.mp4", "--style", STYLE)
    assert good.returncode == 0 and "warping_error:" in good.stdout
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    bad = run_stylize("metrics", src, tmp_path / "broken.mp4", "--style", STYLE)
    assert bad.returncode == 2 and "broken.mp4" in bad.stderr and "Traceback" not in bad.stderr


def test_a_file_named_like_an_option_is_named_in_the_error(tmp_path):
    """moviepy's ``-video-with-dash-.mp4``: the parser reads it as options ("No such option: -i"), which leaves
    a user guessing; the line says which file it was and how to give it."""
    (tmp_path / "-clip.mp4").write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "pipeline", "video", "-clip.mp4", "out.mp4", "--style", STYLE],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert "No such option" in line and "-clip.mp4 is a file: put -- before it, or write ./-clip.mp4" in line
