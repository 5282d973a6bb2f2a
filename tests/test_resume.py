"""--resume after what really happens to a work folder: a stale `.part` segment, a finished segment cut short
on disk, and a resume with changed settings (which must start over, not mix two styles in one video)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.jobs.video import Media
from pipeline.options import VideoOptions
from tests.helpers import Recorder, failing_sink, make_stylizer, run
from tests.videos import make_video, read_video

OPTS = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1)  # 6-frame segments at 24 fps


@pytest.fixture(scope="module")
def stylizer(random_decoder_file):
    return make_stylizer(random_decoder_file, calibration_size=OPTS.size)  # fp32's kernels probed at the work size


def _interrupted(stylizer, src, dst) -> None:
    """A run stopped by Ctrl-C while frame 16 is written: segments 0 and 1 are finished."""
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, [(src, dst)], OPTS, Media(sink=failing_sink(16, KeyboardInterrupt())))
    work = dst.parent / f".{dst.name}.parts"
    assert sorted(p.name for p in work.glob("segment_*.mp4")) == ["segment_000000.mp4", "segment_000001.mp4"]


def _resume(stylizer, src, dst, opts=OPTS) -> Recorder:
    resumed = Recorder()
    summary = run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "resume": True}), Media(sink=resumed))
    assert summary.results[0].status == "processed", summary.results[0].reason
    assert read_video(dst)["frames"] == 24
    return resumed


def test_a_stale_part_segment_is_removed_and_made_again(tmp_path, stylizer):
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    dst = tmp_path / "out.mp4"
    _interrupted(stylizer, src, dst)
    stale = dst.parent / ".out.mp4.parts" / "segment_000002.part.mp4"
    stale.write_bytes(b"what a killed encoder left")
    resumed = _resume(stylizer, src, dst)
    assert sorted(resumed.frames) == list(range(12, 24))
    assert not stale.exists() and not (dst.parent / ".out.mp4.parts").exists()


def test_a_finished_segment_cut_short_is_made_again(tmp_path, stylizer):
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    full = Recorder()
    run(stylizer, [(src, tmp_path / "full.mp4")], OPTS, Media(sink=full))
    dst = tmp_path / "out.mp4"
    _interrupted(stylizer, src, dst)
    first = dst.parent / ".out.mp4.parts" / "segment_000000.mp4"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # a disk that lost its tail
    resumed = _resume(stylizer, src, dst)
    assert sorted(resumed.frames) == [*range(0, 6), *range(12, 24)]  # segment 0 again, segment 1 kept
    assert all(np.array_equal(resumed.frames[k], full.frames[k]) for k in resumed.frames)


def test_a_resume_with_other_settings_starts_over(tmp_path, stylizer, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    dst = tmp_path / "out.mp4"
    _interrupted(stylizer, src, dst)
    other = make_stylizer(random_decoder_file, alpha=0.5, calibration_size=OPTS.size)
    resumed = Recorder()
    summary = run(other, [(src, dst)], VideoOptions(**{**vars(OPTS), "resume": True}), Media(sink=resumed),
                  key="alpha 0.5")
    assert summary.results[0].status == "processed" and sorted(resumed.frames) == list(range(24))  # none reused
