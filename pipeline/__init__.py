"""Batch neural style transfer for image folders and videos.

The Python API (``pipeline/api.py`` for images in memory, ``pipeline/api_jobs.py`` for whole jobs) is
exported here, loaded on first use so that ``import pipeline`` and ``stylize --help`` stay free of torch::

    import pipeline
    styled = pipeline.stylize_image("photo.jpg", "painting.jpg")  # a PIL image at the work size (512 px)
    stylizer = pipeline.load_stylizer("painting.jpg", alpha=0.8)  # one style, many images
    report = pipeline.stylize_video("clip.mp4", "out.mp4", "painting.jpg", crf=20)  # as `stylize video`
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "stylize-pipeline"  # the name on the package index; the import package is ``pipeline``

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["ImageStylizer", "__version__", "load_stylizer", "stylize_folder", "stylize_image", "stylize_video"]
_API = {"ImageStylizer": "api", "load_stylizer": "api", "stylize_image": "api", "stylize_folder": "api_jobs",
        "stylize_video": "api_jobs"}


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module

        return getattr(import_module(f"pipeline.{_API[name]}"), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
