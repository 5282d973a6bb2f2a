"""A clip request made into the option dataclasses ``stylize video`` builds, queued as a background job.

The defaults are the CLI's (``pipeline/cli/commands.py``): same size rule, temporal stabilisation, encoder
and audio handling, so the downloaded clip is what ``stylize video`` writes with the same settings. The
page first asks for a preview (``preview_frames``: the first frames only), then the whole clip, sending
back the ``clip`` id the first answer gave instead of uploading it again.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import OptionError
from pipeline.serve.errors import ApiError
from pipeline.serve.forms import is_file, number, style_choice, text
from pipeline.serve.jobs import Job, VideoJobSpec
from pipeline.serve.uploads import check_clip, label, save_upload

MAX_PREVIEW_FRAMES = 240
VIDEO_SIZE = 512  # the CLI's default work size


def clip_path(form, server) -> Path:
    """The clip: an uploaded ``video`` file (checked by probing it), or an earlier upload's ``clip`` id."""
    from pipeline.io.video import VIDEO_EXTENSIONS

    upload = form.get("video")
    if upload is not None and is_file(upload):
        what = label("video", upload)
        suffix = Path(upload.filename or "").suffix.lower()
        if suffix not in VIDEO_EXTENSIONS:
            raise ApiError(422, f"{what}: not a video file name (expected one of "
                                f"{', '.join(sorted(VIDEO_EXTENSIONS))})")
        path = save_upload(upload, server.workspace.new_upload(suffix), what)
        check_clip(path, what)
        return path
    token = text(form, "clip")
    if token is None:
        raise ApiError(422, "video is missing: send the clip as the multipart file field 'video' (or an earlier "
                            "job's 'clip' id)")
    path = server.workspace.upload(token)
    if path is None:
        raise ApiError(404, f"no uploaded clip {token[:40]!r} (unknown, or removed after --keep-minutes)")
    return path


def clip_job(server, form) -> Job:
    """Check the form, build the job's options as the CLI does, queue it; ApiError for a bad request."""
    from pipeline.options import (StyleOptions, VideoOptions, calibration_size_for, style_size_for)

    clip = clip_path(form, server)
    style = style_choice(form, server.workspace, server.gallery, VIDEO_SIZE)
    frames = number(form, "preview_frames", 0, 0, MAX_PREVIEW_FRAMES, int)
    try:
        style_opts = StyleOptions(style.paths, style.weights, style.alpha, style.preserve_color,
                                  style_size_for(style.size), server.options.device,
                                  calibration_size=calibration_size_for(style.size))
        video_opts = VideoOptions(style.size, max_frames=frames or None)
    except OptionError as exc:
        raise ApiError(422, str(exc)) from None
    return server.jobs.submit(VideoJobSpec(clip, style_opts, video_opts, preview=bool(frames)))
