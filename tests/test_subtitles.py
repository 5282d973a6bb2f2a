"""Subtitle tracks come back with the pictures, each with its language, at its times, cut to --start/--duration:
as they are where the output's container holds them (Matroska all), text converted into the text codec it holds
(MP4 and MOV mov_text, WebM WebVTT); a track the output cannot hold is named in one line. Before, every subtitle
track was dropped without a word."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import av
import pytest

from pipeline.io.decode import probe
from pipeline.io.subtitle_text import one_at_a_time
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

RATE, FRAMES = 8, 16  # two seconds
SRT = "1\n00:00:00,500 --> 00:00:01,200\nHello\n\n2\n00:00:01,500 --> 00:00:01,900\nWorld\n"
VTT = "WEBVTT\n\n00:00:00.250 --> 00:00:00.750\nBonjour\n\n00:00:01.000 --> 00:00:01.750\nMonde\n"
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def film(tmp_path: Path) -> Path:
    """Two seconds of moving frames with a SubRip track (English) and a WebVTT one (French), as a film's MKV."""
    (tmp_path / "en.srt").write_text(SRT)
    (tmp_path / "fr.vtt").write_text(VTT)
    path = tmp_path / "film.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sources = [av.open(str(tmp_path / name)) for name in ("en.srt", "fr.vtt")]
        tracks = []
        for source, language in zip(sources, ("eng", "fra")):
            stream = out.add_stream_from_template(source.streams.subtitles[0])
            stream.metadata["language"] = language
            tracks.append(stream)
        mux_moving_frames(out, video, FRAMES)
        for source, stream in zip(sources, tracks):
            for packet in source.demux(source.streams.subtitles[0]):
                if packet.size:
                    packet.stream = stream
                    out.mux(packet)
            source.close()
    return path


def one_track_film(tmp_path: Path, name: str, text: str) -> Path:
    """Two seconds of moving frames with one subtitle track: the file ``name`` holding ``text``, in an MKV."""
    (tmp_path / name).write_text(text)
    src = tmp_path / "film.mkv"
    with av.open(str(src), "w") as out, av.open(str(tmp_path / name)) as subs:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        track = out.add_stream_from_template(subs.streams.subtitles[0])
        mux_moving_frames(out, video, FRAMES)
        for packet in subs.demux(subs.streams.subtitles[0]):
            if packet.size:
                packet.stream = track
                out.mux(packet)
    return src


def events(path: Path) -> list[list[tuple[str, float, float, str]]]:
    """Each subtitle track's (codec, shown at, for how long, language) per packet."""
    with av.open(str(path)) as container:
        found = []
        for stream in container.streams.subtitles:
            tb = stream.time_base
            found.append([(stream.codec_context.name, round(float(p.pts * tb), 3), round(float(p.duration * tb), 3),
                           stream.metadata.get("language")) for p in container.demux(stream) if p.size])
            container.seek(0)
    return found


def test_subtitle_tracks_come_back_in_a_matroska_output_at_their_times(tmp_path):
    src = film(tmp_path)
    assert [(codec, language) for _, codec, language in probe(src).subtitles] == [("srt", "eng"), ("webvtt", "fra")]
    summary = run(Identity(), [(src, tmp_path / "out.mkv")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert events(tmp_path / "out.mkv") == [
        [("srt", 0.5, 0.7, "eng"), ("srt", 1.5, 0.4, "eng")],
        [("webvtt", 0.25, 0.5, "fra"), ("webvtt", 1.0, 0.75, "fra")]]


def test_a_cut_keeps_what_shows_in_it_from_its_start(tmp_path):
    """--start 1 --duration 0.75: "Hello" (0.5-1.2 s) shows its last 0.2 s from the start, "World" (1.5-1.9 s)
    is cut where the last picture ends (1.625 s and one frame: 1.75 s); "Bonjour" (before) is left out."""
    src = film(tmp_path)
    opts = VideoOptions(**{**OPTS.__dict__, "start": 1.0, "duration": 0.75})
    summary = run(Identity(), [(src, tmp_path / "cut.mkv")], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    with av.open(str(tmp_path / "cut.mkv")) as container:
        shown = [float(frame.time) for frame in container.decode(video=0)]
    assert shown[0] == 0 and shown[-1] + 1 / RATE == 0.75, shown
    assert events(tmp_path / "cut.mkv") == [
        [("srt", 0.0, 0.2, "eng"), ("srt", 0.5, 0.25, "eng")],
        [("webvtt", 0.0, 0.75, "fra")]]


def shown(path: Path) -> list[list[tuple[str, float, float, str]]]:
    """Each subtitle track's (codec, shown at, for how long, text) per event, as a player decodes them (an MP4's
    empty samples between events left out)."""
    with av.open(str(path)) as container:
        found = []
        for stream in container.streams.subtitles:
            tb, track = stream.time_base, []
            for packet in container.demux(stream):
                events = stream.codec_context.decode2(packet) if packet.size else None
                for event in events or ():
                    track.append((stream.codec_context.name, round(float(packet.pts * tb), 3),
                                  round(float(packet.duration * tb), 3), event.ass.decode().split(",", 8)[-1]))
            found.append(track)
            container.seek(0)
    return found


@pytest.mark.parametrize("out_name, codec", [("out.mp4", "mov_text"), ("out.mov", "mov_text"), ("out.webm", "webvtt")])
def test_text_subtitles_are_converted_where_the_container_holds_another_text_codec(tmp_path, out_name, codec):
    """Before, an MP4 or MOV output dropped both tracks (SubRip and WebVTT; it holds only mov_text) and a WebM the
    SubRip one, with a line saying so: the default .mp4 output of a film's MKV had no subtitles."""
    src = film(tmp_path)
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert shown(tmp_path / out_name) == [
        [(codec, 0.5, 0.7, "Hello"), (codec, 1.5, 0.4, "World")],
        [(codec, 0.25, 0.5, "Bonjour"), (codec, 1.0, 0.75, "Monde")]]
    assert [events(tmp_path / out_name)[k][0][3] for k in (0, 1)] == ["eng", "fra"]


def test_an_mp4_s_own_subtitles_come_back_into_matroska_as_ass(tmp_path):
    """mov_text (a phone's or a drone's MP4, or an MP4 this made) into .mkv, which holds no mov_text: ASS."""
    src = film(tmp_path)
    run(Identity(), [(src, tmp_path / "first.mp4")], OPTS)
    summary = run(Identity(), [(tmp_path / "first.mp4", tmp_path / "again.mkv")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert shown(tmp_path / "again.mkv") == [
        [("ssa", 0.5, 0.7, "Hello"), ("ssa", 1.5, 0.4, "World")],
        [("ssa", 0.25, 0.5, "Bonjour"), ("ssa", 1.0, 0.75, "Monde")]]


def test_italics_survive_the_conversion_and_a_cut(tmp_path):
    src = one_track_film(tmp_path, "it.srt", "1\n00:00:00,500 --> 00:00:01,500\n<i>Softly</i>, now\n")
    opts = VideoOptions(**{**OPTS.__dict__, "start": 1.0})
    run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert shown(tmp_path / "out.mp4") == [[("mov_text", 0.0, 0.5, "{\\i1}Softly{\\r}, now")]]  # a style box


def test_a_track_the_output_cannot_hold_is_named_in_one_line(tmp_path, caplog):
    src = film(tmp_path)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.avi")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert events(tmp_path / "out.avi") == []
    said = [r.getMessage() for r in caplog.records if "subtitles not kept" in r.getMessage()]
    assert said == [f"{src}: subtitles not kept, .avi holds no srt (eng), webvtt (fra) (.mkv keeps them)"], said


ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Sign,Arial,30,&H0000FFFF,&H000000FF,&H00000000,&H00000000,-1,0,0,0,100,100,0,0,1,2,2,8,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.20,0:00:01.00,Default,,0,0,0,,Talking
Dialogue: 1,0:00:00.30,0:00:01.50,Sign,,0,0,0,,{\\p1}m 0 0 l 100 0 100 100 0 100{\\p0}
Dialogue: 0,0:00:00.50,0:00:01.80,Sign,,0,0,0,,{\\pos(320,50)}EXIT
"""


def test_overlapping_events_show_at_their_times_in_an_mp4(tmp_path):
    """An ASS track of a sign over dialogue (and a drawn box) into MP4: mov_text shows one sample at a time, and
    its muxer moved each event that began before the last ended to after it (EXIT at 1.0 s, not 0.5 s, and every
    later event later still); the drawing's outline came out as words ("m 0 0 l 100 ...")."""
    src = one_track_film(tmp_path, "signs.ass", ASS)
    run(Identity(), [(src, tmp_path / "out.mp4")], OPTS)
    plain = [(at, lasts, re.sub(r"\{[^}]*\}", "", text)) for _, at, lasts, text in shown(tmp_path / "out.mp4")[0]]
    assert plain == [(0.2, 0.3, "Talking"), (0.5, 0.5, "Talking\\NEXIT"), (1.0, 0.8, "EXIT")]


def test_events_are_laid_one_after_another_each_in_its_style():
    events = [(0, 10, b"0,0,Default,,0,0,0,,a"), (5, 10, b"1,0,Sign,,0,0,0,,b"), (20, None, b"2,0,Default,,0,0,0,,c"),
              (30, 5, b"3,0,Default,,0,0,0,,d")]
    assert one_at_a_time(events) == [(0, 5, b"0,0,Default,,0,0,0,,a"), (5, 5, b"0,0,Default,,0,0,0,,a\\N{\\rSign}b"),
                                     (10, 5, b"1,0,Sign,,0,0,0,,b"), (20, 10, b"2,0,Default,,0,0,0,,c"),
                                     (30, 5, b"3,0,Default,,0,0,0,,d")]


def test_a_subtitle_that_cannot_be_converted_costs_only_itself(tmp_path, caplog, monkeypatch):
    """The pictures and the audio are what count: an event the encoder refuses is left out, a track whose
    converter cannot be opened too, each said in one line, and the video is written."""
    import pipeline.io.subtitles as subtitles

    class Refusing:
        @staticmethod
        def create(line, *args):
            if line.endswith(b"World"):
                raise ValueError("refused")
            return av.subtitles.subtitle.SubtitleSet.create(line, *args)

    def unopenable(self, out, out_format):
        if self.in_stream.codec_context.name == "webvtt":
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
        return converted(self, out, out_format)

    converted = subtitles.SourceSubtitles._converted
    monkeypatch.setattr(subtitles, "SubtitleSet", Refusing)
    monkeypatch.setattr(subtitles.SourceSubtitles, "_converted", unopenable)
    src = film(tmp_path)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mp4")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert [text for *_, text in shown(tmp_path / "out.mp4")[0]] == ["Hello"]
    said = sorted(r.getMessage() for r in caplog.records if "subtitle" in r.getMessage())
    assert len(said) == 2 and "1 of 2 events of its srt (eng) subtitles could not be converted" in said[0], said
    assert "its webvtt (fra) subtitles left out: they could not be converted" in said[1], said


def test_events_without_durations_end_where_the_next_later_one_starts():
    """An event without a duration shows until the first later event that starts after it (events starting
    together end together), the last a tick; with one, as long as it says. Checked against looking ahead from
    each event, which took a long track quadratic time, on tracks of repeated starts."""
    import random

    from pipeline.io.subtitle_text import _ends

    def looking_ahead(events, k):
        start, duration, _ = events[k]
        later = [s for s, _, _ in events[k + 1:] if s > start]
        return start + duration if duration else (later[0] if later else start + 1)

    assert _ends([(0, None, b""), (0, None, b""), (5, 2, b""), (9, None, b"")]) == [5, 5, 7, 10]
    rng = random.Random(7)
    for _ in range(200):
        starts = sorted(rng.choice(range(12)) for _ in range(rng.randint(1, 9)))
        events = [(s, rng.choice([None, 0, 3]), b"") for s in starts]
        assert _ends(events) == [looking_ahead(events, k) for k in range(len(events))]
