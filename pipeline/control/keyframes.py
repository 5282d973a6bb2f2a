"""Styles over time: a keyframe file (``--keyframes FILE.json``) read into a ``Schedule``, and the mix of
styles and the alpha the schedule gives any moment of a video. Pure: no torch, no state; the file is read
once, when the options are built, so a wrong file stops the run before anything is written.

The file::

    {"keyframes": [{"at": 0, "styles": {"a.jpg": 1}},
                   {"at": "00:03.5", "styles": {"b.jpg": 1, "c.jpg": 0.5}, "alpha": 0.8, "cut": true}]}

``at``: seconds of the source's timeline (a number, or "62.5", "01:02.5", "00:01:02.5"); ``styles``: style
images (relative to the file; absolute allowed) and their positive weights, normalised per keyframe;
``alpha``: optional, the run's ``--alpha`` when absent. Between two keyframes each style's share and the alpha
go linearly from one to the next; ``"cut": true`` holds the previous keyframe until this one's time and jumps
there. Before the first keyframe the first holds, after the last the last.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import OptionError

KEYS = ("at", "styles", "alpha", "cut")
EPS = 1e-6  # a frame's time (a float from its pts) counts as at a keyframe this close to it


@dataclass(frozen=True)
class Mix:
    """What one frame gets: weights over the run's styles (summing to 1), its alpha (None: the stylizer's),
    and ``restart``: the style jumps here (a scene or a keyframe cut), so the temporal state starts afresh."""

    weights: tuple[float, ...]
    alpha: float | None = None
    restart: bool = False


@dataclass(frozen=True)
class Keyframe:
    at: float
    weights: tuple[float, ...]  # over ``Schedule.styles``, summing to 1
    alpha: float | None = None  # None: the run's --alpha (``Schedule.with_alpha`` fills it)
    cut: bool = False


@dataclass(frozen=True)
class Schedule:
    """The keyframes of one file, their weights over ``styles`` (the distinct style files, absolute, in
    order of first use: the run encodes each once)."""

    styles: tuple[Path, ...]
    keyframes: tuple[Keyframe, ...]

    def with_alpha(self, alpha: float) -> Schedule:
        """The keyframes without an alpha given the run's ``alpha``."""
        return replace(self, keyframes=tuple(k if k.alpha is not None else replace(k, alpha=alpha)
                                             for k in self.keyframes))

    def at(self, seconds: float) -> Mix:
        """The weights and alpha at ``seconds``: the keyframe there, or the linear mix of the two around it."""
        frames = self.keyframes
        i = bisect.bisect_right([k.at for k in frames], seconds + EPS) - 1
        now = frames[max(i, 0)]
        if i < 0 or i + 1 == len(frames) or frames[i + 1].cut:
            return Mix(now.weights, now.alpha)
        after = frames[i + 1]
        f = min(1.0, max(0.0, (seconds - now.at) / (after.at - now.at)))
        weights = tuple(a + f * (b - a) for a, b in zip(now.weights, after.weights))
        alpha = None if now.alpha is None or after.alpha is None else now.alpha + f * (after.alpha - now.alpha)
        return Mix(weights, alpha)

    def cut_within(self, start: float, end: float) -> bool:
        """Whether a cut keyframe falls in (start, end]: the frame at ``end`` is the first after it when the
        frame before it is at ``start``."""
        return any(k.cut and start + EPS < k.at <= end + EPS for k in self.keyframes)


def parse_time(value: object, where: str) -> float:
    """Seconds from a number or "SS.s", "MM:SS.s", "HH:MM:SS.s" (OptionError naming ``where`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError(f"{where}: a time is a number of seconds or a string like \"00:01:02.5\", got {value!r}")
    if not isinstance(value, str):
        seconds = float(value)
    else:
        parts = value.strip().split(":")
        head, last = parts[:-1], parts[-1]
        try:
            if len(parts) > 3 or not all(p.isdigit() for p in head):
                raise ValueError
            seconds = float(last)
            if head and not 0 <= seconds < 60 or any(int(p) >= 60 for p in head[1:]):
                raise ValueError
        except ValueError:
            raise OptionError(f"{where}: bad time {value!r} (seconds, \"MM:SS.s\" or \"HH:MM:SS.s\")") from None
        seconds += sum(int(p) * 60 ** (len(head) - k) for k, p in enumerate(head))
    if not math.isfinite(seconds) or seconds < 0:
        raise OptionError(f"{where}: a time must be a finite number of seconds, 0 or more, got {value!r}")
    return seconds


def load_schedule(path: Path) -> Schedule:
    """The schedule in ``path``; OptionError, one line naming the file, the key and what is wrong with it."""
    path = Path(path).absolute()
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except OSError as exc:
        raise OptionError(f"--keyframes {path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OptionError(f"--keyframes {path}: not JSON ({exc})") from None
    except ValueError as exc:
        raise OptionError(f"--keyframes {path}: {exc}") from None
    try:
        return _schedule(data, path.parent)
    except ValueError as exc:
        raise OptionError(f"--keyframes {path}: {exc}") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"key {next(k for k in keys if keys.count(k) > 1)!r} given twice in one object")
    return dict(pairs)


def _schedule(data: object, base: Path) -> Schedule:
    if not isinstance(data, dict) or "keyframes" not in data:
        raise ValueError('the file must hold an object {"keyframes": [...]}')
    if unknown := sorted(set(data) - {"keyframes"}):
        raise ValueError(f"unknown key {unknown[0]!r} (the file holds only \"keyframes\")")
    raw = data["keyframes"]
    if not isinstance(raw, list) or not raw:
        raise ValueError("keyframes: must be a non-empty list of keyframes")
    styles: dict[Path, int] = {}
    parsed = [_keyframe(entry, f"keyframes[{i}]", base, styles) for i, entry in enumerate(raw)]
    for i in range(1, len(parsed)):
        before, now = parsed[i - 1][0], parsed[i][0]
        if now < before or (now == before and not parsed[i][3]):
            raise ValueError(f"keyframes[{i}].at: {now:g} s " + ("goes back before" if now < before else "repeats")
                             + f" the previous keyframe's {before:g} s (a repeated time needs \"cut\": true)")
    keyframes = tuple(Keyframe(at, _spread(weights, len(styles)), alpha, cut) for at, weights, alpha, cut in parsed)
    return Schedule(tuple(styles), keyframes)


def _keyframe(entry: object, where: str, base: Path, styles: dict[Path, int]):
    """(at, {style index: weight}, alpha, cut) of one keyframe; new style files are added to ``styles``."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with \"at\" and \"styles\"")
    if unknown := sorted(set(entry) - set(KEYS)):
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(KEYS)})")
    for key in ("at", "styles"):
        if key not in entry:
            raise ValueError(f"{where}: missing key {key!r}")
    at = _time(entry["at"], f"{where}.at")
    alpha = entry.get("alpha")
    if alpha is not None and not (_number(alpha) and 0 <= alpha <= 1):
        raise ValueError(f"{where}.alpha: must be a number in [0, 1], got {alpha!r}")
    cut = entry.get("cut", False)
    if not isinstance(cut, bool):
        raise ValueError(f"{where}.cut: must be true or false, got {cut!r}")
    return at, _weights(entry["styles"], f"{where}.styles", base, styles), alpha, cut


def _time(value: object, where: str) -> float:
    try:
        return parse_time(value, where)
    except OptionError as exc:
        raise ValueError(str(exc)) from None


def _weights(raw: object, where: str, base: Path, styles: dict[Path, int]) -> dict[int, float]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{where}: must map style images to weights, e.g. {{\"a.jpg\": 1}}")
    weights = {}
    for name, weight in raw.items():
        if not (_number(weight) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"{where}[{name!r}]: a weight must be a positive number, got {weight!r}")
        style = (base / name).resolve()
        if not style.is_file() or not os.access(style, os.R_OK):
            why = "no such file" if not style.exists() else "not a readable file"
            raise ValueError(f"{where}[{name!r}]: {style}: {why}")
        index = styles.setdefault(style, len(styles))
        weights[index] = weights.get(index, 0.0) + float(weight)
    return weights


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spread(weights: dict[int, float], count: int) -> tuple[float, ...]:
    """{style index: weight} as a row over ``count`` styles, normalised to sum to 1."""
    total = sum(weights.values())
    return tuple(weights.get(i, 0.0) / total for i in range(count))
