"""``voicelab`` command line: ``serve-local`` runs the offline Realtime endpoint."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from voicelab.local.faults import GARBAGE, SDP_FAULTS, Faults
from voicelab.local.responder import ChatCompletionsResponder, LocalResponder, Responder
from voicelab.local.server import ServerOptions, run_forever


def _serve_local(args: argparse.Namespace) -> int:
    try:
        faults = Faults(
            sdp_status=args.fault_sdp_status,
            sdp_delay_s=args.fault_sdp_delay,
            drop_after_s=args.fault_drop_after,
            malformed_every=args.fault_malformed_every,
            garbage=args.fault_garbage,
            synth_delay_s=args.fault_synth_delay,
            ice_unreachable=args.fault_ice_unreachable,
            close_channel_after_s=args.fault_close_channel_after,
        )
    except ValueError as exc:
        print(f"voicelab serve-local: {exc}", file=sys.stderr)
        return 2
    responder: Responder = LocalResponder()
    if args.chat_url:
        key = os.environ.get(args.chat_key_env) if args.chat_key_env else None
        responder = ChatCompletionsResponder(args.chat_url, args.chat_model, key)
    options = ServerOptions(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        max_call_s=args.max_call_seconds,
        faults=faults,
        responder=responder,
    )
    run_forever(options, exit_after_s=args.exit_after)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicelab")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve-local", help="run the offline Realtime-compatible endpoint")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument(
        "--api-key",
        default=os.environ.get("VOICELAB_LOCAL_API_KEY"),
        help="require this bearer token (default: any token; env VOICELAB_LOCAL_API_KEY)",
    )
    serve.add_argument("--max-call-seconds", type=float, default=3600.0)
    serve.add_argument("--exit-after", type=float, default=None, help="stop after N seconds")
    serve.add_argument("--chat-url", help="OpenAI-compatible /chat/completions URL for replies")
    serve.add_argument("--chat-model", default="gpt-4o-mini")
    serve.add_argument("--chat-key-env", help="environment variable holding the chat key")
    faults = serve.add_argument_group("fault injection")
    faults.add_argument("--fault-sdp-status", type=int, choices=sorted(SDP_FAULTS))
    faults.add_argument("--fault-sdp-delay", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument("--fault-drop-after", type=float, metavar="SECONDS")
    faults.add_argument("--fault-malformed-every", type=int, metavar="N")
    faults.add_argument(
        "--fault-garbage", choices=sorted(GARBAGE), default="malformed", help="what N-th sends"
    )
    faults.add_argument("--fault-synth-delay", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument("--fault-ice-unreachable", action="store_true")
    faults.add_argument("--fault-close-channel-after", type=float, metavar="SECONDS")
    serve.set_defaults(handler=_serve_local)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
