"""Video decoding and encoding with PyAV: probe, stream frames out, encode segments, join with audio.

The names the jobs use, from the modules that hold them: ``pipeline/io/decode.py`` (probe, frame times,
frames out; ``pipeline/io/timing.py`` repairs times that come out of order or missing), ``pipeline/io/encode.py``
(writable outputs, encoder settings, the segment writer) and ``pipeline/io/join.py`` (segments and audio into
the output); and here, the suffixes a folder of videos is searched for. Encoding happens in independent
segments, each opening with a keyframe, so a resumed job only re-encodes the missing ones.
"""

from __future__ import annotations

from pipeline.errors import VideoError
from pipeline.io.decode import Frame, VideoInfo, decode_frames, frame_timestamps, probe, timeline
from pipeline.io.encode import (OUTPUT_EXTENSIONS, SegmentWriter, check_encoder, check_output, codec_for_container,
                                encoder_options, even_size, output_format, output_suffix)
from pipeline.io.join import join_segments
from pipeline.io.timing import Timing
from pipeline.options import EncodeOptions

# What folders of videos are searched for: every container and elementary stream the decoder is tested on
# (tests/test_media.py holds a family for each).
VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".vob",
                    ".h264", ".264", ".hevc", ".h265", ".265", ".gif", ".apng", ".3gp", ".3g2", ".f4v", ".flv",
                    ".wmv", ".asf", ".ogv", ".mxf", ".m2v", ".y4m", ".dv", ".divx", ".rm", ".rmvb", ".mod", ".tod",
                    ".vro", ".m2t", ".wtv", ".swf", ".nut", ".ivf", ".m1v", ".qt", ".mk3d", ".mj2", ".m3u8"}

__all__ = ["OUTPUT_EXTENSIONS", "VIDEO_EXTENSIONS", "EncodeOptions", "Frame", "SegmentWriter", "Timing", "VideoError",
           "VideoInfo", "check_encoder", "check_output", "codec_for_container", "decode_frames", "encoder_options",
           "even_size", "frame_timestamps", "join_segments", "output_format", "output_suffix", "probe", "timeline"]
