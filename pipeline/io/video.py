"""Video decoding and encoding with PyAV: probe, stream frames out, encode segments, join with audio.

The names the jobs use, from the modules that hold them: ``pipeline/io/decode.py`` (probe, frame times,
frames out; ``pipeline/io/timing.py`` repairs times that come out of order or missing), ``pipeline/io/encode.py``
(writable outputs, encoder settings, the segment writer) and ``pipeline/io/join.py`` (segments and audio into
the output). Encoding happens in independent segments, each opening with a keyframe, so a resumed job only
re-encodes the missing ones.
"""

from __future__ import annotations

from pipeline.errors import VideoError
from pipeline.io.decode import (VIDEO_EXTENSIONS, Frame, VideoInfo, decode_frames, frame_timestamps, probe,
                                 timeline)
from pipeline.io.encode import (OUTPUT_EXTENSIONS, SegmentWriter, check_encoder, check_output, codec_for_container,
                                encoder_options, even_size, output_format, output_suffix)
from pipeline.io.join import join_segments
from pipeline.io.timing import Timing
from pipeline.options import EncodeOptions

__all__ = ["OUTPUT_EXTENSIONS", "VIDEO_EXTENSIONS", "EncodeOptions", "Frame", "SegmentWriter", "Timing", "VideoError",
           "VideoInfo", "check_encoder", "check_output", "codec_for_container", "decode_frames", "encoder_options",
           "even_size", "frame_timestamps", "join_segments", "output_format", "output_suffix", "probe", "timeline"]
