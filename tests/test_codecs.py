"""Every `--codec` the help names writes a playable output, its frames at the source's times with its sound:
`--codec libsvtav1` ended in a traceback at the join (PyAV looked for an encoder named as AV1's decoder,
libdav1d), whatever the container."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import STYLE_PATH, one_error_line, run_cli
from tests.videos import make_video, read_video

CASES = [("libx265", "mp4", "hevc"), ("libx265", "mkv", "hevc"), ("libvpx-vp9", "webm", "vp9"),
         ("libvpx-vp9", "mp4", "vp9"), ("libsvtav1", "mp4", "av1"), ("libsvtav1", "mkv", "av1"),
         ("libsvtav1", "webm", "av1")]


@pytest.mark.parametrize("codec, suffix, written", CASES, ids=[f"{c}-{s}" for c, s, _ in CASES])
def test_each_codec_writes_its_frames_at_their_times_with_the_sound(tmp_path, random_decoder_file, codec, suffix,
                                                                    written):
    import av

    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec}")
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, size=(64, 48))
    out = tmp_path / f"out.{suffix}"
    result = run_cli("video", src, out, "--style", STYLE_PATH, "--decoder", random_decoder_file, "--size", "64",
                     "--codec", codec, "--segment-seconds", "0.3", "--temporal", "off")
    assert result.exit_code == 0, result.stderr[-600:]
    made, source = read_video(out), read_video(src)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.codec.id == av.Codec(written, "r").id
    assert made["frames"] == 24  # Matroska and WebM store milliseconds: 1/24 s is 42 ms there
    assert [float(t) for t in made["pts"]] == pytest.approx([float(t) for t in source["pts"]], abs=1e-3)
    assert made["audio"] is not None and made["audio_s"] == pytest.approx(source["audio_s"], abs=0.05)


def test_x265_segments_of_one_or_two_frames_keep_their_frames(tmp_path, random_decoder_file):
    """Four clips of 13 frames in 0.25 s segments (6, 6 and 1 frames) through x265 in one process: x265 states no
    real decode time for an encode of 1 or 2 frames (a member it never initialises), and once that memory was
    not zero the MP4 muxer refused the short segments ("patches welcome") or wrote a decode time of 9e18."""
    import av

    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV has no libx265")
    (tmp_path / "in").mkdir()
    sources = [make_video(tmp_path / "in" / f"clip{k}.mp4", frames=13, rate=24, size=(48, 32))
               for k in range(4)]
    result = run_cli("video", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--decoder",
                     random_decoder_file, "--size", "48", "--codec", "libx265", "--segment-seconds", "0.25",
                     "--temporal", "off", "--audio", "none")
    assert result.exit_code == 0, result.stderr[-600:]
    for source in sources:
        out = tmp_path / "out" / source.name
        made = read_video(out)
        assert made["frames"] == 13 and made["pts"] == read_video(source)["pts"]
        with av.open(str(out)) as container:
            stamps = [(p.pts, p.dts) for p in container.demux(video=0) if p.size]
        assert all(abs(dts) < 10**6 and dts <= pts for pts, dts in stamps), stamps


def test_a_segment_the_muxer_refuses_fails_that_video_in_one_line_and_the_batch_goes_on(tmp_path, random_decoder_file,
                                                                                      monkeypatch):
    """Packets stamped at their presentation times out of x264's B-frame order, which the MP4 muxer refuses
    (non-increasing decode times): that video fails with one line naming it, nothing at its output, and the
    other video (two frames, never reordered) is made; exit code 1. It was a traceback that ended the batch."""
    from pipeline.io import encode

    monkeypatch.setattr(encode, "_SHORT_ENCODE_DTS", {"libx264": 10**9})
    (tmp_path / "in").mkdir()
    long = make_video(tmp_path / "in" / "long.mp4", frames=24, rate=24)
    short = make_video(tmp_path / "in" / "short.mp4", frames=2, rate=24)
    result = run_cli("video", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--decoder",
                     random_decoder_file, "--size", "64", "--temporal", "off")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    line = one_error_line(result.stderr)
    assert long.name in line and "refused" in line and "--resume" in line, line
    assert not (tmp_path / "out" / long.name).exists()
    assert read_video(tmp_path / "out" / short.name)["frames"] == 2


def test_an_encoder_that_hangs_on_a_frame_size_fails_that_video_and_the_others_are_made(tmp_path, random_decoder_file,
                                                                                       monkeypatch):
    """SVT-AV1 waits for ever for its last packet on frames 24 pixels or less on one side and over 64 on the
    other (100x8 here): the run hung with no word. A child's trial encode of small frames (killed after its time,
    3 s here) fails that video in one line naming the size; the 64x48 video beside it is made; exit code 1.
    Should SVT-AV1 stop hanging, the small video is made too and this still holds: no run waits for ever."""
    import av

    from pipeline.io import encoder_trial

    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV has no libsvtav1")
    monkeypatch.setattr(encoder_trial, "TRIAL_TIMEOUT_S", 3.0)
    encoder_trial.trial_problem.cache_clear()
    (tmp_path / "in").mkdir()
    thin = make_video(tmp_path / "in" / "thin.mp4", frames=13, rate=24, size=(100, 8))
    other = make_video(tmp_path / "in" / "other.mp4", frames=13, rate=24, size=(64, 48))
    result = run_cli("video", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--decoder",
                     random_decoder_file, "--size", "0", "--codec", "libsvtav1", "--temporal", "off", "--json",
                     "--cpu-backend", "onednn", "--no-calibrate")  # the encoder is tried here, not the networks
    items = {Path(i["path"]).name: i for i in json.loads(result.stdout)["items"]}
    assert read_video(tmp_path / "out" / other.name)["frames"] == 13 and items[other.name]["status"] == "processed"
    if items[thin.name]["status"] == "failed":
        assert result.exit_code == 1 and "100x8 frames" in items[thin.name]["reason"], items[thin.name]
        assert "did not finish in 3 s" in items[thin.name]["reason"] and not (tmp_path / "out" / thin.name).exists()
    else:
        assert result.exit_code == 0 and read_video(tmp_path / "out" / thin.name)["frames"] == 13


@pytest.mark.parametrize("child, said", [("kill -ABRT $$", "crashed (SIGABRT)"),
                                         ("exec sleep 20", "did not finish in 1 s"),
                                         ("echo 'ValueError: no such option' >&2; exit 1",
                                          "failed (ValueError: no such option)")])
def test_a_trial_encode_says_how_its_child_ended(tmp_path, monkeypatch, child, said):
    """The trial's verdicts, with a child that aborts, hangs or fails standing in for the encoder's process."""
    import sys

    from pipeline.io import encoder_trial

    script = tmp_path / "child.sh"
    script.write_text(f"#!/bin/sh\n{child}\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))
    monkeypatch.setattr(encoder_trial, "TRIAL_TIMEOUT_S", 1.0)
    encoder_trial.trial_problem.cache_clear()
    assert encoder_trial.trial_problem("libx264", "yuv420p", (), (8, 100), (24, 1), None) == \
        f"a trial of {encoder_trial.TRIAL_FRAMES} frames {said}"
    encoder_trial.trial_problem.cache_clear()
