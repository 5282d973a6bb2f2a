"""Reading a multipart form into what the pipeline takes: stored uploads, gallery entries, checked numbers.

Every refusal is an ``ApiError`` (422, or 404 for an unknown gallery name) whose line names the field.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import OptionError
from pipeline.options import SERVE_SIZES, StyleOptions, parse_weights
from pipeline.serve.errors import ApiError
from pipeline.serve.gallery import Gallery
from pipeline.serve.uploads import Workspace, check_image, image_suffix, label, save_upload

COLOR_MODES = ("none", "coral", "luminance")
TRUE, FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no", ""}


@dataclass(frozen=True)
class StyleChoice:
    """The style settings a form gives, shared by photos and clips."""

    paths: tuple[Path, ...]
    ids: tuple[str, ...]
    weights: tuple[float, ...] | None
    alpha: float
    preserve_color: str
    size: int


def is_file(value) -> bool:
    return hasattr(value, "filename") and hasattr(value, "file")


def text(form, name: str, default: str | None = None) -> str | None:
    value = form.get(name)
    if value is None:
        return default
    if is_file(value):
        raise ApiError(422, f"{name} must be a text field, not a file")
    return str(value).strip()


def number(form, name: str, default: float, low: float, high: float, kind=float):
    raw = text(form, name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # NaN fails this too
        what = "a whole number" if kind is int else "a number"
        raise ApiError(422, f"{name} must be {what} in [{low:g}, {high:g}], got {raw[:40]!r}")
    return value


def flag(form, name: str) -> bool:
    raw = (text(form, name) or "").lower()
    if raw not in TRUE | FALSE:
        raise ApiError(422, f"{name} must be true or false, got {raw[:40]!r}")
    return raw in TRUE


def choice(form, name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (text(form, name) or default).lower()
    if raw not in allowed:
        raise ApiError(422, f"{name} must be one of {', '.join(allowed)}, got {raw[:40]!r}")
    return raw


def content_image(form, workspace: Workspace, gallery: Gallery) -> Path:
    """The photo to stylize: an uploaded ``content`` file, or a bundled sample named by ``photo``."""
    upload = form.get("content")
    if upload is not None and is_file(upload):
        path = save_upload(upload, workspace.new_upload(image_suffix(upload)), label("content", upload))
        check_image(path, label("content", upload))
        return path
    name = text(form, "photo") or (text(form, "content") if upload is not None else None)
    if name is None:
        raise ApiError(422, "content is missing: send a photo as the multipart file field 'content' (or a "
                            "bundled sample's name as 'photo')")
    if name not in gallery.photos:
        raise ApiError(404, f"no bundled photo named {name[:40]!r} (GET /api/styles lists them)")
    return gallery.photos[name]


def style_images(form, workspace: Workspace, gallery: Gallery) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """Each ``style`` field: an uploaded image (stored once by its digest) or a gallery style's name."""
    values = form.getlist("style")
    if not values:
        raise ApiError(422, "style is missing: send one or more 'style' fields, each an image file or the name "
                            "of a gallery style (GET /api/styles)")
    paths, ids = [], []
    for value in values:
        if is_file(value):
            path, digest = _stored_style(value, workspace)
        else:
            name = str(value).strip()
            if name not in gallery.styles:
                raise ApiError(404, f"no gallery style named {name[:40]!r} (GET /api/styles lists them)")
            path, digest = gallery.styles[name], f"gallery:{name}"
        paths.append(path)
        ids.append(digest)
    return tuple(paths), tuple(ids)


def _stored_style(upload, workspace: Workspace) -> tuple[Path, str]:
    """An uploaded style checked and kept under its content digest, so sending it again reuses the build."""
    what = label("style", upload)
    tmp = save_upload(upload, workspace.new_upload(image_suffix(upload)), what)
    check_image(tmp, what)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:32]
    stored = tmp.with_name(f"s{digest}{tmp.suffix}")
    os.replace(tmp, stored)  # same bytes: replacing an earlier copy also refreshes its age
    return stored, digest


def style_choice(form, workspace: Workspace, gallery: Gallery, default_size: int) -> StyleChoice:
    """Styles, weights (``style_weights`` "0.7,0.3"), alpha, colour mode and work size from ``form``."""
    paths, ids = style_images(form, workspace, gallery)
    alpha, mode = number(form, "alpha", 1.0, 0.0, 1.0), choice(form, "preserve_color", COLOR_MODES, "none")
    try:  # the weights are checked where the CLI's are (their messages name the CLI's --style-weights)
        weights = parse_weights(text(form, "style_weights"))
        weights = StyleOptions(paths, weights, alpha, mode).style_weights
    except OptionError as exc:
        raise ApiError(422, f"style_weights: {exc}") from None
    return StyleChoice(paths, ids, None if weights is None else tuple(weights), alpha, mode,
                       number(form, "size", default_size, SERVE_SIZES[0], SERVE_SIZES[1], int))
