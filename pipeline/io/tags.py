"""The source file's own tags for the output: when and where it was recorded, on what, its title. A phone's
clip stylized without them sorts in a photo library at the day it was made, with no place on the map.

The container's technical tags (brands, the muxer that wrote it) are the output's own. MP4 and MOV write the
usual keys (``creation_time`` into the movie header, ``location`` as ISO 6709 into ``©xyz``) and drop the
others unless told to write every key as a QuickTime metadata item (``movflags`` ``use_metadata_tags``): so
that flag is set where the source has keys in the reverse-DNS form phones write (``com.apple.quicktime.make``).
The timecode is one of them, wherever the source keeps it (``pipeline/io/timecode.py``).
"""

from __future__ import annotations

import av

from pipeline.io.timecode import source_timecode
from pipeline.io.tracks import main_video

# Written by every muxer about itself, or read back from a container's structure rather than its tags.
_TECHNICAL = {"major_brand", "minor_version", "compatible_brands", "encoder", "duration", "location-eng",
              # MXF: the identifiers of the file and of the program that wrote it, not of what it shows
              "operational_pattern_ul", "uid", "generation_uid", "product_uid", "material_package_umid",
              "toolkit_version_num", "application_platform", "company_name", "product_name", "product_version",
              "modification_date"}
# FLV's onMetaData holds the writer's figures (sizes, rates, codec ids, keyframe and cue point lists, which
# FFmpeg flattens into keys such as "time" and "name"): of it, only what describes the film is carried.
_FLV_KEPT = {"title", "author", "artist", "album", "comment", "description", "copyright", "genre", "keywords",
             "date", "creationdate", "creation_time", "language", "location"}
_NOT_CARRIED = _TECHNICAL | {"timecode"}  # the timecode: found wherever the file keeps it, and moved by --start
_ISO6709 = "com.apple.quicktime.location.iso6709"  # an iPhone's place of recording (with its altitude)


def source_tags(container: av.container.InputContainer) -> dict[str, str]:
    """The tags of the open source ``container`` an output carries over, and its ``timecode`` wherever the file
    keeps it; ``location`` from a phone's ISO 6709 key where the file has none of its own, so players that read
    only ``©xyz`` find the place too."""
    flv = "flv" in container.format.name.split(",")
    tags = {key: value for key, value in container.metadata.items()
            if key.lower() not in _NOT_CARRIED and value.strip() and (not flv or key.lower() in _FLV_KEPT)}
    timecode = source_timecode(container, main_video(container))
    if timecode:
        tags["timecode"] = timecode
    lowered = {key.lower(): value for key, value in tags.items()}
    if _ISO6709 in lowered and "location" not in lowered:
        tags["location"] = lowered[_ISO6709]
    return tags


def mp4_flags(tags: dict[str, str]) -> str:
    """The ``movflags`` an MP4 or MOV needs to keep ``tags``: every key as a metadata item where some are not
    keys the muxer knows (reverse-DNS ones)."""
    return "+use_metadata_tags" if any("." in key for key in tags) else ""
