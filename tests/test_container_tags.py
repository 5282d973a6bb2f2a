"""The source's tags come back: when (``creation_time``) and where (ISO 6709 ``location``) it was recorded, the
phone that recorded it, its title. Before, the output had none: ../shared/data's teddy_phone.mp4 (a phone's
clip of 2024-10-16) came back dated by nothing, and sorted in a photo library at the day it was stylized."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.conftest import ROOT
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

PHONE = {"creation_time": "2024-10-16T09:57:15.000000Z",
         "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
         "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15", "title": "Tour Eiffel"}
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))
TEDDY = ROOT.parent / "shared" / "data" / "video" / "teddy_phone.mp4"


def phone_clip(path: Path) -> Path:
    """A MOV tagged as an iPhone tags its clips: QuickTime metadata items in reverse-DNS form."""
    with av.open(str(path), "w", options={"movflags": "+use_metadata_tags"}) as out:
        out.metadata.update(PHONE)
        video = out.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        mux_moving_frames(out, video, 8)
    return path


def tags(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {key.lower(): value for key, value in container.metadata.items()}


@pytest.mark.parametrize("out_name, phone_keys", [("out.mp4", True), ("out.mov", True), ("out.mkv", True),
                                                  ("out.webm", False)])
def test_when_and_where_a_clip_was_recorded_come_back(tmp_path, out_name, phone_keys):
    src = phone_clip(tmp_path / "IMG_0001.MOV")
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    got = tags(tmp_path / out_name)
    assert got["location"].startswith("+48.8584+002.2945")  # ©xyz, which every player reads
    if phone_keys:  # WebM keeps only the keys Matroska names (title, dates)
        assert got["creation_time"] == PHONE["creation_time"] and got["title"] == PHONE["title"]
        assert (got["com.apple.quicktime.make"], got["com.apple.quicktime.model"]) == ("Apple", "iPhone 15")
    if out_name.endswith(".mp4"):
        assert got["major_brand"] == "isom"  # the output's own, not the MOV's "qt  "


@pytest.mark.data
def test_a_real_phone_clip_keeps_its_date(tmp_path):
    if not TEDDY.exists():
        pytest.skip(f"{TEDDY} is absent (../shared/data)")
    opts = VideoOptions(**{**OPTS.__dict__, "size": 64, "max_frames": 4})
    summary = run(Identity(), [(TEDDY, tmp_path / "teddy.mp4")], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    kept = tags(tmp_path / "teddy.mp4")["creation_time"]
    assert kept == tags(TEDDY)["creation_time"] == "2024-10-16T09:57:15.000000Z"
