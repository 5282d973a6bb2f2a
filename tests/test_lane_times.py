"""Output frame times equal the source's, within one tick of the output's time base, across segments and
lanes: the cases issue 32 measured with gaps of 986/1001/1016 ticks where the source has 1001 everywhere."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import Identity, run
from tests.videos import make_video

NTSC = Fraction(30000, 1001)


def frame_times(path) -> tuple[list[Fraction], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(f.pts * stream.time_base for f in container.decode(stream)), stream.time_base


@pytest.mark.parametrize("parallel, segment_seconds", [(16, 0.1), (2, 0.5)])
def test_ntsc_frame_times_survive_any_segments_and_lanes(tmp_path, parallel, segment_seconds):
    frames = 36
    src = make_video(tmp_path / "in.mp4", frames=frames, rate=NTSC, time_base=Fraction(1, 30000),
                     pts=[k * 1001 for k in range(frames)], audio=None)
    opts = VideoOptions(size=0, batch_size=2, parallel=parallel, segment_seconds=segment_seconds,
                        encode=EncodeOptions(preset="ultrafast"), temporal=TemporalOptions(TemporalMode.OFF))
    summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert summary.count("processed") == 1, summary.results
    want, _ = frame_times(src)
    got, tick = frame_times(tmp_path / "out.mp4")
    assert len(got) == frames and max(abs(a - b) for a, b in zip(got, want)) <= tick
    assert {b - a for a, b in zip(got, got[1:])} == {Fraction(1001, 30000)}
