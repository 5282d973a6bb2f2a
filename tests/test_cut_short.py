"""A file that really stops decoding part way (cut off in the middle, as a broken download or a recorder that
lost power leaves it) keeps what decoded: the output holds those frames and the audio up to there, one
warning line names the file and the time it stopped at, the JSON report says so; ``--strict`` makes it a
failure. Files that end where they say they end raise no such warning."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import av
import pytest

from pipeline.errors import DecodingStopped
from pipeline.io.decode import decode_frames, probe
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import Summary
from tests import media
from tests.helpers import STYLE_PATH, Identity, run, run_cli

FRAMES = 48  # 2 s at 24 fps


def decoded(path: Path) -> tuple[int, list[DecodingStopped]]:
    count, _, stops = decoded_until(path)
    return count, stops


def decoded_until(path: Path) -> tuple[int, float, list[DecodingStopped]]:
    """Frames decoded, the time just after the last one (the source's timeline, as ``--start`` counts) and
    the stops reported."""
    info, stops = probe(path), []
    frames = list(decode_frames(info, stops=stops))
    return len(frames), float(frames[-1].pts * info.time_base + 1 / info.rate), stops


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cut")
    whole_mkv = media.encode(root / "whole.mkv", frames=FRAMES, audio=True)
    whole_ts = media.encode(root / "whole.ts", fmt="mpegts", frames=FRAMES, audio=True)
    return {"whole.mkv": whole_mkv, "whole.ts": whole_ts,
            "cut.mkv": media.cut(whole_mkv, root / "cut.mkv", 0.55),
            "cut.ts": media.cut(whole_ts, root / "cut.ts", 0.55)}


def test_whole_files_raise_no_warning(clips):
    for name in ("whole.mkv", "whole.ts"):
        assert decoded(clips[name]) == (FRAMES, [])


@pytest.mark.parametrize("name", ["cut.mkv", "cut.ts"])
def test_a_file_cut_in_the_middle_keeps_its_frames_and_says_where_it_stopped(clips, name):
    count, end, stops = decoded_until(clips[name])
    assert 10 < count < FRAMES
    assert len(stops) == 1 and stops[0].at_s == pytest.approx(end)
    assert "\n" not in str(stops[0])


@pytest.mark.parametrize("packet", [30, 5])
def test_a_damaged_frame_is_left_out_and_decoding_goes_on(tmp_path, caplog, packet):
    """Eight bytes spoilt in one H.264 frame: the decoder refuses that packet and takes the next. Before, decoding
    stopped there and the output held the frames before it (24 of 48 for the 30th packet, 5 for the 5th)."""
    src = media.x264_avi(tmp_path / "in.avi", frames=FRAMES)
    damaged = media.flip(src, tmp_path / "flipped.avi", media.packet_positions(src)[packet])
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        count, end, stops = decoded_until(damaged)
    assert count == FRAMES - 1 and stops == [] and end == pytest.approx(FRAMES / 24)
    said = [r.getMessage() for r in caplog.records if "damaged video packets" in r.getMessage()]
    near = re.search(r"1 damaged video packets did not decode, the first near ([0-9.]+) s", said[0] if said else "")
    # a frame-threaded decoder reports the error a few packets on
    assert len(said) == 1 and near and packet / 24 <= float(near[1]) <= (packet + 4) / 24, said


def test_a_file_of_garbage_after_its_first_frames_stops_decoding_there(tmp_path):
    """Past ``MAX_DAMAGED`` packets that do not decode, the file is garbage from there: decoding stops, and the
    frames before are kept with one warning, as for a file cut short."""
    from pipeline.io.decode import MAX_DAMAGED

    src = media.x264_avi(tmp_path / "in.avi", frames=MAX_DAMAGED + 30)
    damaged = src
    for k, at in enumerate(media.packet_positions(src)[10:]):
        damaged = media.flip(damaged, tmp_path / f"flipped{k % 2}.avi", at)
    count, end, stops = decoded_until(damaged)
    assert 8 <= count <= 12 and len(stops) == 1, (count, stops)
    assert str(stops[0]).startswith("truncated or corrupt: decoding failed after")
    assert stops[0].at_s == pytest.approx(end)


def test_a_mkv_whose_blocks_are_damaged_part_way_says_damaged_not_ended(tmp_path, clips):
    """A block header spoilt in the middle of a Matroska cluster: FFmpeg's reader stops there, well before the
    end. Before, the warning said the file ends there; the cut file still does."""
    src = clips["whole.mkv"]
    damaged = media.flip(src, tmp_path / "damaged.mkv", media.packet_positions(src)[40])
    count, end, stops = decoded_until(damaged)
    assert 10 < count < FRAMES and len(stops) == 1 and stops[0].at_s == pytest.approx(end)
    said = re.fullmatch(r"the file is damaged at byte (\d+) of (\d+): FFmpeg reads no packet past it, before the "
                        r"[0-9.]+ s its header declares", str(stops[0]))
    assert said and int(said[2]) == damaged.stat().st_size and int(said[1]) < int(said[2]) - 1000, str(stops[0])
    assert str(decoded(clips["cut.mkv"])[1][0]).startswith("the file ends there")


def test_a_mkv_whose_audio_outlasts_its_video_is_whole(tmp_path):
    """The header's duration is the longest stream's: video ending first is no cut."""
    src = media.encode(tmp_path / "short_video.mkv", frames=12, audio=False)
    with av.open(str(src)) as inp, av.open(str(tmp_path / "long_audio.mkv"), "w") as out:
        video, tone = out.add_stream_from_template(inp.streams.video[0]), media._add_tone(out)
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = video
                out.mux(packet)
        media.write_tone(out, tone, 2.0)
    assert decoded(tmp_path / "long_audio.mkv") == (12, [])


def _audio_end(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return max(float((p.pts + p.duration) * stream.time_base) for p in container.demux(stream) if p.size)


def test_a_run_keeps_what_decoded_with_one_warning_and_strict_fails(clips, tmp_path, caplog):
    src = clips["cut.mkv"]
    count, stops = decoded(src)
    opts = VideoOptions(size=64, batch_size=4, parallel=1, segment_seconds=0.5,
                        encode=EncodeOptions(preset="ultrafast"), temporal=TemporalOptions(TemporalMode.OFF))
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mkv")], opts)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(src) in warnings[0]
    assert f"stopped decoding at {stops[0].at_s:.3f} s" in warnings[0]
    item = summary.to_dict()["items"][0]
    assert item["status"] == "processed" and item["stopped_at_s"] == pytest.approx(stops[0].at_s, abs=1e-3)
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) == count
    # the audio up to the cut: all the cut file holds, never past the last frame
    assert _audio_end(tmp_path / "out.mkv") == pytest.approx(min(_audio_end(src), stops[0].at_s), abs=0.03)

    summary = run(Identity(), [(src, tmp_path / "strict.mkv")], replace(opts, strict=True))
    item = summary.to_dict()["items"][0]
    assert item["status"] == "failed" and item["reason"].startswith(f"stopped decoding at {stops[0].at_s:.3f} s")
    assert "--strict" in item["reason"] and summary.exit_code == 1
    assert not (tmp_path / "strict.mkv").exists() and not list(tmp_path.glob(".strict.mkv*"))


def test_cli_strict_reaches_the_job(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("pipeline.jobs.video.run_video_job", lambda i, o, s, video, *a: seen.append(video) or
                        Summary("video", units="frames"))
    (tmp_path / "in.mkv").write_bytes(b"not read: the job is replaced")  # the command checks it is there
    for extra, strict in (((), False), (("--strict",), True)):
        run_cli("video", tmp_path / "in.mkv", tmp_path / "out.mkv", "--style", STYLE_PATH, *extra)
        assert seen[-1].strict is strict
