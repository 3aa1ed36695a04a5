"""Bad input and injected faults: each gets OpenAI's status or ``error`` event, and the server
and the call keep working afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import httpx
import pytest
from aiohttp import web

from tests.conftest import TEST_KEY, serving
from tests.http_stub import http_stub
from tests.realtime_client import Client, user_text
from tests.speech import phrase
from voicelab.local import Faults, LocalServer, LocalServerThread, ServerOptions
from voicelab.local.responder import ChatCompletionsResponder
from voicelab.protocol.client_events import EventTooLarge
from voicelab.upstream.signaling import SignalingError, create_call, hang_up

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


async def a_call_still_works(server: LocalServer) -> None:
    client = Client(server.base_url, TEST_KEY, {"type": "realtime", "output_modalities": ["text"]})
    await client.connect()
    client.send(user_text("still there"))
    client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    await client.close()
    client.assert_valid()


def assert_openai_error(body: dict, code: str | None, param: str | None = None) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    assert body["error"]["code"] == code
    if param is not None:
        assert body["error"]["param"] == param


async def post(server: LocalServer, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(server.base_url + "/realtime/calls", **kwargs)


def multipart(sdp: str, session: object) -> dict:
    text = session if isinstance(session, str) else json.dumps(session)
    return {"sdp": (None, sdp, "application/sdp"), "session": (None, text, "application/json")}


async def an_offer() -> str:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


# ---- HTTP signaling -------------------------------------------------------------------------


async def test_missing_and_wrong_keys_get_401(server):
    offer = await an_offer()
    missing = await post(server, files=multipart(offer, {"type": "realtime"}))
    assert missing.status_code == 401
    assert_openai_error(missing.json(), None)
    assert "API key" in missing.json()["error"]["message"]
    wrong = await post(
        server,
        files=multipart(offer, {"type": "realtime"}),
        headers={"Authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401
    assert_openai_error(wrong.json(), "invalid_api_key")
    assert "nope" not in wrong.text  # the key is never echoed
    await a_call_still_works(server)


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ("{not json", "invalid_json", "session"),
        ({"type": "realtime", "modalities": ["audio"]}, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "voice": "alloy"}, "unknown_parameter", "session.voice"),
        (
            {"type": "realtime", "audio": {"input": {"vad": 1}}},
            "unknown_parameter",
            "session.audio.input.vad",
        ),
        (
            {"type": "realtime", "audio": {"output": {"speed": 3}}},
            "decimal_above_max_value",
            "session.audio.output.speed",
        ),
        (
            {"type": "realtime", "audio": {"output": {"voice": "nobody"}}},
            "invalid_value",
            "session.audio.output.voice",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}},
            },
            "invalid_type",
            "session.audio.input.turn_detection.threshold",
        ),
        ({"model": "gpt-realtime"}, "missing_required_parameter", "session.type"),
        (
            {"type": "realtime", "max_output_tokens": 0},
            "integer_below_min_value",
            "session.max_output_tokens",
        ),
    ],
)
async def test_bad_session_gets_400_with_the_param(server, session, code, param):
    response = await post(server, files=multipart(await an_offer(), session), headers=AUTH)
    assert response.status_code == 400
    assert_openai_error(response.json(), code, param)
    assert not server.calls
    await a_call_still_works(server)


@pytest.mark.parametrize(
    "body",
    [
        {"content": b"hello, not sdp", "headers": {**AUTH, "Content-Type": "application/sdp"}},
        {
            "content": b"v=0\r\nm=audio garbage\r\n",
            "headers": {**AUTH, "Content-Type": "application/sdp"},
        },
        {"content": b"\xff\xfe\x00garbage", "headers": {**AUTH, "Content-Type": "application/sdp"}},
        {"files": {"session": (None, "{}", "application/json")}, "headers": AUTH},
        {"content": b'{"sdp": "v=0"}', "headers": {**AUTH, "Content-Type": "application/json"}},
    ],
    ids=["not-sdp", "broken-sdp", "binary", "no-sdp-part", "json-body"],
)
async def test_garbage_offers_get_400_not_500(server, body):
    response = await post(server, **body)
    assert response.status_code == 400, response.text
    assert_openai_error(response.json(), response.json()["error"]["code"])
    assert not server.calls
    await a_call_still_works(server)


DEEP = '{"type": "realtime", "tools": ' + "[" * 5000 + "]" * 5000 + "}"


async def test_a_session_nested_thousands_deep_gets_400_not_500(server, caplog):
    response = await post(server, files=multipart(await an_offer(), DEEP), headers=AUTH)
    assert response.status_code == 400, response.text
    assert_openai_error(response.json(), "invalid_json", "session")
    assert "nested more than 64 levels deep" in response.json()["error"]["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    await a_call_still_works(server)


async def test_a_client_gone_in_the_middle_of_its_request_leaves_no_error(server, caplog):
    body = b'--b\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0\r\n'
    head = (
        "POST /v1/realtime/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TEST_KEY}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    )
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head.encode() + body)  # a tenth of what it announced, then gone
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
    await asyncio.sleep(0.5)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert not server.calls
    await a_call_still_works(server)


async def test_raw_sdp_body_is_accepted_and_hangup_ends_the_call(server):
    response = await post(
        server,
        content=(await an_offer()).encode(),
        headers={**AUTH, "Content-Type": "application/sdp"},
    )
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/sdp")
    call_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert call_id.startswith("rtc_") and call_id in server.calls
    async with httpx.AsyncClient() as http:
        listed = await http.get(server.base_url + "/realtime/calls", headers=AUTH)
        assert [c["id"] for c in listed.json()["data"]] == [call_id]
        gone = await http.post(f"{server.base_url}/realtime/calls/{call_id}/hangup", headers=AUTH)
        assert gone.status_code == 200
        assert call_id not in server.calls
        again = await http.post(f"{server.base_url}/realtime/calls/{call_id}/hangup", headers=AUTH)
        assert again.status_code == 404
        assert_openai_error(again.json(), "call_not_found")


async def test_client_hangup_leaves_no_call(server):
    client = Client(server.base_url, TEST_KEY, {"type": "realtime"})
    call_id = await client.connect()
    assert list(server.calls) == [call_id]
    await client.close()
    assert not server.calls
    assert server.ended_calls == 1


# ---- the data channel -----------------------------------------------------------------------


async def test_bad_events_get_error_events_and_the_call_goes_on(server):
    client = Client(server.base_url, TEST_KEY, {"type": "realtime", "output_modalities": ["text"]})
    await client.connect()
    cases = [
        ("{broken", "invalid_json", None),
        ('["a list"]', "invalid_type", "event"),
        ('{"event_id": "e1"}', "missing_required_parameter", "type"),
        ('{"type": "session.explode"}', "invalid_value", "type"),
        ('{"type": ["not", "a", "name"]}', "invalid_value", "type"),
        ('{"type": "response.audio.delta"}', "invalid_value", "type"),
        ('{"type": "session.update"}', "missing_required_parameter", "session"),
        (
            '{"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"speed": "fast"}}}}',
            "invalid_type",
            "session.audio.output.speed",
        ),
        (
            '{"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 5}',
            "missing_required_parameter",
            "item_id",
        ),
        ('{"type": "conversation.item.create"}', "missing_required_parameter", "item"),
        (
            '{"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}}',
            "invalid_value",
            "item.role",
        ),
        (
            '{"type": "conversation.item.delete", "item_id": "item_nope"}',
            "item_not_found",
            "item_id",
        ),
        (
            '{"type": "response.create", "response": {"colour": "red"}}',
            "unknown_parameter",
            "response.colour",
        ),
        ('{"type": "input_audio_buffer.append", "audio": "AAAA"}', "invalid_value", "type"),
        (
            '{"type": "session.update", "session": ' + "[" * 3000 + "]" * 3000 + "}",
            "invalid_json",
            None,
        ),
    ]
    for raw, code, param in cases:
        mark = len(client.events)
        client.conn.send_raw(raw)
        error = await client.wait_for("error", after=mark)
        assert error["error"]["code"] == code, (raw, error)
        assert error["error"]["param"] == param, (raw, error)
    # A refused session.update changed nothing.
    client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "ok"}})
    updated = await client.wait_for("session.updated")
    assert updated["session"]["audio"]["output"]["speed"] == 1.0

    mark = len(client.events)
    client.conn.send_raw(
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": "x" * 70_000},
            }
        )
    )
    error = await client.wait_for("error", after=mark)
    assert error["error"]["code"] == "message_too_large"
    with pytest.raises(EventTooLarge):
        client.send({"type": "session.update", "session": {"instructions": "x" * 70_000}})

    client.send(user_text("still there"))
    client.send({"type": "response.create"})
    client.send({"type": "response.create", "event_id": "evt_twice"})
    twice = await client.wait_for("error", where=lambda e: e["error"]["event_id"] == "evt_twice")
    assert twice["error"]["code"] == "conversation_already_has_active_response"
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    await client.close()
    client.assert_valid()


async def test_call_ends_at_the_maximum_duration():
    async with serving(api_key=TEST_KEY, max_call_s=2.0) as server:
        client = Client(server.base_url, TEST_KEY, {"type": "realtime"})
        await client.connect()
        expired = await client.wait_for("error", timeout=5)
        assert expired["error"]["code"] == "session_expired"
        assert "maximum duration" in expired["error"]["message"]
        for _ in range(50):
            if not server.calls:
                break
            await asyncio.sleep(0.05)
        assert not server.calls
        await client.close()
        client.assert_valid()


# ---- fault injection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (400, "refused"),
        (401, "API key was rejected"),
        (403, "may not use the Realtime API (403)"),
        (429, "Rate limited"),
        (500, "failed"),
        (503, "failed"),
    ],
)
async def test_injected_sdp_status_becomes_a_clear_error(status, words):
    async with serving(faults=Faults(sdp_status=status)) as server:
        with pytest.raises(SignalingError) as caught:
            await create_call(server.base_url, TEST_KEY, await an_offer(), {"type": "realtime"})
        assert caught.value.status == status
        assert words in str(caught.value)
        assert TEST_KEY not in str(caught.value)


async def test_injected_sdp_delay_and_unreachable_server_time_out_clearly():
    async with serving(faults=Faults(sdp_delay_s=3.0)) as server:
        with pytest.raises(SignalingError, match=r"did not answer within 0\.5 s"):
            await create_call(
                server.base_url, TEST_KEY, await an_offer(), {"type": "realtime"}, timeout_s=0.5
            )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(SignalingError, match="Could not connect"):
        await create_call(f"http://127.0.0.1:{free}/v1", TEST_KEY, await an_offer(), {})
    with pytest.raises(SignalingError, match="Hanging up failed on the network"):
        await hang_up(f"http://127.0.0.1:{free}/v1", TEST_KEY, "rtc_x")


async def test_injected_drop_ends_the_call_without_hangup():
    async with serving(faults=Faults(drop_after_s=1.0)) as server:
        client = Client(server.base_url, TEST_KEY, {"type": "realtime"})
        await client.connect()
        await asyncio.sleep(1.5)
        assert not server.calls
        for _ in range(100):
            if (
                client.conn.pc.connectionState in ("closed", "failed")
                or client.conn.channel.readyState == "closed"
            ):
                break
            await asyncio.sleep(0.1)
        assert client.conn.channel.readyState == "closed"
        await client.close()


async def test_injected_malformed_events_arrive_between_good_ones():
    async with serving(faults=Faults(malformed_every=3)) as server:
        client = Client(
            server.base_url, TEST_KEY, {"type": "realtime", "output_modalities": ["text"]}
        )
        client.allow_unknown = True
        await client.connect()
        client.send(user_text("hello"))
        client.send({"type": "response.create"})
        await client.wait_for("response.done")
        assert client.of("voicelab.malformed_event")
        await client.close()
        client.assert_valid()


async def test_injected_slow_synthesis_delays_the_audio():
    async with serving(faults=Faults(synth_delay_s=1.0)) as server:
        client = Client(server.base_url, TEST_KEY, {"type": "realtime"})
        await client.connect()
        client.send(user_text("hello"))
        client.send({"type": "response.create"})
        created = await client.wait_for("response.created")
        started = await client.wait_for("output_audio_buffer.started")
        assert client.arrival_of(started) - client.arrival_of(created) >= 1.0
        await client.close()
        client.assert_valid()


# ---- other responders and the command line --------------------------------------------------


async def test_chat_completions_url_answers_instead_of_the_local_responder():
    seen: list[dict] = []

    async def completions(request: web.Request) -> web.Response:
        seen.append(await request.json())
        if len(seen) > 1:
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        return web.json_response(
            {"choices": [{"message": {"role": "assistant", "content": "Forty two."}}]}
        )

    async with (
        http_stub("/v1/chat/completions", completions) as url,
        serving(responder=ChatCompletionsResponder(f"{url}/v1/chat/completions", "tiny")) as server,
    ):
        client = Client(
            server.base_url,
            TEST_KEY,
            {
                "type": "realtime",
                "output_modalities": ["text"],
                "temperature": 0.3,
                "instructions": "Be exact.",
            },
        )
        await client.connect()
        client.send(user_text("What is six times seven?"))
        client.send({"type": "response.create"})
        assert (await client.wait_for("response.output_text.done"))["text"] == "Forty two."
        await client.wait_for("response.done")
        assert seen[0]["temperature"] == 0.3
        assert seen[0]["messages"] == [
            {"role": "system", "content": "Be exact."},
            {"role": "user", "content": "What is six times seven?"},
        ]
        # The chat endpoint fails: the response fails, the call lives.
        mark = len(client.events)
        client.send(user_text("again"))
        client.send({"type": "response.create"})
        failed = await client.wait_for("response.done", after=mark)
        assert failed["response"]["status"] == "failed"
        assert "answered 503" in failed["response"]["status_details"]["error"]["message"]
        await client.close()
        client.assert_valid()


def test_cli_serves_until_told_to_stop():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicelab",
            "serve-local",
            "--port",
            "0",
            "--exit-after",
            "30",
            "--api-key",
            TEST_KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "Local Realtime server on http://127.0.0.1:" in line
        base_url = line.strip().rsplit(" ", 1)[-1]
        health = httpx.get(base_url.removesuffix("/v1") + "/healthz", timeout=5)
        assert health.json() == {"status": "ok", "calls": 0}
        garbage = httpx.post(
            base_url + "/realtime/calls",
            content=b"nope",
            headers={**AUTH, "Content-Type": "application/sdp"},
            timeout=5,
        )
        assert garbage.status_code == 400
        unauthorised = httpx.post(base_url + "/realtime/calls", content=b"nope", timeout=5)
        assert unauthorised.status_code == 401
    finally:
        process.terminate()
        process.wait(10)


def test_cli_refuses_bad_fault_options():
    result = subprocess.run(
        [sys.executable, "-m", "voicelab", "serve-local", "--fault-malformed-every", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "malformed_every must be at least 1" in result.stderr


def test_server_thread_runs_on_its_own_loop_and_stops():
    thread = LocalServerThread(ServerOptions(api_key=TEST_KEY))
    base_url = thread.start()
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert httpx.get(base_url.removesuffix("/v1") + "/healthz", timeout=5).status_code == 200
        assert thread.call_ids() == []
    finally:
        thread.stop()
    assert not thread._thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url.removesuffix("/v1") + "/healthz", timeout=2)


async def test_a_turn_queued_behind_a_cancelled_response_starts_after_its_response_done():
    """A turn that ends while a response is still being made waits for it; when that one is
    cancelled, its response.done goes out before the next response.created (OpenAI's order:
    a client that tracks "is a response running" must never see two at once)."""
    async with serving(faults=Faults(synth_delay_s=6.0)) as server:
        no_barge_in = {"type": "server_vad", "interrupt_response": False}
        session = {"type": "realtime", "audio": {"input": {"turn_detection": no_barge_in}}}
        client = Client(server.base_url, TEST_KEY, session)
        await client.connect()
        client.send(user_text("hello"))
        client.send({"type": "response.create"})
        first = (await client.wait_for("response.created"))["response"]["id"]
        client.speak(phrase("what is the weather like", lead_s=0.3, tail_s=1.0))
        await client.wait_for("input_audio_buffer.speech_stopped", timeout=15)
        await asyncio.sleep(0.2)  # the turn's response is queued behind the first
        client.send({"type": "response.cancel"})
        second = await client.wait_for(
            "response.created", where=lambda e: e["response"]["id"] != first
        )
        await client.wait_for("response.done", where=lambda e: e["response"]["id"] == first)
        kinds = [
            (e["type"], (e.get("response") or {}).get("id"))
            for e in client.events
            if e["type"] in ("response.created", "response.done")
        ]
        assert kinds[:3] == [
            ("response.created", first),
            ("response.done", first),
            ("response.created", second["response"]["id"]),
        ], kinds
        await client.close()
        client.assert_valid()
