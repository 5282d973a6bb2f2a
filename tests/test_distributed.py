"""The Ray engine against the local engine: same outputs, same summaries, segments joined exactly."""

import json

import numpy as np
import pytest
import torch

from pipeline.jobs.video import Media, VideoJob
from pipeline.jobs.video_frames import nets_for_video
from pipeline.options import EngineOptions, StyleOptions, VideoOptions
from pipeline.report import Hooks, Summary
from tests.helpers import STYLE_PATH as STYLE, make_stylizer, run_cli, save_rgb
from tests.helpers import Recorder, failing_sink, run
from tests import media
from tests.media import played
from tests.videos import make_video, read_video

ray = pytest.importorskip("ray")


def test_segments_rendered_apart_match_one_run(tmp_path, random_decoder_file):
    """What a Ray worker does for one segment (seek, warm up, render) gives exactly the frames of a whole run."""
    stylizer = make_stylizer(random_decoder_file, size=128, calibration_size=64)  # the work size below
    src = make_video(tmp_path / "in.mp4", frames=26, rate=24)
    opts = VideoOptions(size=64, batch_size=4, segment_seconds=0.25, parallel=1)
    whole, parts = Recorder(), Recorder()
    run(stylizer, [(src, tmp_path / "a.mp4")], opts, Media(sink=whole))
    job = VideoJob(opts, "", stylizer.device, Media(sink=parts))
    plan = job.plan(src, tmp_path / "b.mp4", seekable=True)
    job.prepare(plan)
    items = job.items(plan, per_segment=True)
    assert len(plan.timestamps) == 26 and plan.seg_len == 6 and [i.run for i in items] == [range(k, k + 1)
                                                                                          for k in range(5)]
    nets = nets_for_video(stylizer, None, plan)
    rendered = [job.run_item(nets, item) for item in reversed(items)]  # any order, as workers finish
    assert [r.tally.frames for r in rendered] == [2, 6, 6, 6, 6]
    assert sorted(parts.frames) == list(range(26))
    assert all(np.array_equal(parts.frames[k], whole.frames[k]) for k in range(26))
    job.finish(plan, rendered)
    assert read_video(tmp_path / "b.mp4")["pts"] == read_video(tmp_path / "a.mp4")["pts"]


@pytest.fixture(scope="module")
def ray_local():
    from pipeline.engines.ray import init_ray

    init_ray(None, 2)
    yield
    ray.shutdown()


def _cli_json(*args):
    result = run_cli(*args)
    return result, json.loads(result.stdout)


def test_ray_folder_matches_local(tmp_path, random_decoder_file, ray_local):
    src = tmp_path / "in"
    save_rgb(src / "a.png", 48, 40)
    save_rgb(src / "sub" / "b.jpg", 64, 40, seed=1)
    save_rgb(src / "sub" / "deeper" / "c.png", 30, 50, seed=2)
    media.animation(src / "sub" / "moving.gif", [100, 60, 100, 200], (40, 32), loop=0)  # the video job, on a worker
    (src / "sub" / "bad.png").write_text("not an image")
    (src / "zero.jpg").write_bytes(b"")
    common = ["--style", STYLE, "--decoder", random_decoder_file, "--json", "--size", "64"]
    local, local_summary = _cli_json("folder", src, tmp_path / "local", *common)
    distributed, ray_summary = _cli_json("folder", src, tmp_path / "ray", *common, "--engine", "ray", "--workers", "2")
    assert local.exit_code == distributed.exit_code == 1
    for key in ("processed", "skipped", "failed", "images"):
        assert local_summary[key] == ray_summary[key]
    by_path = lambda s: sorted((i["path"], i["status"], i["reason"]) for i in s["items"])
    assert by_path(local_summary) == by_path(ray_summary)
    for path in (tmp_path / "local").rglob("*.*"):
        other = tmp_path / "ray" / path.relative_to(tmp_path / "local")
        (durations, _, frames), (other_durations, _, other_frames) = played(path), played(other)
        assert durations == other_durations and len(frames) == len(other_frames)
        assert all(np.array_equal(a, b) for a, b in zip(frames, other_frames))
    assert played(tmp_path / "ray" / "sub" / "moving.gif")[0] == [100, 60, 100, 200]
    again, summary = _cli_json("folder", src, tmp_path / "ray", *common, "--engine", "ray", "--skip-existing")
    assert summary["skipped"] == 4 and summary["processed"] == 0


def test_ray_splits_one_video_into_segments_and_joins_them(tmp_path, random_decoder_file, ray_local):
    src = make_video(tmp_path / "in.mp4", frames=30, rate=24)
    common = ["--style", STYLE, "--decoder", random_decoder_file, "--json", "--size", "64", "--segment-seconds",
              "0.25", "--batch-size", "2"]
    local, _ = _cli_json("video", src, tmp_path / "local.mp4", *common)
    distributed, summary = _cli_json("video", src, tmp_path / "ray.mp4", *common, "--engine", "ray")
    assert local.exit_code == distributed.exit_code == 0 and summary["frames"] == 30
    a, b, original = read_video(tmp_path / "local.mp4"), read_video(tmp_path / "ray.mp4"), read_video(src)
    assert b["frames"] == 30 and b["pts"] == original["pts"] and b["rate"] == original["rate"]
    assert b["audio_s"] == pytest.approx(original["audio_s"], abs=0.03)
    # Frames match the local run up to x264's run-to-run noise, at segment boundaries too.
    psnr = [10 * np.log10(255**2 / max(np.mean((x.astype(float) - y) ** 2), 1e-9)) for x, y in zip(a["images"],
                                                                                                    b["images"])]
    assert min(psnr) > 30
    assert not list(tmp_path.glob(".*"))


def test_ray_folder_of_videos(tmp_path, random_decoder_file, ray_local):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "a.mp4", frames=5)
    make_video(src / "b.mp4", frames=7, audio=None)
    (src / "c.mp4").write_text("broken")
    result, summary = _cli_json("video", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                                "--json", "--size", "64", "--engine", "ray")
    assert result.exit_code == 1 and summary["processed"] == 2 and summary["failed"] == 1 and summary["frames"] == 12
    assert read_video(tmp_path / "out" / "b.mp4")["frames"] == 7


def test_ray_resumes_a_locally_interrupted_video(tmp_path, random_decoder_file, ray_local):
    from pipeline.build import build_stylizer
    from pipeline.engines.ray import run_videos_ray

    src = make_video(tmp_path / "in.mp4", frames=24, rate=24)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1)
    style = StyleOptions(styles=[STYLE], decoder=random_decoder_file, precision="fp32", calibration_size=64,
                         device="cpu", adapt=0)
    stylizer = build_stylizer(style)  # what each Ray worker builds
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):  # interrupted while segment 2 is written
        run(stylizer, [(src, dst)], opts, Media(sink=failing_sink(14, KeyboardInterrupt())), key=style.key())
    done = len(list((tmp_path / ".out.mp4.parts").glob("segment_??????.mp4")))
    assert done == 2
    progress = []
    opts = VideoOptions(**{**vars(opts), "resume": True})
    job = VideoJob(opts, style.key(), torch.device("cpu"))
    summary = Summary("video", units="frames")
    plans = job.plan_all([(src, dst)], summary, seekable=True)
    run_videos_ray(job, plans, style, None, EngineOptions(engine="ray", workers=2), Hooks(on_units=progress.append),
                   summary)
    assert summary.exit_code == 0 and summary.units_done == 24
    assert progress[0] == 6 * done  # the finished segments were counted, not scheduled again
    assert sum(progress) == 24 and read_video(dst)["frames"] == 24


def test_a_failing_cluster_is_one_error_line_and_exit_1(tmp_path, random_decoder_file, monkeypatch):
    """Ray's own failure (here: every worker lost before it ran) ends the run with one line, not Ray's traceback."""
    import pipeline.engines.ray as engine

    class Lost:
        def iter_rows(self):
            raise ray.exceptions.RayError("The actor died unexpectedly before finishing this task.\n\tactor_id: 1")

    monkeypatch.setattr(engine, "init_ray", lambda *a: None)
    monkeypatch.setattr(engine, "_map", lambda *a, **k: Lost())
    save_rgb(tmp_path / "in" / "a.png", 32, 32)
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                     "--size", "32", "--engine", "ray")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if not line.startswith("note:")]  # a busy probe's note
    assert said == ["error: the Ray cluster failed (RayError: The actor died unexpectedly before finishing this "
                    "task.); what was finished is kept: run again with --skip-existing (videos also with --resume)"]


def test_ray_carries_where_a_cut_short_clip_stopped(tmp_path, random_decoder_file, ray_local):
    """The workers of the segments report where their source stopped decoding: the summary says it, the
    output holds the frames before."""
    from pipeline.io.decode import decode_frames, probe
    from tests import media

    src = media.cut(media.encode(tmp_path / "whole.mkv", frames=30, audio=True), tmp_path / "cut.mkv", 0.55)
    stops = []
    count = len(list(decode_frames(probe(src), stops=stops)))
    result, summary = _cli_json("video", src, tmp_path / "ray.mkv", "--style", STYLE, "--decoder",
                                random_decoder_file, "--json", "--size", "64", "--segment-seconds", "0.25",
                                "--batch-size", "2", "--engine", "ray")
    assert result.exit_code == 0 and len(stops) == 1 and 0 < count < 30
    item = summary["items"][0]
    assert item["status"] == "processed" and item["stopped_at_s"] == pytest.approx(stops[0].at_s, abs=1e-3)
    assert read_video(tmp_path / "ray.mkv")["frames"] == count
    assert not list(tmp_path.glob(".*"))
