"""HLS saved to disk (pipeline/io/playlists.py): a playlist is one video, as a player opens it, and a master
playlist's best variant is the one stylized. Made by FFmpeg's own HLS muxer from a real clip."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from pipeline.io.tracks import main_video
from tests.helpers import STYLE_PATH, run_cli
from tests.videos import read_video

CLIP = Path("../shared/data/video/cutBunny.mp4")  # 640x360 H.264 at 24 frames/s with AAC


def copied_hls(folder: Path) -> Path:
    """The clip copied (pictures and sound) into MPEG-TS segments with a playlist: two, as its keyframes
    fall (9.79 s and 0.21 s)."""
    folder.mkdir(parents=True)
    with av.open(str(CLIP)) as src, av.open(str(folder / "play.m3u8"), "w", format="hls",
                                            options={"hls_time": "1", "hls_list_size": "0",
                                                     "hls_playlist_type": "vod"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in (src.streams.video[0], src.streams.audio[0])}
        for packet in src.demux(*src.streams.video[:1], *src.streams.audio[:1]):
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return folder / "play.m3u8"


def ladder_hls(folder: Path, frames: int = 48, kind: str = "fmp4") -> Path:
    """A master playlist over two variants, 320x180 then 640x360, in fMP4 segments with init sections (or in
    MPEG-TS segments, ``kind`` "mpegts")."""
    folder.mkdir(parents=True)
    suffix = ".m4s" if kind == "fmp4" else ".ts"
    options = {"hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod", "hls_segment_type": kind,
               "master_pl_name": "master.m3u8", "var_stream_map": "v:0 v:1",
               "hls_segment_filename": str(folder / "v%v" / f"seg%d{suffix}"), "hls_fmp4_init_filename": "init.mp4"}
    with av.open(str(CLIP)) as src, av.open(str(folder / "v%v" / "play.m3u8"), "w", format="hls",
                                            options=options) as out:
        variants = [out.add_stream("libx264", rate=24, options={"g": "24"}) for _ in range(2)]
        for stream, (w, h) in zip(variants, ((320, 180), (640, 360))):
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for n, frame in zip(range(frames), src.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            for stream in variants:
                scaled = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(stream.width, stream.height,
                                                                                    format="yuv420p")
                scaled.pts = n
                out.mux(stream.encode(scaled))
        for stream in variants:
            out.mux(stream.encode())
    return folder / "master.m3u8"


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_a_folder_with_saved_hls_gives_one_video_per_playlist(tmp_path, random_decoder_file):
    """A copied stream's playlist with its .ts segments, and a master playlist with two variants in fMP4 (their
    playlists, init sections and segments): two outputs, each the whole of its playlist (its frames, its
    times, the sound of the copied one), none for a segment, an init section or a variant playlist. Before,
    every segment came back as a video of its own (and an init section, which holds no frame, failed)."""
    copied = copied_hls(tmp_path / "in" / "copied")
    ladder = ladder_hls(tmp_path / "in" / "ladder")
    assert len(list(ladder.parent.rglob("*.m4s"))) >= 4 and len(list(copied.parent.glob("*.ts"))) >= 2
    result = run_cli("video", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--decoder",
                     random_decoder_file, "--size", "32", "--temporal", "off", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and (report["processed"], report["failed"]) == (2, 0), report
    made = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert made == ["copied/play.mp4", "ladder/master.mp4"]
    whole, source = read_video(tmp_path / "out" / "copied" / "play.mp4"), read_video(copied)
    assert whole["frames"] == source["frames"] == 240 and whole["pts"] == source["pts"]
    assert whole["audio"] == "aac" and whole["audio_s"] == pytest.approx(source["audio_s"], abs=0.05)
    assert read_video(tmp_path / "out" / "ladder" / "master.mp4")["frames"] == 48


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_a_master_playlist_gives_its_best_variant(tmp_path):
    """FFmpeg's "best" stream of a master playlist over MPEG-TS segments is its first variant, the smallest
    (320x180); a player with the bandwidth, as a file on disk has, shows the highest: 640x360. (Over fMP4
    segments FFmpeg's pick is the larger already: that case could not tell the two apart.)"""
    master = ladder_hls(tmp_path / "ladder", frames=24, kind="mpegts")
    with av.open(str(master)) as container:
        assert [s.codec_context.width for s in container.streams.video] == [320, 640]
        assert container.streams.best("video").codec_context.width == 320
        assert main_video(container).codec_context.width == 640
