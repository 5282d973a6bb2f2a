"""The Python API for whole jobs: ``stylize_video`` and ``stylize_folder`` run what ``stylize video`` and
``stylize folder`` run, through the commands themselves, so every option, default, check and file written is
the command line's; nothing is printed and nothing exits.

Options are the commands' long options as keyword arguments (``crf=20`` for ``--crf 20``, ``temporal="off"``,
``resume=True``, ``calibrate=False`` for ``--no-calibrate``); ``masks`` and ``mask_feather`` as in
``load_stylizer`` (one mask path, or None, per style). The report returned is the dict ``--json`` prints:
counts, per-item results (a file that failed is one of them, as on the command line), timings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from enum import Enum

from pipeline.errors import UsageError
from pipeline.report import Hooks

PathLike = str | os.PathLike
Progress = Callable[[int, int | None], None]
_LEFT_OUT = {"json_out", "quiet", "verbose", "debug", "style", "mask"}  # given otherwise, or the command line's


def stylize_video(input: PathLike, output: PathLike, style: PathLike | Sequence[PathLike] | None = None, *,
                  progress: Progress | None = None, **options) -> dict:
    """``stylize video INPUT OUTPUT``: a video (a folder of them, an image sequence) into ``output``.
    ``progress(done, total)`` is called as frames are done (``total`` None until known). Raises ``UsageError``
    (a ``ValueError``) where the command would exit with 2; ``KeyboardInterrupt`` leaves what ``--resume``
    takes."""
    return _run("video", [input, output], style, progress, options)


def stylize_folder(input_dir: PathLike, output_dir: PathLike, style: PathLike | Sequence[PathLike] | None = None,
                   *, progress: Progress | None = None, **options) -> dict:
    """``stylize folder INPUT_DIR OUTPUT_DIR``: every image under ``input_dir`` into the same tree under
    ``output_dir``; ``progress(done, total)`` counts images. Raises ``UsageError`` where the command exits with 2."""
    return _run("folder", [input_dir, output_dir], style, progress, options)


def _run(name: str, paths: list[PathLike], style, progress: Progress | None, options: dict) -> dict:
    """The command ``name`` on ``paths`` with ``options`` as its arguments, under the library's hooks."""
    import typer
    from typer.main import get_command

    from pipeline.cli import app
    from pipeline.cli.run import LIBRARY

    command = get_command(app)
    args = [name, *map(os.fspath, paths), *_style_args(style, options.pop("masks", None)),
            *_option_args(command.commands[name], options)]
    token = LIBRARY.set(_hooks(progress))
    try:
        return command.main(args, prog_name="stylize", standalone_mode=False).to_dict()
    except typer.TyperException as exc:  # what the command line says in one line, exit code 2
        raise UsageError(exc.format_message()) from None
    finally:
        LIBRARY.reset(token)


def _style_args(style, masks) -> list[str]:
    """``--style`` for each style, each followed by its ``--mask`` where it has one (the order pairs them)."""
    styles = [] if style is None else [style] if isinstance(style, (str, os.PathLike)) else list(style)
    if masks is not None and isinstance(masks, (str, os.PathLike)):
        masks = [masks]
    if masks is not None and len(masks) != len(styles):
        raise UsageError(f"masks: one per style (a path or None), got {len(masks)} for {len(styles)} styles")
    args = []
    for k, path in enumerate(styles):
        args += ["--style", os.fspath(path)]
        if masks is not None and masks[k] is not None:
            args += ["--mask", os.fspath(masks[k])]
    return args


def _option_args(command, options: dict) -> list[str]:
    """``options`` as the command's arguments: a flag on or off, a list repeated, None left out."""
    params = {p.name: p for p in command.params if p.name not in _LEFT_OUT and p.opts and p.opts[0].startswith("--")}
    args = []
    for name, value in options.items():
        param = params.get(name)
        if param is None:
            raise UsageError(f"unknown option {name!r} for {command.name}; expected one of {', '.join(sorted(params))}")
        if value is None:
            continue
        if getattr(param, "is_flag", False):
            switch = param.opts[0] if value else (param.secondary_opts or [None])[0]
            args += [switch] if switch else []
            continue
        for item in value if param.multiple and isinstance(value, (list, tuple)) else [value]:
            args += [param.opts[0], _text(item)]
    return args


def _text(value) -> str:
    """An option's value as the command line writes it (every yes/no option is a flag, written above)."""
    if isinstance(value, Enum):
        return str(value.value)
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def _hooks(progress: Progress | None) -> Hooks:
    """The job's hooks feeding ``progress(done, total)``."""
    if progress is None:
        return Hooks()
    state = {"done": 0, "total": None}

    def on_units(n: int) -> None:
        state["done"] += n
        progress(state["done"], state["total"])

    def on_total(total: int | None) -> None:
        state["total"] = total

    return Hooks(on_units=on_units, on_total=on_total)
