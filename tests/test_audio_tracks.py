"""Every audio track of the source comes back (a film's other languages, a director's commentary), each with
its language, title and default flag, in the source's order, copied where the output holds its codec and
transcoded where not, cut to --start/--duration with the pictures. Before, only the first track was written
and the others were dropped without a word."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.io.decode import probe
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

W, H, RATE, FRAMES = 64, 48, 8, 16  # two seconds
# (codec, layout, tone in Hz, language, title, default): the second track a commentary in another codec
TRACKS = [("aac", "stereo", 440, "eng", None, True), ("ac3", "mono", 1000, "fra", "Commentaire", False)]
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def film(path: Path, seconds: float = FRAMES / RATE, tracks_: list = TRACKS) -> Path:
    """Moving frames and ``tracks_`` (as ``TRACKS``), each a tone of its own pitch, as long as the pictures."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        streams = []
        for codec, layout, _, language, title, default in tracks_:
            stream = out.add_stream(codec, rate=48000)
            stream.layout = layout
            stream.metadata["language"] = language
            if title:
                stream.metadata["title"] = title
            stream.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
            streams.append(stream)
        mux_moving_frames(out, video, FRAMES)
        for stream, (_, layout, pitch, *_) in zip(streams, tracks_):
            _tone(out, stream, layout, pitch, seconds)
    return path


def _tone(out, stream, layout: str, pitch: int, seconds: float) -> None:
    rate, size = 48000, stream.codec_context.frame_size or 1024
    total = int(seconds * rate)
    wave = (0.3 * np.sin(2 * np.pi * pitch * np.arange(total) / rate)).astype(np.float32)
    channels = av.AudioLayout(layout).nb_channels
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
    for start in range(0, total, size):
        frame = av.AudioFrame.from_ndarray(np.repeat(wave[None, start:start + size], channels, 0), format="fltp",
                                           layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for chunk in resampler.resample(frame):
            out.mux(stream.encode(chunk))
    out.mux(stream.encode(None))


def tracks(path: Path) -> list[dict]:
    """Each audio track's codec, language, title, default flag, seconds heard and loudest pitch (Hz)."""
    found = []
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            samples = np.concatenate([f.to_ndarray().reshape(f.to_ndarray().shape[0], -1)[0]
                                      for f in container.decode(stream)])
            rate = stream.codec_context.sample_rate
            spectrum = np.abs(np.fft.rfft(samples[rate // 10:]))
            found.append({"codec": stream.codec_context.name, "language": stream.metadata.get("language"),
                          "title": stream.metadata.get("title") or stream.metadata.get("name"),
                          "default": bool(stream.disposition & av.stream.Disposition.default),
                          "seconds": len(samples) / rate,
                          "pitch": round(np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1)))})
            container.seek(0)
    return found


@pytest.mark.parametrize("out_name, codecs", [
    ("out.mp4", ["aac", "ac3"]),  # both copied
    ("out.mkv", ["aac", "ac3"]),
    ("out.webm", ["opus", "opus"]),  # WebM holds neither: both transcoded
])
def test_every_audio_track_comes_back_with_its_language_and_title(tmp_path, out_name, codecs):
    src = film(tmp_path / "film.mkv")
    assert [codec for _, codec in probe(src).audio_tracks] == ["aac", "ac3"]
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    got = tracks(tmp_path / out_name)
    assert [t["codec"] for t in got] == codecs
    assert [(t["language"], t["title"], t["default"]) for t in got] == [(lang, title, default) for
                                                                       *_, lang, title, default in TRACKS]
    assert [abs(t["pitch"] - pitch) < 15 for t, (_, _, pitch, *_) in zip(got, TRACKS)] == [True, True]  # not swapped
    assert all(abs(t["seconds"] - FRAMES / RATE) < 0.1 for t in got), got


def test_every_track_is_cut_with_the_pictures(tmp_path):
    src = film(tmp_path / "film.mkv")
    opts = VideoOptions(**{**OPTS.__dict__, "start": 0.5, "duration": 1.0})
    summary = run(Identity(), [(src, tmp_path / "cut.mp4")], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    got = tracks(tmp_path / "cut.mp4")
    assert len(got) == 2 and all(abs(t["seconds"] - 1.0) < 0.1 for t in got), got


def test_audio_copy_refuses_before_any_work_when_a_later_track_cannot_be_copied(tmp_path):
    """WebM holds Opus but not FLAC: --audio copy names the second track's codec and nothing is written."""
    src = film(tmp_path / "film.mkv", tracks_=[("libopus", "stereo", 440, "eng", None, True),
                                              ("flac", "mono", 1000, "fra", None, False)])
    opts = VideoOptions(**{**OPTS.__dict__, "encode": EncodeOptions(preset="ultrafast", audio="copy")})
    summary = run(Identity(), [(src, tmp_path / "out.mkv"), (src, tmp_path / "out.webm")], opts)
    by_name = {Path(r.output).name if r.output else "refused": r for r in summary.results}
    assert sorted(by_name) == ["out.mkv", "refused"] and by_name["out.mkv"].status == PROCESSED, summary.results
    assert "--audio copy: webm cannot hold flac" in by_name["refused"].reason
    assert not (tmp_path / "out.webm").exists()
    assert [t["codec"] for t in tracks(tmp_path / "out.mkv")] == ["opus", "flac"]


@pytest.mark.parametrize("codec_id, left", [(b"A_AC3", ["aac"]), (b"A_AAC", ["ac3"])], ids=["second", "first"])
def test_a_track_whose_codec_ffmpeg_does_not_know_is_left_out_and_the_others_kept(tmp_path, caplog, codec_id,
                                                                                 left):
    """A Matroska codec ID FFmpeg has never heard of (as a new phone's spatial audio can be) gives a stream
    with no codec: listing the tracks ended the run in a traceback (AttributeError). Now one line names it."""
    src = film(tmp_path / "film.mkv")
    data = bytearray(src.read_bytes())
    at = data.index(codec_id)
    data[at:at + len(codec_id)] = b"A_XYZ"[:len(codec_id)]
    (tmp_path / "odd.mkv").write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="pipeline"):
        summary = run(Identity(), [(tmp_path / "odd.mkv", tmp_path / "out.mkv")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert [t["codec"] for t in tracks(tmp_path / "out.mkv")] == left
    said = [r.getMessage() for r in caplog.records if "FFmpeg does not know" in r.getMessage()]
    language = "fra" if codec_id == b"A_AC3" else "eng"
    assert said == [f"{tmp_path / 'odd.mkv'}: left out, in codecs FFmpeg does not know: audio stream "
                    f"{1 if language == 'eng' else 2} ({language})"], said


def test_damaged_audio_packets_leave_a_gap_not_a_failed_video(tmp_path, caplog):
    """Twenty AAC packets whose data is spoilt (the file's structure intact), transcoded for WebM: the join
    failed ('Invalid data found when processing input') after every frame was stylized."""
    src = film(tmp_path / "film.mkv")
    with av.open(str(src)) as container:
        spots = [(p.pos, p.size) for p in container.demux(container.streams.audio[0]) if p.size][20:40]
    data = bytearray(src.read_bytes())
    for pos, size in spots:
        for i in range(pos + size - 120, pos + size - 4):
            data[i] ^= 0x5A
    (tmp_path / "damaged.mkv").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), [(tmp_path / "damaged.mkv", tmp_path / "out.webm")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    said = [r.getMessage() for r in caplog.records if "damaged packets" in r.getMessage()]
    assert len(said) == 1 and "20 damaged packets of its audio (stream 1)" in said[0], said
    got = tracks(tmp_path / "out.webm")
    assert 1.2 < got[0]["seconds"] < FRAMES / RATE - 0.2 and abs(got[1]["seconds"] - FRAMES / RATE) < 0.1, got
