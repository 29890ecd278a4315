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


def test_take_buffer_hands_over_what_follows_the_frames_taken() -> None:
    decoder = FrameDecoder(max_frame=16)
    handshake = b"\x00\x20 noise handshake bytes, not a frame"
    assert decoder.feed(encode(b"hello") + handshake, max_frames=1) == [b"hello"]
    assert decoder.take_buffer() == handshake
    assert decoder.buffered == 0
    assert decoder.take_buffer() == b""  # handed over once, then forgotten


def test_take_buffer_on_an_empty_decoder_is_empty() -> None:
    decoder = FrameDecoder(max_frame=16)
    assert decoder.take_buffer() == b""
    assert decoder.feed(encode(b"x")) == [b"x"]
    assert decoder.take_buffer() == b""


def test_take_buffer_hands_over_a_partial_frame_too() -> None:
    decoder = FrameDecoder(max_frame=16)
    assert decoder.feed(encode(b"hello")[:3]) == []
    assert decoder.take_buffer() == encode(b"hello")[:3]
    # The decoder starts afresh: the next bytes are a new stream.
    assert decoder.feed(encode(b"next")) == [b"next"]


def test_the_bytes_handed_over_do_not_change_with_later_feeds() -> None:
    decoder = FrameDecoder(max_frame=16)
    decoder.feed(encode(b"a") + b"rest", max_frames=1)
    taken = decoder.take_buffer()
    assert decoder.feed(encode(b"more bytes")) == [b"more bytes"]
    assert taken == b"rest"
    assert isinstance(taken, bytes)


@given(payloads, st.binary(max_size=300), st.integers(min_value=0, max_value=20))
def test_frames_taken_plus_the_buffer_handed_over_are_the_whole_stream(
    frames: list[bytes], tail: bytes, wanted: int
) -> None:
    """Whatever the split, nothing is lost or duplicated between the frames this layer takes
    and the bytes it hands to the next one (as after a preamble and before a handshake)."""
    stream = b"".join(encode(f) for f in frames) + tail
    decoder = FrameDecoder(max_frame=300)
    try:
        taken = decoder.feed(stream, max_frames=wanted)
    except (FrameTooLarge, EmptyFrame):
        return  # the tail made a bad header within the frames asked for
    assert taken[: min(wanted, len(frames))] == frames[:wanted]
    rest = decoder.take_buffer()
    assert b"".join(encode(f) for f in taken) + rest == stream
    assert decoder.buffered == 0
