from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode

payloads = st.lists(st.binary(min_size=1, max_size=300), max_size=20)


@given(payloads, st.lists(st.integers(min_value=1, max_value=50), min_size=1))
def test_frames_survive_any_split_of_the_stream(frames: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode(f) for f in frames)
    decoder = FrameDecoder(max_frame=300)
    out: list[bytes] = []
    position = 0
    for i in range(len(stream) + 1):
        step = cuts[i % len(cuts)]
        out.extend(decoder.feed(stream[position : position + step]))
        position += step
        if position >= len(stream):
            break
    assert out == frames
    assert decoder.buffered == 0


@given(st.binary(max_size=200))
def test_random_bytes_give_frames_or_a_clear_error_never_unbounded_memory(data: bytes) -> None:
    decoder = FrameDecoder(max_frame=64)
    try:
        for frame in decoder.feed(data):
            assert 1 <= len(frame) <= 64
    except (FrameTooLarge, EmptyFrame):
        return
    assert decoder.buffered <= 64 + 4


def test_an_absurd_length_is_refused_before_any_payload_is_buffered() -> None:
    decoder = FrameDecoder(max_frame=1024)
    with pytest.raises(FrameTooLarge) as caught:
        decoder.feed(b"\xff\xff\xff\xff")
    assert caught.value.size == 0xFFFFFFFF
    assert decoder.buffered == 4


def test_zero_length_frames_are_refused() -> None:
    with pytest.raises(EmptyFrame):
        FrameDecoder(max_frame=10).feed(b"\x00\x00\x00\x00")


def test_a_partial_frame_waits_for_the_rest() -> None:
    decoder = FrameDecoder(max_frame=10)
    assert decoder.feed(encode(b"hello")[:6]) == []
    assert decoder.feed(encode(b"hello")[6:] + encode(b"x")) == [b"hello", b"x"]


def test_frames_past_max_frames_stay_buffered_and_unchecked() -> None:
    decoder = FrameDecoder(max_frame=8)
    stream = encode(b"hello") + encode(b"x" * 100)
    assert decoder.feed(stream, max_frames=1) == [b"hello"]
    decoder.max_frame = 1000
    assert decoder.feed(b"") == [b"x" * 100]
