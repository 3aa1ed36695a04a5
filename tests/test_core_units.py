"""Pure logic of the client core: session config, the conversation reducer, event names,
playback bounds, the relay track, and the one private streamlit-webrtc attribute we touch."""

from __future__ import annotations

import asyncio
import fractions
import inspect
import json
import threading
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from openai.types.realtime import RealtimeSessionCreateRequest
from pydantic import BaseModel

from voicelab.call import Snapshot, Target
from voicelab.call.carry_over import carried_to_model
from voicelab.media.frames import WEBRTC_RATE
from voicelab.media.relay_track import FrameRelayTrack
from voicelab.observers.transcript import NOT_TRANSCRIBED, Transcript, Turn
from voicelab.protocol import server_events as events
from voicelab.protocol.backends import REFUSED_FIELDS, accepts
from voicelab.protocol.defaults import SERVER_VAD_DEFAULTS
from voicelab.protocol.session import ConfigError, SessionConfig

# --- session config -------------------------------------------------------------------


def extra_fields(model: BaseModel, path: str = "session") -> list[str]:
    """Fields the official types do not know (they accept extras silently)."""
    found = [f"{path}.{k}" for k in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += extra_fields(value, f"{path}.{name}")
    return found


@pytest.mark.parametrize(
    "config",
    [
        SessionConfig(),
        SessionConfig(turn_detection="semantic_vad", eagerness="high", temperature=1.1),
        SessionConfig(
            turn_detection="off",
            noise_reduction="far_field",
            transcription_model=None,
            max_output_tokens=200,
            output_modality="text",
            instructions="Be brief.",
            idle_timeout_ms=6000,
        ),
    ],
)
def test_openai_session_is_valid_ga_and_never_carries_temperature(config):
    session = config.to_session("openai")
    model = RealtimeSessionCreateRequest.model_validate(session)
    assert extra_fields(model) == []
    assert "temperature" not in json.dumps(session)


def test_session_json_follows_the_settings():
    default = SessionConfig().to_session("local")
    assert default["audio"]["input"]["turn_detection"] == SERVER_VAD_DEFAULTS  # OpenAI's
    assert default["max_output_tokens"] == "inf" and "instructions" not in default
    assert "temperature" not in default  # unset: the backend's own default
    local = SessionConfig(temperature=0.3, turn_detection="off").to_session("local")
    assert local["temperature"] == 0.3
    assert local["audio"]["input"]["turn_detection"] is None
    semantic = SessionConfig(turn_detection="semantic_vad", eagerness="low").to_session("local")
    assert semantic["audio"]["input"]["turn_detection"]["eagerness"] == "low"
    assert SessionConfig(transcription_language=" fr ").to_session("local")["audio"]["input"][
        "transcription"
    ] == {"model": "gpt-4o-mini-transcribe", "language": "fr"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"speed": 2.0}, "Speed must be between 0.25 and 1.5 (got 2.0)."),
        ({"threshold": -0.1}, "VAD threshold must be between 0 and 1"),
        ({"silence_duration_ms": 20000}, "Silence duration (ms) must be between 0 and 10000"),
        ({"idle_timeout_ms": 1000}, "Idle timeout (ms) must be between 5000 and 30000"),
        ({"max_output_tokens": 0}, "Max output tokens must be between 1 and 4096"),
        ({"temperature": 3.0}, "Temperature must be between 0 and 2"),
        ({"voice": "robot"}, "Voice must be one of alloy, ash"),
        ({"eagerness": "frantic"}, "Eagerness must be one of"),
        ({"model": " "}, "Choose a model."),
    ],
)
def test_out_of_range_settings_are_refused_with_a_sentence(changes, message):
    with pytest.raises(ConfigError) as err:
        SessionConfig(**changes).to_session("local")
    assert message in str(err.value)


def test_the_backend_table_decides_temperature():
    assert not accepts("openai", "temperature") and accepts("local", "temperature")
    assert "GA" in REFUSED_FIELDS["openai"]["temperature"]
    assert all(accepts("openai", f) for f in ("voice", "speed", "instructions"))


def test_the_key_never_appears_in_a_repr():
    target = Target("http://127.0.0.1:1/v1", "sk-secret-value", "openai")
    assert "sk-secret-value" not in repr(target)
    assert "sk-secret-value" not in repr(Snapshot())


# --- events and the conversation reducer ----------------------------------------------


def test_beta_event_names_become_ga_names():
    assert events.parse('{"type": "response.audio_transcript.delta", "delta": "x"}') == {
        "type": "response.output_audio_transcript.delta",
        "delta": "x",
    }
    assert events.ga_type("response.text.done") == "response.output_text.done"
    assert events.ga_type("response.audio.delta") == "response.output_audio.delta"
    assert events.ga_type("conversation.item.created") == "conversation.item.added"
    assert events.ga_type("session.updated") == "session.updated"
    for garbage in ("{not json", "[1, 2]", '{"no": "type"}', b"\xff\xfe"):
        assert events.parse(garbage)["type"] == events.MALFORMED


def user_item(item_id, previous=None, transcript=None):
    return {
        "type": "conversation.item.added",
        "previous_item_id": previous,
        "item": {
            "id": item_id,
            "type": "message",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}],
        },
    }


def assistant_item(item_id, previous):
    return {
        "type": "conversation.item.added",
        "previous_item_id": previous,
        "item": {"id": item_id, "type": "message", "role": "assistant", "content": []},
    }


def test_a_late_user_transcript_still_lands_above_the_reply():
    t = Transcript()
    for event in [
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"},
        {"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None},
        user_item("u1"),
        assistant_item("a1", "u1"),
        {"type": "response.output_audio_transcript.delta", "item_id": "a1", "delta": "Hi "},
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": "u1",
            "delta": "hello",
        },
    ]:
        t.apply(event)
    turns = t.turns()
    assert [(x.role, x.text, x.status) for x in turns] == [
        ("user", "hello", "streaming"),
        ("assistant", "Hi ", "streaming"),
    ]
    t.apply({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
             "transcript": "hello there"})  # fmt: skip
    t.apply({"type": "response.output_audio_transcript.done", "item_id": "a1",
             "transcript": "Hi there."})  # fmt: skip
    assert [(x.role, x.text, x.status) for x in t.turns()] == [
        ("user", "hello there", "done"),
        ("assistant", "Hi there.", "done"),
    ]


def test_at_the_end_of_a_call_no_turn_stays_streaming():
    t = Transcript()
    for event in [
        user_item("u1", None, "the weather"),
        assistant_item("a1", "u1"),
        {"type": "response.output_audio_transcript.delta", "item_id": "a1", "delta": "It is "},
        user_item("u2", "a1"),  # spoken, transcription not back yet
        {"type": "conversation.item.input_audio_transcription.delta", "item_id": "u2",
         "delta": "and tom"},
        user_item("u3", "u2"),
    ]:  # fmt: skip
        t.apply(event)
    t.end()
    assert [(x.item_id, x.text, x.status) for x in t.turns()] == [
        ("u1", "the weather", "done"),  # over already: left as it was
        ("a1", "It is ", "interrupted"),  # cut off by Stop: marked, no trailing "…"
        ("u2", "and tom", "interrupted"),
        ("u3", "(not transcribed: the call ended first)", "failed"),
    ]
    t.apply({"type": "response.done", "response": {"status": "completed",
             "output": [{"id": "a1"}]}})  # fmt: skip
    assert t.turns()[1].status == "interrupted"  # a late answer does not reopen it


def test_an_item_that_arrives_after_its_successor_is_placed_by_item_order():
    t = Transcript()
    t.apply(user_item("u1", None, "first"))
    t.apply(assistant_item("a1", "u1"))
    t.apply(assistant_item("a2", "u2"))  # refers to an item not seen yet: goes last
    t.apply(user_item("u2", "a1", "second"))  # belongs between a1 and a2
    assert [x.item_id for x in t.turns()] == ["u1", "a1", "u2", "a2"]


def test_beta_named_stream_fills_the_same_turns():
    t = Transcript()
    for raw in [
        {"type": "conversation.item.created", "previous_item_id": None,
         "item": {"id": "a1", "type": "message", "role": "assistant", "content": []}},
        {"type": "response.audio_transcript.delta", "item_id": "a1", "delta": "Hel"},
        {"type": "response.audio_transcript.delta", "item_id": "a1", "delta": "lo"},
    ]:  # fmt: skip
        t.apply(events.parse(json.dumps(raw)))
    assert [(x.role, x.text) for x in t.turns()] == [("assistant", "Hello")]


def test_cancelled_failed_typed_and_deleted_turns():
    t = Transcript(max_errors=2)
    t.apply({"type": "conversation.item.added", "previous_item_id": None,
             "item": {"id": "u1", "type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "typed"}]}})  # fmt: skip
    t.apply(assistant_item("a1", "u1"))
    t.apply({"type": "response.output_text.delta", "item_id": "a1", "delta": "partial"})
    t.apply({"type": "response.done",
             "response": {"status": "cancelled", "output": [{"id": "a1"}]}})  # fmt: skip
    t.apply(user_item("u2", "a1"))
    t.apply({"type": "conversation.item.input_audio_transcription.failed", "item_id": "u2",
             "error": {"message": "audio too short"}})  # fmt: skip
    t.apply(user_item("u3", "u2"))
    t.apply({"type": "conversation.item.deleted", "item_id": "u3"})
    assert [(x.text, x.status) for x in t.turns()] == [
        ("typed", "done"),
        ("partial", "interrupted"),
        ("(not transcribed: audio too short)", "failed"),
    ]
    for n in range(3):
        t.apply({"type": "error", "error": {"message": f"bad {n}", "code": "c"}})
    t.apply({"type": events.MALFORMED})
    assert t.errors() == ("bad 2 (c)", "The server sent a message that is not a valid event; "
                          "ignored it.")  # fmt: skip


def test_the_transcript_is_bounded():
    t = Transcript(max_turns=5)
    previous = None
    for n in range(12):
        t.apply(user_item(f"u{n}", previous, str(n)))
        previous = f"u{n}"
    assert [x.text for x in t.turns()] == ["7", "8", "9", "10", "11"]


# --- the relay track -----------------------------------------------------


def test_streamlit_webrtc_still_has_the_attribute_the_dead_start_workaround_clears():
    """Fails when an upgrade renames the private part we touch (pinned 0.79.0)."""
    from streamlit_webrtc import component

    assert "_last_rendered_run_count" in inspect.getsource(component._get_or_create_context)
    context = component.WebRtcStreamerContext(
        worker=None, state=component.WebRtcStreamerState(playing=False, signalling=False)
    )
    assert context._last_rendered_run_count is None


async def test_relay_track_forwards_at_once_bounds_and_fills_gaps():
    # decoded frames out (packets=False), so the test can read them; the packets below
    track = FrameRelayTrack(max_frames=3, gap_s=0.05, packets=False)  # learns its loop at recv

    def stereo(value: int) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(
            np.full((1, 1920), value, np.int16), format="s16", layout="stereo"
        )
        frame.sample_rate = WEBRTC_RATE
        return frame

    gap = await track.recv()  # nothing queued: silence after gap_s, in the browser's layout
    assert gap.layout.name == "stereo" and not gap.to_ndarray().any()
    await asyncio.to_thread(lambda: [track.put(stereo(v)) for v in range(1, 6)])
    await asyncio.sleep(0.01)
    got = [int((await track.recv()).to_ndarray()[0, 0]) for _ in range(3)]
    assert got == [3, 4, 5]  # the oldest two were dropped
    assert track.overflowed == 2  # and counted: sending had begun
    early = FrameRelayTrack(max_frames=3, packets=False)
    for v in range(5):
        early.put(stereo(v))  # before the far side pulls anything: stale, not an overflow
    assert early.overflowed == 0 and early.queued_frames == 3
    assert gap.pts == 0
    assert track.forwarded == 3 and track.filled == 1
    assert track.delays.percentile_ms(50) < 50
    # a frame put from another thread wakes a waiting recv at once, not after gap_s
    track.gap_s = 5.0
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    await asyncio.to_thread(track.put, stereo(9))
    frame = await asyncio.wait_for(waiting, 1.0)
    assert int(frame.to_ndarray()[0, 0]) == 9 and frame.pts == 4 * 960
    # clear (barge-in) drops what is queued
    for v in range(3):
        track.put(stereo(v))
    assert track.clear() == 3 and track.queued_frames == 0
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_late_events_for_deleted_items_and_odd_shapes_never_break_the_transcript():
    t = Transcript(max_turns=2)
    t.apply(user_item("u1", None, "one"))
    t.apply({"type": "conversation.item.deleted", "item_id": "u1"})
    t.apply({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
             "transcript": "late"})  # fmt: skip
    t.apply(user_item("u2", None, "two"))
    t.apply(user_item("u3", "u2", "three"))
    t.apply(user_item("u4", "u3", "four"))  # u2 falls off the bound
    t.apply({"type": "conversation.item.input_audio_transcription.delta", "item_id": "u2",
             "delta": "zombie"})  # fmt: skip
    assert [x.text for x in t.turns()] == ["three", "four"]
    t.apply({"type": "conversation.item.added", "item": "not an object"})
    t.apply({"type": "error", "error": "plain string"})
    t.apply({"type": "response.done", "response": {"status": "incomplete",
             "output": [{"id": "u4"}]}})  # fmt: skip
    assert t.errors() == (
        "A conversation.item.added event had an unexpected shape and was ignored.",
        "plain string",
    )
    assert t.turns()[-1].status == "done"


def test_without_transcription_a_spoken_turn_says_so_instead_of_waiting_forever():
    t = Transcript()
    t.apply({"type": "session.created",
             "session": {"audio": {"input": {"transcription": None}}}})  # fmt: skip
    t.apply({"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert t.turns()[0].status == "streaming"
    t.apply({"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None})
    assert (t.turns()[0].text, t.turns()[0].status) == (NOT_TRANSCRIBED, "done")


def test_reconnect_carries_to_the_model_only_turns_said_in_full():
    said = [Turn("u1", "user", "hello", "done"), Turn("a1", "assistant", "hi there", "done")]
    not_carried = [
        Turn("a2", "assistant", "once upon a time there was", "interrupted"),
        Turn("u2", "user", "(not transcribed: timeout)", "failed"),
        Turn("u3", "user", NOT_TRANSCRIBED, "done"),
        Turn("u4", "user", "", "done"),
        Turn("a3", "assistant", "still talk", "streaming"),
    ]
    assert [t for t in said + not_carried if carried_to_model(t)] == said


def test_carried_turns_show_as_they_were_and_their_echo_is_not_shown_twice():
    t = Transcript()
    earlier = (Turn("u1", "user", "hello", "done"), Turn("a1", "assistant", "once", "interrupted"))
    t.carry(earlier, hidden=("voicelab_carried_1_0",))
    t.apply({"type": "conversation.item.added", "previous_item_id": None,
             "item": {"id": "voicelab_carried_1_0", "type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "hello"}]}})  # fmt: skip
    t.apply({"type": "conversation.item.input_audio_transcription.completed",
             "item_id": "u9", "transcript": "and tomorrow"})  # fmt: skip
    assert [(x.text, x.status) for x in t.turns()] == [
        ("hello", "done"),
        ("once", "interrupted"),
        ("and tomorrow", "done"),
    ]


async def test_relay_silence_keeps_pace_with_the_wall_clock():
    """aiortc stamps RTP time from the pts, which counts samples sent: silence must go out
    every 20 ms, not every ``gap_s``, or the receiver's jitter buffer drifts."""
    track = FrameRelayTrack(gap_s=0.04)
    started = asyncio.get_running_loop().time()
    for _ in range(15):
        frame = await track.recv()
    elapsed = asyncio.get_running_loop().time() - started
    assert frame.pts == 14 * 960 and track.filled == 15
    assert 0.25 < elapsed < 0.6, elapsed  # 15 frames of 20 ms, plus one gap of slack
    track.stop()


async def test_after_a_stall_the_relay_jumps_rtp_time_over_it():
    """The loop blocked for 0.3 s (the GIL held elsewhere in the process): RTP time must show
    a gap. Run on, the frames after it would look late to the receiver, whose jitter buffer
    then holds that much more delay for seconds."""
    track = FrameRelayTrack(gap_s=0.04, packets=False)
    first = await track.recv()
    spoken = av.AudioFrame.from_ndarray(
        np.full((1, 1920), 7, np.int16), format="s16", layout="stereo"
    )
    spoken.sample_rate = WEBRTC_RATE
    time.sleep(0.3)  # the stall under test: the whole loop blocked
    track.put(spoken)  # arrived during the stall: late, but not lost
    after = await track.recv()
    following = await track.recv()
    assert int(after.to_ndarray()[0, 0]) == 7
    assert after.pts - first.pts >= 0.25 * WEBRTC_RATE, after.pts
    assert after.pts % 960 == 0 and following.pts == after.pts + 960
    assert track.skipped_s >= 0.25
    track.stop()


async def test_a_burst_of_silence_is_trimmed_back_to_the_clock_and_sound_never_is():
    """Frames that queued up during a stall arrive together; sent at once they would sit in
    the receiver's jitter buffer as delay. Silent ones are dropped while the stream runs
    over 100 ms ahead of the clock; a frame with sound goes out whatever the lead."""

    def frame(value: int) -> av.AudioFrame:
        f = av.AudioFrame.from_ndarray(
            np.full((1, 1920), value, np.int16), format="s16", layout="stereo"
        )
        f.sample_rate = WEBRTC_RATE
        return f

    track = FrameRelayTrack(max_frames=100, gap_s=0.04, packets=False)
    await track.recv()  # the clock starts
    for _ in range(15):
        track.put(frame(0))
    track.put(frame(1000))
    for _ in range(5):
        track.put(frame(0))
    sent = []
    while track.queued_frames:
        sent.append(await track.recv())
    assert [int(f.to_ndarray().max()) for f in sent].count(1000) == 1
    assert track.forwarded <= 8 and track.trimmed >= 13, (track.forwarded, track.trimmed)
    # Every frame passed counts as far as the answer got, sent or trimmed.
    assert track.heard_samples == (track.forwarded + track.trimmed) * 960
    for _ in range(10):  # back on the clock: silence fills in as usual, then flows again
        await track.recv()
    track.put(frame(0))
    before = track.trimmed
    await track.recv()
    assert track.trimmed == before
    track.stop()


async def test_a_decoded_frame_goes_out_as_the_packet_it_came_from():
    """Forwarding re-encoded every frame: a libopus encode per frame and direction. The
    decoder keeps each frame's packet, and the relay sends that packet; a frame made here
    (no packet) is encoded by the track, and silence is libopus's own silent packet."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpsender import RTCRtpSender

    from voicelab.media import patches
    from voicelab.media.relay_track import SILENT_OPUS

    patches.install()
    tone = (np.sin(np.arange(960) * 0.07) * 8000).astype(np.int16)
    made = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), "s16", "stereo")
    made.sample_rate, made.pts = WEBRTC_RATE, 0
    packet = OpusEncoder().encode(made)[0][0]
    decoded = OpusDecoder().decode(JitterFrame(packet, 0))
    assert len(decoded) == 1 and decoded[0].opaque == packet  # the patched decoder

    track = FrameRelayTrack(gap_s=0.02, packets=True)
    silent = await track.recv()
    assert bytes(silent) == SILENT_OPUS and silent.pts == 0
    assert OpusDecoder().decode(JitterFrame(bytes(silent), 0))[0].to_ndarray().max() == 0
    track.put(decoded[0])
    sent = await track.recv()
    assert isinstance(sent, av.Packet) and bytes(sent) == packet and sent.pts == 960
    assert sent.time_base == fractions.Fraction(1, WEBRTC_RATE)
    made.opaque = None
    track.put(made)  # made in this process: encoded by the track, and still the tone
    own = await track.recv()
    again = OpusDecoder().decode(JitterFrame(bytes(own), 0))[0].to_ndarray().reshape(-1)[::2]
    assert track.encoded == 1 and own.pts == 1920 and np.abs(again).max() > 2000
    track.stop()
    # aiortc sends anything that is not a Frame through its encoder's pack(), not encode()
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)


async def test_audio_is_decoded_on_the_receiving_loop_and_the_stream_still_ends():
    """Two real aiortc peers on loopback: every frame of a tone arrives, decoded on the
    loop that received it (no decoder-thread hand-off per frame), carrying its packet; when
    the sender hangs up, the track still ends. And aiortc still does what the patch leans
    on: the receiver's decoder queue, made in ``__init__``, fed ``(codec, frame)`` and
    ended with ``None`` by the thread it starts."""
    from aiortc import RTCPeerConnection, rtcrtpreceiver

    from voicelab.media import patches
    from voicelab.media.pcm_track import PcmTrack

    patches.install()
    source = inspect.getsource(rtcrtpreceiver)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "self.__decoder_queue: queue.Queue = queue.Queue()" in source
    assert "task = input_q.get()" in source and "if task is None:" in source

    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    mic = PcmTrack()
    sender.addTrack(mic)
    arrived: asyncio.Queue = asyncio.Queue()
    receiver.on("track", arrived.put_nowait)
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    track = await asyncio.wait_for(arrived.get(), 10)
    (rtp_receiver,) = receiver.getReceivers()
    assert isinstance(rtp_receiver._RTCRtpReceiver__decoder_queue, patches.InlineAudioDecoding)

    loop_thread = threading.current_thread()
    seen_on: set[threading.Thread] = set()
    original_put = patches.InlineAudioDecoding.put

    def noting(queue_self, item, block=True, timeout=None):
        seen_on.add(threading.current_thread())
        return original_put(queue_self, item, block, timeout)

    patches.InlineAudioDecoding.put = noting  # type: ignore[method-assign]
    try:
        tone = (np.sin(np.arange(48_000) * 0.05) * 8000).astype(np.int16)
        mic.push(tone)
        loud = 0
        while loud < 40:
            frame = await asyncio.wait_for(track.recv(), 5)
            assert isinstance(frame.opaque, bytes)  # the packet it was decoded from
            loud += int(np.abs(frame.to_ndarray()).max() > 2000)
    finally:
        patches.InlineAudioDecoding.put = original_put  # type: ignore[method-assign]
    assert seen_on == {loop_thread}
    await sender.close()
    with pytest.raises(MediaStreamError):
        for _ in range(500):
            await asyncio.wait_for(track.recv(), 5)
    await receiver.close()


def test_the_fast_audio_level_is_aiortcs_and_its_senders_use_it():
    import inspect

    from aiortc.rtcrtpsender import RTCRtpSender

    from voicelab.media import patches as rtp_level

    rng = np.random.default_rng(3)
    frames = []
    for layout, channels in (("stereo", 2), ("mono", 1)):
        for scale in (0, 1, 30, 1000, 20000, 40000):
            samples = np.clip(rng.normal(0, scale, (1, 960 * channels)), -32768, 32767)
            frame = av.AudioFrame.from_ndarray(
                samples.astype(np.int16), format="s16", layout=layout
            )
            frame.sample_rate = WEBRTC_RATE
            frames.append(frame)
    levels = [rtp_level.audio_level_dbov(f) for f in frames]
    assert levels == [rtp_level.AIORTC_LEVEL(f) for f in frames]
    assert len(set(levels)) > 4  # the frames span quiet to full scale
    # aiortc's sender must still look the function up on the module for every frame.
    assert "rtp.compute_audio_level_dbov(" in inspect.getsource(RTCRtpSender._next_encoded_frame)
    rtp_level.install()
    from aiortc import rtp

    assert rtp.compute_audio_level_dbov is rtp_level.audio_level_dbov


def test_consent_checks_wait_for_a_busy_peer_and_aioice_still_does_what_they_replace():
    import inspect

    from aioice import ice

    from voicelab.media import patches

    original = inspect.getsource(patches.AIOICE_QUERY_CONSENT)
    assert "retransmissions=0" in original and "CONSENT_FAILURES" in original
    ours = inspect.getsource(patches.query_consent)
    # The same steps as aioice's, but each check retransmitted.
    for step in ("build_request(pair, nominate=False)", "self._nominated.values()", "close()"):
        assert step in original and step in ours, step
    assert hasattr(ice.Connection, "_Connection__log_info")
    assert "self.query_consent()" in inspect.getsource(ice.Connection.connect)
    patches.install()
    assert ice.Connection.query_consent is patches.query_consent


def test_after_install_no_webrtc_observer_watches_navigation_and_its_hook_still_exists():
    """The hook streamlit-webrtc's observers read the page with; a page change ends the
    call if an upgrade moves it (the browser test proves the call survives one)."""
    import inspect

    from streamlit_webrtc import shutdown

    original = shutdown.SessionShutdownObserver.__dict__["_resolve_initial_page_script_hash"]
    assert "initial_page_script_hash" in inspect.getsource(shutdown.SessionShutdownObserver)
    from components import patches

    try:
        patches.keep_calls_across_pages()
        assert shutdown.SessionShutdownObserver._resolve_initial_page_script_hash(object()) == ""
        assert patches.SessionEndObserver is shutdown.SessionShutdownObserver
    finally:
        shutdown.SessionShutdownObserver._resolve_initial_page_script_hash = original


def test_the_key_source_never_shows_the_key():
    from components.backend import KeySource

    assert "sk-live-secret" not in repr(KeySource("typed", "sk-live-secret"))


def test_markdown_in_model_text_is_shown_as_written():
    from components.plain_text import plain

    assert plain("see ![x](http://e/a.png) :red[hi] $x$") == (
        r"see \!\[x\]\(http\://e/a\.png\) \:red\[hi\] \$x\$"
    )


def test_wire_json_refuses_what_would_recurse_too_deep_in_one_sentence():
    from voicelab.protocol import wire_json

    assert wire_json.loads("[" * 64 + "]" * 64) is not None  # at the limit: fine
    assert wire_json.depth({"a": [{"b": 1}], "c": 2}) == 3
    for text in ("[" * 65 + "]" * 65, '{"a": ' * 100_000 + "1" + "}" * 100_000):
        with pytest.raises(wire_json.TooDeep, match="nested more than 64 levels deep"):
            wire_json.loads(text)
    with pytest.raises(ValueError):
        wire_json.loads("{broken")
    deep = '{"type": "error", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    assert events.parse(deep)["type"] == events.MALFORMED  # from the upstream: shown, not raised


def test_recovery_waits_longer_each_attempt_and_never_retries_what_cannot_change():
    import random

    from voicelab.call.recovery import RecoveryPolicy, asked_wait_s, permanent
    from voicelab.upstream.transport import SetupError

    policy = RecoveryPolicy(first_delay_s=0.5, max_delay_s=8.0, jitter=0.25)
    steady = RecoveryPolicy(first_delay_s=0.5, max_delay_s=8.0, jitter=0.0)
    assert [steady.delay_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    rng = random.Random(3)
    spread = [policy.delay_s(3, rng) for _ in range(200)]
    assert 1.5 <= min(spread) < 1.7 and 2.3 < max(spread) <= 2.5  # 2 s ± 25 %
    for status, code in [(401, None), (403, None), (400, "invalid_value"), (404, None),
                         (429, "insufficient_quota")]:  # fmt: skip
        assert permanent(SetupError("no", status, code)), (status, code)
    for status in (None, 429, 500, 503):
        assert not permanent(SetupError("again", status, "rate_limit_exceeded"))
    limited = SetupError("Rate limited (429): Please try again in 20s. Wait a moment.", 429)
    assert asked_wait_s(limited) == 20.0
    assert asked_wait_s(SetupError("Please try again in 350ms.", 429)) == 0.35
    assert asked_wait_s(SetupError("The Realtime service failed (500).", 500)) is None


def test_what_the_browser_could_not_do_is_said_in_plain_words():
    from voicelab.call.problems import browser_media

    assert browser_media("NotAllowedError: Permission denied").startswith(
        "The browser blocked the microphone. Allow it for this site"
    )
    assert browser_media("NotFoundError: Requested device not found").startswith(
        "No microphone was found."
    )
    insecure = (
        "Error: navigator.mediaDevices is undefined. It seems the current document is not "
        "loaded securely."
    )
    assert "HTTPS" in browser_media(insecure)
    odd = browser_media("AbortError: " + "x" * 500)
    assert (
        odd.startswith("The browser could not open the microphone (AbortError") and len(odd) < 300
    )
