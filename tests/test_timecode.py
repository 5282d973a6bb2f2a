"""A source's timecode comes back on the output's first frame, moved on by what ``--start`` leaves out, and
files read by hand that failed: exiftool's sample DV (one frame of a PAL camcorder's tape, timecode
00:00:04:24) could not be written into MP4 or MOV at all ("fps 60000 is too large": FFmpeg states a DV file's
rate as a frame per tick of its time base, and the timecode track took it), and its sample Flash video (MP3 at
11025 Hz) neither (the MP4 muxer refuses MP3 under 16 kHz); the timecode of MOV and MP4 sources was lost, and
a DV's was copied unmoved past ``--start``. AVI outputs lasted 20 times too long (their last frame's duration
counted in the wrong time base: ``tests/test_media.py``)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.errors import VideoError
from pipeline.io.decode import probe
from pipeline.io.timecode import advance
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import FAILED, PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

NTSC = Fraction(30000, 1001)
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def _labels(fps: int, drop: int):
    """Every drop-frame label in order, counted the slow way: each frame number, less those each minute drops."""
    for hh in range(24):
        for mm in range(60):
            for ss in range(60):
                for ff in range(fps):
                    if ss == 0 and mm % 10 and ff < drop:
                        continue
                    yield f"{hh:02d}:{mm:02d}:{ss:02d};{ff:02d}"


@pytest.mark.parametrize("fps, rate", [(30, NTSC), (60, 2 * NTSC)])
def test_drop_frame_counts_as_the_labels_run(fps, rate):
    labels = _labels(fps, fps // 15)
    expected = [next(labels) for _ in range(2 * 600 * fps)]  # twenty minutes' worth: two tenth minutes
    for n in range(0, len(expected), 7):
        assert advance("00:00:00;00", n, rate) == expected[n]
    assert advance(expected[17981], 1, rate) == expected[17982]  # past a tenth minute, which drops nothing


def test_timecode_arithmetic():
    assert advance("01:00:00:00", 25, Fraction(25)) == "01:00:01:00"
    assert advance("00:00:59;29", 1, NTSC) == "00:01:00;02"  # 00 and 01 are not labels at minute 1
    assert advance("00:09:59;29", 1, NTSC) == "00:10:00;00"  # but are at every tenth minute
    assert advance("23:59:59:23", 2, Fraction(24)) == "00:00:00:01"  # a day wraps
    assert advance("10:00:00:000", 121, Fraction(120)) == "10:00:01:001"
    assert advance("01:00:00:00", 0, Fraction(24000, 1001)) == "01:00:00:00"
    for bad, rate in [("01:00:00;00", Fraction(25)), ("1:2:3", Fraction(25)), ("01:00:00:25", Fraction(25)),
                      ("01:61:00:00", Fraction(25)), ("01:00:00:00", Fraction(1000)), ("none", Fraction(25))]:
        assert advance(bad, 0, rate) is None, bad


def dv_clip(path: Path, frames: int, timecode: str) -> Path:
    """A PAL DV file as a camcorder's tape gives it: 720x576 at 25 frames/s, 48 kHz PCM, the tape's timecode."""
    with av.open(str(path), "w", format="dv") as out:
        out.metadata["timecode"] = timecode
        video = out.add_stream("dvvideo", rate=25)
        video.width, video.height, video.pix_fmt = 720, 576, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=48000, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((576, 720, 3), 40 + 5 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 2 * 1920), np.int16), format="s16", layout="stereo")
            sound.sample_rate, sound.pts = 48000, 1920 * i
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def mov_with_timecode(path: Path, timecode: str, rate: Fraction = NTSC, frames: int = 45) -> Path:
    """A MOV with a timecode track, as cameras and editors write them."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["timecode"] = timecode
        mux_moving_frames(out, video, frames)
    return path


def timecode_of(path: Path) -> dict[str, str]:
    """Where ``path`` keeps a timecode: {"video", "track", "file"} to the value each holds."""
    with av.open(str(path)) as container:
        found = {"file": container.metadata.get("timecode") or container.metadata.get("TIMECODE")}
        video = container.streams.video[0].metadata
        found["video"] = video.get("timecode") or video.get("TIMECODE")
        found["track"] = next((s.metadata.get("timecode") for s in container.streams.data), None)
    return {where: value for where, value in found.items() if value}


@pytest.mark.parametrize("out_name, where", [("out.mp4", {"video", "track"}), ("out.mov", {"video", "track"}),
                                             ("out.mkv", {"video"}), ("out.avi", {"file"})])
def test_a_camcorder_tape_keeps_its_timecode(tmp_path, out_name, where):
    src = dv_clip(tmp_path / "tape.dv", 30, "00:00:04:24")
    assert probe(src).rate == 25  # FFmpeg states 60000 (a frame a tick) for every DV file
    opts = VideoOptions(**{**OPTS.__dict__, "size": 96, "start": 0.4})
    summary = run(Identity(), [(src, tmp_path / out_name)], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    got = timecode_of(tmp_path / out_name)
    assert set(got) == where and set(got.values()) == {"00:00:05:09"}, got  # 10 frames later, at 25 a second
    with av.open(str(tmp_path / out_name)) as out:
        assert out.streams.video[0].frames in (0, 20) and len(out.streams.audio) == 1  # 0: not in the header
        assert abs(out.duration / av.time_base - 0.8) < 0.05


def test_a_one_frame_dv_file_is_read_at_its_rate_and_written(tmp_path):
    """exiftool's DV.dv in shape: one frame of a PAL tape, at the start of its timecode."""
    src = dv_clip(tmp_path / "one.dv", 1, "00:00:04:24")
    info = probe(src)
    assert info.rate == 25 and info.expected_frames == 1
    for name in ("one.mp4", "one.mov"):
        summary = run(Identity(), [(src, tmp_path / name)], VideoOptions(**{**OPTS.__dict__, "size": 96}))
        assert [r.status for r in summary.results] == [PROCESSED], summary.results
        assert timecode_of(tmp_path / name) == {"video": "00:00:04:24", "track": "00:00:04:24"}
        with av.open(str(tmp_path / name)) as out:
            assert out.streams.video[0].average_rate == 25


@pytest.mark.parametrize("start, expected", [(0.0, "00:00:59;28"), (1.0, "00:01:01;00")])
def test_a_mov_timecode_track_comes_back_moved_by_the_start(tmp_path, start, expected):
    src = mov_with_timecode(tmp_path / "A001C003.mov", "00:00:59;28")  # 30 frames on: 2 labels skipped
    opts = VideoOptions(**{**OPTS.__dict__, "start": start})
    summary = run(Identity(), [(src, tmp_path / "out.mov")], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert timecode_of(tmp_path / "out.mov") == {"video": expected, "track": expected}


@pytest.mark.parametrize("timecode, rate", [("01:00:00;00", Fraction(25)), ("01:00:00:00", Fraction(300))])
def test_a_timecode_at_a_rate_it_cannot_have_is_left_out(tmp_path, timecode, rate):
    """Drop-frame at 25 frames/s does not exist (FFmpeg's MOV muxer leaves it out itself); a 300 frames/s
    high-speed clip's timecode does not fit the MOV timecode track's byte of frames, and the muxer fails the
    whole file for it ("fps 300 is too large"): the output is written without it."""
    src = mov_with_timecode(tmp_path / "odd.mkv", timecode, rate=rate, frames=10)
    summary = run(Identity(), [(src, tmp_path / "out.mov")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert timecode_of(tmp_path / "out.mov") == {}


def flash_video(path: Path) -> Path:
    """A Flash video as the 2000s web served them: Sorenson video, MP3 at 11025 Hz (MPEG-2.5), onMetaData
    holding the writer's figures beside the title."""
    with av.open(str(path), "w", format="flv") as out:
        out.metadata.update({"title": "Clip", "hasKeyframes": "true", "datasize": "187002",
                             "metadatacreator": "inlet media FLVTool2 v1.0.6"})
        video = out.add_stream("flv", rate=12)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("libmp3lame", rate=11025, layout="mono")
        tone = (3000 * np.sin(np.arange(11025) * 2 * np.pi * 440 / 11025)).astype(np.int16)
        for start in range(0, 11025 - 576, 576):
            sound = av.AudioFrame.from_ndarray(tone[None, start:start + 576], format="s16", layout="mono")
            sound.sample_rate, sound.pts = 11025, start
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
        mux_moving_frames(out, video, 12)
    return path


def test_a_flash_video_with_low_rate_mp3_is_written(tmp_path):
    src = flash_video(tmp_path / "clip.flv")
    summary = run(Identity(), [(src, tmp_path / "out.mp4"), (src, tmp_path / "out.mkv")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED, PROCESSED], summary.results
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.audio[0].codec_context.name == "aac" and out.streams.video[0].frames == 12
        assert {k.lower() for k in out.metadata} - {"major_brand", "minor_version", "compatible_brands",
                                                     "encoder"} == {"title"}
    with av.open(str(tmp_path / "out.mkv")) as out:  # Matroska holds it: copied as it is
        assert out.streams.audio[0].codec_context.name.startswith("mp3")
        assert out.streams.audio[0].codec_context.sample_rate == 11025
        assert {k.lower() for k in out.metadata} == {"title", "encoder"}  # not the writer's sizes and flags


def test_copying_low_rate_mp3_into_mp4_is_refused_before_any_work(tmp_path):
    src = flash_video(tmp_path / "clip.flv")
    opts = VideoOptions(**{**OPTS.__dict__, "encode": EncodeOptions(preset="ultrafast", audio="copy")})
    summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert summary.results[0].status == FAILED
    assert "mp4 cannot hold mp3 under 16 kHz audio" in summary.results[0].reason
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(VideoError):  # the same rule, from the planner's side
        from pipeline.io.encode import audio_plan
        audio_plan("mp3 under 16 kHz", "mp4", "copy")
