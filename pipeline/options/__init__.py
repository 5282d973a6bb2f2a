"""Every option of every job, checked once here: what reaches the jobs below is known to be valid.

Closed choices are ``StrEnum``s (Typer lists them in ``--help`` and refuses other values with exit 2);
ranges and cross-option rules are checked in ``__post_init__`` and raise ``OptionError``, one line naming
the option. Nothing below this package checks an option again. Importing it does not import torch, so ``stylize --help``
stays fast. The classes live by subject (``choices``, ``style``, ``gatys``, ``jobs``); import them from here.
"""


from __future__ import annotations

from pipeline.options.choices import (CALIBRATION_SIZE, MIN_TILE, SHEET_SUFFIXES, STYLE_SIZE, TILE_OVERLAP, Audio,
                                      Backbone, CpuBackend, Device, Engine, FlowBackend, Init, Method, Optimizer, Pooling,
                                      Precision, PreserveColor, TemporalMode, Upscale, calibration_size_for,
                                      check_finite, check_sheet, parse_weights, style_size_for)
from pipeline.options.gatys import GATYS_ONLY, GatysOptions, gatys_for
from pipeline.options.jobs import (SERVE_SIZES, EncodeOptions, EngineOptions, FolderOptions, ServeOptions,
                                   TemporalOptions, VideoOptions)
from pipeline.options.style import ControlOptions, StyleOptions

__all__ = ["CALIBRATION_SIZE", "MIN_TILE", "SHEET_SUFFIXES", "STYLE_SIZE", "TILE_OVERLAP", "Audio", "Backbone",
           "CpuBackend", "Device", "Engine", "FlowBackend", "Init", "Method", "Optimizer", "Pooling", "Precision", "PreserveColor",
           "TemporalMode", "Upscale", "calibration_size_for", "check_finite", "check_sheet", "parse_weights",
           "style_size_for", "GATYS_ONLY", "GatysOptions", "gatys_for", "SERVE_SIZES", "EncodeOptions",
           "EngineOptions", "FolderOptions", "ServeOptions", "TemporalOptions", "VideoOptions", "ControlOptions",
           "StyleOptions"]
