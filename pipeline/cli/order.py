"""Options whose meaning depends on their order on the command line: ``--mask`` belongs to the ``--style``
just before it. Click gives each repeated option as its own list, so the commands that take masks record
the order of occurrences that Click's own parser sees (``OrderedCommand``) and pair them here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from typer.core import TyperCommand

from pipeline.errors import OptionError
from pipeline.options import StyleOptions

ORDER_KEY = "stylize.param_order"


class OrderedCommand(TyperCommand):
    """A Typer command that keeps the names of its parameters in the order they occurred (one entry per
    occurrence) in ``ctx.meta[ORDER_KEY]``, as Click's parser saw them (``-s``, ``--style=x`` alike)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        try:
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            ctx.meta[ORDER_KEY] = [param.name for param in order]
        except Exception:  # noqa: BLE001 - a usage error: the parse below reports it as Click does
            pass
        return super().parse_args(ctx, args)


def occurrence_order(ctx) -> list[str]:
    """The parameter names of the command of ``ctx`` (a ``typer.Context``) in the order they occurred."""
    return list(ctx.meta.get(ORDER_KEY, [])) if ctx is not None else []


def masks_for_styles(order: list[str], styles: list[Path], masks: list[Path] | None) -> tuple[Path | None, ...]:
    """Each style's ``--mask`` (None: none), from the order in which ``--style`` and ``--mask`` occurred;
    a mask before any style, or a second mask for one style, is an OptionError."""
    if not masks:
        return ()
    slots: list[Path | None] = []
    given = iter(masks)
    for name in order:
        if name == "style":
            slots.append(None)
        elif name == "mask":
            mask = next(given)
            if not slots:
                raise OptionError(f"--mask {mask} comes before any --style: a mask applies to the --style just "
                                  "before it")
            if slots[-1] is not None:
                raise OptionError(f"--mask {mask}: the --style before it already has --mask {slots[-1]} (one mask "
                                  "per style)")
            slots[-1] = mask
    if len(slots) != len(styles):
        raise OptionError("cannot tell which --style each --mask follows")
    return tuple(slots)


def with_masks(opts: StyleOptions, masks: list[Path] | None, feather: float | None, ctx) -> StyleOptions:
    """``opts`` with each style's ``--mask`` (paired by ``masks_for_styles`` in the order ``ctx``, the
    command's ``typer.Context``, recorded) and ``--mask-feather``."""
    if not masks:
        if feather is not None:
            raise OptionError("--mask-feather is for --mask")
        return opts
    slots = masks_for_styles(occurrence_order(ctx), list(opts.styles), masks)
    return dataclasses.replace(opts, control=dataclasses.replace(opts.control, masks=slots, mask_feather=feather))
