"""Cover pictures: FFmpeg lists a file's artwork as a video stream (an "attached pic": an audio file's cover, an
MP4's or MKV's artwork), and a still put in as a track of its own (``ffmpeg -i cover.jpg -i film.mp4 -map 0
-map 1 film.mkv``, a common way to give an MKV a cover) is one too. The video path took the first video stream:
such an MKV came back as one stylized frame of its cover, and an M4A song with its cover as a one-frame video."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.errors import VideoError
from pipeline.io.decode import decode_frames, probe
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=0.5, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))
FRAMES = 12


def with_cover(path: Path, fmt: str, film: bool = True) -> Path:
    """A 32x32 JPEG cover as the first video stream (flagged an attached picture), then ``FRAMES`` frames of
    film when ``film``, and a second of silence."""
    data = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(data, "JPEG")
    with av.open(str(path), "w", format=fmt) as out:
        cover = out.add_stream("mjpeg")
        cover.width = cover.height = 32
        cover.pix_fmt, cover.disposition = "yuvj420p", av.stream.Disposition.attached_pic
        video = out.add_stream("libx264", rate=24) if film else None
        if video is not None:
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        out.start_encoding()
        packet = av.Packet(data.getvalue())
        packet.stream, packet.pts, packet.dts, packet.time_base = cover, 0, 0, Fraction(1, 90000)
        packet.is_keyframe = True
        out.mux(packet)
        if video is not None:
            mux_moving_frames(out, video, FRAMES)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 44100), np.float32), format="fltp", layout="mono")
        silence.sample_rate, silence.pts = 44100, 0
        for piece in audio.encode(silence) + audio.encode(None):
            out.mux(piece)
    return path


def test_a_still_put_in_before_the_film_is_not_taken_for_it(tmp_path):
    src = with_cover(tmp_path / "film.mkv", "matroska")
    with av.open(str(src)) as container:  # the shape: a one-frame MJPEG track listed first
        assert [s.codec_context.name for s in container.streams.video] == ["mjpeg", "h264"]
    info = probe(src)
    assert (info.codec, info.width, info.height) == ("h264", 64, 48)
    assert len(list(decode_frames(info))) == FRAMES
    dst = tmp_path / "out.mp4"
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED]
    with av.open(str(dst)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES and container.streams.audio


def test_a_song_with_its_cover_is_audio_not_a_one_frame_video(tmp_path):
    src = with_cover(tmp_path / "song.m4a", "mp4", film=False)
    with av.open(str(src)) as container:  # the shape: its only video stream is the cover
        assert [int(s.disposition) for s in container.streams.video] == [av.stream.Disposition.attached_pic]
    with pytest.raises(VideoError, match="audio-only file; its cover picture is no video"):
        probe(src)


def with_attachments(path: Path) -> tuple[Path, bytes, bytes]:
    """An MKV carrying a font (for its ASS subtitles) and a cover picture as attachments, and its bytes."""
    font, cover = b"\x00\x01\x00\x00" + bytes(range(256)) * 4, io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(cover, "JPEG")
    with av.open(str(path), "w") as out:
        out.add_attachment("Subtitles.ttf", "font/ttf", font)
        out.add_attachment("cover.jpg", "image/jpeg", cover.getvalue())
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        mux_moving_frames(out, video, FRAMES)
    return path, font, cover.getvalue()


def carried(path: Path) -> dict[str, bytes]:
    """File name (or "artwork") -> bytes of each attachment and cover picture ``path`` holds."""
    found = {}
    with av.open(str(path)) as container:
        for stream in container.streams.attachments:
            found[stream.metadata["filename"]] = stream.data
        for stream in container.streams.video:
            if stream.disposition & av.stream.Disposition.attached_pic:
                packet = next(p for p in container.demux(stream) if p.size)
                found[stream.metadata.get("filename", "artwork")] = bytes(packet)
    return found


@pytest.mark.parametrize("out_name", ["out.mkv", "out.mp4", "out.webm"])
def test_fonts_and_covers_are_carried_where_the_output_holds_them(tmp_path, out_name):
    """Before, every output lost them: an MKV's ASS track fell back to the player's fonts, a film lost its artwork.
    Matroska keeps both as they were; MP4 the cover as its artwork; WebM takes no attachments."""
    src, font, cover = with_attachments(tmp_path / "film.mkv")
    assert carried(src) == {"Subtitles.ttf": font, "cover.jpg": cover}  # the shape: FFmpeg lists the cover as video
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED]
    expected = {"out.mkv": {"Subtitles.ttf": font, "cover.jpg": cover}, "out.mp4": {"artwork": cover}, "out.webm": {}}
    assert carried(tmp_path / out_name) == expected[out_name]
    info = probe(tmp_path / out_name)  # and the picture is still the film
    assert (info.codec, len(list(decode_frames(info)))) == ("vp9" if out_name == "out.webm" else "h264", FRAMES)
