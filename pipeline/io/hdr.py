"""HDR video as SDR light: PQ (SMPTE ST 2084, HDR10) and HLG (ARIB STD-B67, what phones record by default)
frames become BT.709 RGB before stylizing. The networks and every style image are SDR: an HDR frame read as if
it were SDR is grey and washed out (PQ puts SDR's whole range in the lower 58% of its code values), and its
stylized result, tagged HDR again, would be shown with its whites at thousands of nits.

The conversion, with BT.2100's and BT.2408's numbers: the signal's display light in nits (PQ's EOTF; for HLG
its inverse OETF and the OOTF of a 1000-nit display), HDR reference white (203 nits) as SDR's 100%, BT.2020
primaries to BT.709 in linear light (out-of-gamut negatives clipped), the highlights above ``KNEE`` rolled off
to 100% at ``PEAK`` on each pixel's largest component (so hues stay), and BT.1886's 2.4 gamma inverted for an SDR
display. The signal's curves are one table lookup, so a 1080p frame costs a few passes over its pixels.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

PQ, HLG = 16, 18  # AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67
TRANSFERS = {PQ: "PQ", HLG: "HLG"}
BT2020 = 9  # AVCOL_PRI_BT2020
REFERENCE_WHITE = 203.0  # nits: BT.2408's HDR reference white (HLG's 75% signal on a 1000-nit display)
HLG_PEAK = 1000.0  # nits: the display BT.2100's HLG OOTF is stated for (system gamma 1.2)
PEAK = 1000.0  # nits shown at SDR's 100%: HLG's display and the usual HDR10 mastering peak; above it clips
KNEE = 0.5  # of SDR white: light below it is kept as it is, light above it rolled off
_LUMA_2020 = np.array([0.2627, 0.6780, 0.0593], np.float32)
# The primaries' chromaticities (x, y of red, green, blue; BT.2020 and BT.709), both with D65 white.
_PRIMARIES = {BT2020: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), 1: ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))}
_D65 = (0.3127, 0.3290)
_CODES = np.arange(65536, dtype=np.float64) / 65535.0


def pq_nits(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084's EOTF: PQ signal in [0, 1] -> display light in nits (0..10000)."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(signal, 0, 1), 1 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def hlg_scene(signal: np.ndarray) -> np.ndarray:
    """ARIB STD-B67's inverse OETF: HLG signal in [0, 1] -> scene light in [0, 1]."""
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    signal = np.clip(signal, 0, 1)
    return np.where(signal <= 0.5, signal * signal / 3, (np.exp((signal - c) / a) + b) / 12)


def hlg_nits(scene: np.ndarray, unit: float = 1.0) -> np.ndarray:
    """BT.2100's HLG OOTF for a ``HLG_PEAK`` display: scene RGB (H, W, 3) float32 in [0, 1] -> display light in
    nits (in units of ``unit`` nits)."""
    luma = np.maximum(cv2.transform(scene, _LUMA_2020[None]), 0)
    return scene * (HLG_PEAK / unit * cv2.pow(luma, 0.2))[..., None]  # gamma 1.2: Ys ** (1.2 - 1)


def roll_off(light: np.ndarray) -> np.ndarray:
    """Relative light (1.0: reference white) -> [0, 1]: the identity up to ``KNEE``, then a shoulder with the
    same slope there (extended Reinhard, t (1 + t / T^2) / (1 + t)) that reaches 1.0 at ``PEAK`` nits, so the
    highlights between reference white and the peak keep their steps."""
    room = 1 - KNEE
    top = (PEAK / REFERENCE_WHITE - KNEE) / room
    t = np.maximum(light - KNEE, 0) / room
    shoulder = KNEE + room * np.minimum(t * (1 + t / (top * top)) / (1 + t), 1)
    return np.where(light <= KNEE, light, shoulder)


def _to_xyz(primaries: int) -> np.ndarray:
    """Linear RGB -> CIE XYZ for ``primaries``: each primary's xyY column, scaled so RGB (1, 1, 1) is D65."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in _PRIMARIES[primaries]]).T
    white = np.array([_D65[0] / _D65[1], 1.0, (1 - _D65[0] - _D65[1]) / _D65[1]])
    return xyz * np.linalg.solve(xyz, white)


# Linear BT.2020 RGB -> linear BT.709 RGB (BT.2087's matrix); each row sums to 1, so greys stay grey.
_BT2020_TO_709 = (np.linalg.inv(_to_xyz(1)) @ _to_xyz(BT2020)).astype(np.float32)


@lru_cache(maxsize=None)
def _light_table(transfer: int) -> np.ndarray:
    """16-bit code -> PQ's light relative to reference white, or HLG's scene light (its OOTF needs all three
    channels)."""
    return (pq_nits(_CODES) / REFERENCE_WHITE if transfer == PQ else hlg_scene(_CODES)).astype(np.float32)


def _gain(peak: np.ndarray) -> np.ndarray:
    """What each pixel's light is multiplied by for its largest component ``peak`` to be rolled off: 1 below
    the knee (most of a frame), so the shoulder is worked out only where it bends."""
    gain = np.ones_like(peak)
    over = peak > KNEE
    light = peak[over]
    gain[over] = roll_off(light) / light
    return gain


def to_sdr(rgb: np.ndarray, transfer: int, primaries: int, deep: bool = False) -> np.ndarray:
    """(H, W, 3) uint16 RGB (0..65535) of a PQ or HLG signal -> BT.709 SDR RGB: uint8, or uint16 with ``deep``."""
    light = _light_table(transfer)[rgb]
    if transfer == HLG:
        light = hlg_nits(light, REFERENCE_WHITE)
    if primaries == BT2020:
        light = cv2.transform(light, _BT2020_TO_709)
    np.maximum(light, 0, out=light)
    light *= _gain(np.maximum(np.maximum(light[..., 0], light[..., 1]), light[..., 2]))[..., None]
    signal = cv2.pow(light, 1 / 2.4)  # BT.1886's display gamma, inverted
    return (signal * 65535 + 0.5).astype(np.uint16) if deep else cv2.convertScaleAbs(signal, alpha=255)
