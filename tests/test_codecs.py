"""Every `--codec` the help names writes a playable output, its frames at the source's times with its sound:
`--codec libsvtav1` ended in a traceback at the join (PyAV looked for an encoder named as AV1's decoder,
libdav1d), whatever the container."""

from __future__ import annotations

import pytest

from tests.helpers import STYLE_PATH, run_cli
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
