"""Which audio each output container keeps as it is (``encode._COPYABLE_AUDIO``): every entry must mux there
through FFmpeg's own muxer, and a copy is the source's samples. Before, 24-bit PCM from a ProRes MOV (an editor's
export, a recorder's) and MP2 (DVD, broadcast, pd-extendedview's MJPEG MOV) were made AAC even into MKV and MOV,
which hold them as they are."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from pipeline.io.encode import _COPYABLE_AUDIO, audio_plan
from pipeline.io.tracks import MP3_LOW_RATE, decoder_name
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

# A source container that holds each codec, and the encoder that makes it
SOURCES = {"pcm_s16be": ("mov", "pcm_s16be"), "pcm_s24be": ("mov", "pcm_s24be"), "mp3": ("matroska", "libmp3lame"),
           MP3_LOW_RATE: ("matroska", "libmp3lame"), "opus": ("matroska", "libopus"), "vorbis": None}
RATE = 48000
RATES = {MP3_LOW_RATE: 11025}  # MPEG-2.5, as Flash videos hold it


def tone(codec: str, container: str = "matroska", video: bool = False) -> bytes:
    """A second of a 440 Hz stereo tone in ``codec`` (and 24 frames of H.264 with ``video``)."""
    fmt, encoder = SOURCES.get(codec, (container, codec))
    rate = RATES.get(codec, RATE)
    data = io.BytesIO()
    with av.open(data, "w", format=fmt) as out:
        picture = out.add_stream("libx264", rate=24) if video else None
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(encoder, rate=rate)
        audio.layout = "stereo"
        if picture is not None:
            mux_moving_frames(out, picture, 24)
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        resampler = av.AudioResampler(format=audio.codec_context.format.name, layout="stereo", rate=rate)
        for piece in resampler.resample(frame) + resampler.resample(None):
            for packet in audio.encode(piece):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return data.getvalue()


@pytest.mark.parametrize("fmt, codec", sorted((f, c) for f, codecs in _COPYABLE_AUDIO.items() for c in codecs
                                              if SOURCES.get(c, True) is not None))
def test_each_audio_a_container_is_said_to_keep_muxes_there(fmt, codec):
    with av.open(io.BytesIO(tone(codec))) as source:
        stream = source.streams.audio[0]
        assert decoder_name(stream.codec_context) == codec
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            copy = out.add_stream_from_template(stream)
            for packet in source.demux(stream):
                if packet.dts is not None:
                    packet.stream = copy
                    out.mux(packet)


def test_mp3_under_16_khz_is_left_out_of_the_mp4_table_because_the_muxer_refuses_it():
    """The one entry kept out of a container for its muxer's sake (the others are out for players'): copied, the
    file is not written at all, so it is made AAC."""
    with av.open(io.BytesIO(tone(MP3_LOW_RATE))) as source:
        stream = source.streams.audio[0]
        with pytest.raises(av.error.FFmpegError):
            with av.open(io.BytesIO(), "w", format="mp4") as out:
                copy = out.add_stream_from_template(stream)
                for packet in source.demux(stream):
                    if packet.dts is not None:
                        packet.stream = copy
                        out.mux(packet)
    assert audio_plan(MP3_LOW_RATE, "mp4", "auto") == "transcode" and audio_plan("mp3", "mp4", "auto") == "copy"


@pytest.mark.parametrize("suffix", [".mkv", ".mov"])
def test_24_bit_pcm_is_copied_sample_for_sample(tmp_path, suffix):
    src = tmp_path / "prores.mov"
    src.write_bytes(tone("pcm_s24le", "mov", video=True))
    dst = tmp_path / f"out{suffix}"
    opts = VideoOptions(size=0, batch_size=4, parallel=1, encode=EncodeOptions(preset="ultrafast"),
                        temporal=TemporalOptions(TemporalMode.OFF))
    assert [r.status for r in run(Identity(), [(src, dst)], opts).results] == [PROCESSED]
    samples = []
    for path in (src, dst):
        with av.open(str(path)) as container:
            assert container.streams.audio[0].codec_context.name == "pcm_s24le"
            samples.append(np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1))
    assert samples[0].shape == samples[1].shape and np.array_equal(*samples)
