"""Website chat latency against a running server (`huike run`, or uvicorn with a worker).

  1. visitor → agent: V visitor websockets (default 200) connect, all at once (the time to
     their "history" frame is reported as connect latency); once every one is connected they
     send N messages in all (default 3,000) at an aggregate rate; one agent websocket (signed
     in like the inbox page) receives the message.created events. Latency = the visitor's
     send → the agent's receipt of that message's event (matched by the message id the
     visitor's ack carries).
  2. agent → visitor: R replies posted through the inbox page's reply endpoint; latency = the
     POST → the visitor's widget receiving the text (through the worker's send task and, in
     embedded mode, the web process's notice relay).

The physical limit: the same run with --limit against bench/ws_relay.py (the same frames
through the same uvicorn, Channels and channel layer, none of Huike's work), started with
`.venv/bin/uvicorn bench.ws_relay:application --port 8063` in the same environment.

Usage (the demo workspace's admin by default; creates a "Bench website chat" channel there
unless --key names one, using this checkout's settings, so run it against the same database):
  .venv/bin/python bench/webchat_latency.py --url http://127.0.0.1:8000
  .venv/bin/python bench/webchat_latency.py --url http://127.0.0.1:8000 --visitors 200 \\
      --messages 3000 --rate 10 --replies 50
"""

import argparse
import asyncio
import contextlib
import http.cookiejar
import json
import os
import re
import secrets
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RECEIVE_TIMEOUT = 30.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values: list[float], expected: int) -> None:
    if not values:
        print(f"{name}: nothing measured (0 of {expected})")
        return
    milliseconds = [value * 1000 for value in values]
    print(
        f"{name}: {len(values)} of {expected} measured · "
        f"p50 {percentile(milliseconds, 0.50):.1f} ms · "
        f"p90 {percentile(milliseconds, 0.90):.1f} ms · "
        f"p99 {percentile(milliseconds, 0.99):.1f} ms · "
        f"max {max(milliseconds):.1f} ms · mean {statistics.fmean(milliseconds):.1f} ms"
    )


# --- setup ---------------------------------------------------------------------------------
def channel_key(email: str) -> str:
    """The public key of the bench's webchat channel in `email`'s workspace (created once)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from huike.accounts.access import Actor
    from huike.accounts.models import Membership
    from huike.channels.models import Channel
    from huike.channels.services import channel_create

    membership = (
        Membership.objects.usable()
        .select_related("workspace", "role", "user")
        .filter(user__email=email)
        .order_by("created_at")
        .first()
    )
    if membership is None:
        raise SystemExit(f"{email} is no member of any workspace (run `huike run` once)")
    found = Channel.objects.filter(
        workspace=membership.workspace, kind="webchat", name="Bench website chat"
    ).first()
    if found is None:
        found = channel_create(
            actor=Actor.for_membership(membership),
            kind="webchat",
            name="Bench website chat",
            config={},
        )
    return found.public_key


class Agent:
    """A signed-in browser session, as the inbox page has it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def sign_in(self, email: str, password: str) -> None:
        login = f"{self.base}/account/login/"
        self.opener.open(login, timeout=30).read()
        body = urllib.parse.urlencode(
            {
                "username": email,
                "password": password,
                "csrfmiddlewaretoken": self.cookie("csrftoken"),
            }
        ).encode()
        request = urllib.request.Request(login, data=body, headers={"Referer": login})
        self.opener.open(request, timeout=30).read()
        if not self.cookie("sessionid"):
            raise SystemExit(f"could not sign in as {email}")

    def presence_online(self) -> None:
        """Online, so the widget shows the chat rather than the offline form."""
        url = f"{self.base}/inbox/presence/"
        body = urllib.parse.urlencode(
            {
                "presence": "online",
                "capacity": "0",
                "auto_assign": "on",
                "csrfmiddlewaretoken": self.cookie("csrftoken"),
            }
        ).encode()
        request = urllib.request.Request(url, data=body, headers={"Referer": url})
        try:
            self.opener.open(request, timeout=30).read()
        except urllib.error.HTTPError as error:
            print(f"(presence not set: {error.code})")

    def reply(self, conversation_id: str, text: str) -> None:
        url = f"{self.base}/inbox/{conversation_id}/reply/"
        body = urllib.parse.urlencode(
            {"text": text, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        ).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Referer": url, "HX-Request": "true"}
        )
        self.opener.open(request, timeout=30).read()

    def ws_headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.cookie('sessionid')}", "Origin": self.base}


# --- the run -------------------------------------------------------------------------------
class Run:
    def __init__(self, args: argparse.Namespace, key: str) -> None:
        self.args = args
        self.key = key
        ws_base = re.sub(r"^http", "ws", args.url.rstrip("/"))
        self.visitor_url = f"{ws_base}/ws/webchat/{key}/"
        self.agent_url = f"{ws_base}/ws/inbox/"
        # message id -> when the visitor sent it / when the agent heard of it
        self.sent_at: dict[str, float] = {}
        self.heard_at: dict[str, float] = {}
        self.conversation_of: dict[str, str] = {}
        self.errors: list[str] = []
        self.all_heard = asyncio.Event()
        # Connect latencies (socket opened → history received); the timed phase starts when
        # every visitor is connected.
        self.connect_times: list[float] = []
        self.all_connected = asyncio.Event()
        self.start = 0.0

    async def agent(self, socket: ClientConnection) -> None:
        async for raw in socket:
            now = time.perf_counter()
            event = json.loads(raw)
            if event.get("type") == "message.created" and event.get("direction") == "in":
                self.heard_at.setdefault(event["message_id"], now)
                self.conversation_of.setdefault(event["message_id"], event["conversation_id"])
                if len(self.heard_at) >= self.args.messages:
                    self.all_heard.set()

    async def visitor(self, number: int, interval: float) -> tuple[str, str]:
        visitor_id = secrets.token_hex(16)
        opened = time.perf_counter()
        async with connect(
            f"{self.visitor_url}?visitor={visitor_id}&lang=en",
            additional_headers={"Origin": self.args.url.rstrip("/")},
            max_size=2**22,
        ) as socket:
            await socket.recv()  # welcome
            await socket.recv()  # history
            self.connect_times.append(time.perf_counter() - opened)
            if len(self.connect_times) >= self.args.visitors:
                self.start = time.perf_counter() + 0.5
                self.all_connected.set()
            await self.all_connected.wait()
            mine = range(number, self.args.messages, self.args.visitors)
            last_id = ""
            for sequence in mine:
                # Spread the aggregate rate evenly over the visitors.
                due = self.start + sequence * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                client_id = f"bench-{sequence:08d}"
                sent = time.perf_counter()
                await socket.send(
                    json.dumps({"type": "message", "client_id": client_id, "text": f"m{sequence}"})
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT))
                    if frame.get("client_id") == client_id:
                        break
                if frame["type"] == "ack" and frame.get("id"):
                    self.sent_at[frame["id"]] = sent
                    last_id = frame["id"]
                else:
                    self.errors.append(str(frame.get("code") or frame))
            return visitor_id, last_id

    async def replies(self, agent: Agent, targets: list[tuple[str, str]]) -> list[float]:
        """Reply to `targets` (visitor id, conversation id) one at a time; the latencies."""
        latencies: list[float] = []
        for visitor_id, conversation_id in targets:
            async with connect(
                f"{self.visitor_url}?visitor={visitor_id}&lang=en",
                additional_headers={"Origin": self.args.url.rstrip("/")},
                max_size=2**22,
            ) as socket:
                await socket.recv()
                await socket.recv()
                text = f"reply {secrets.token_hex(4)}"
                started = time.perf_counter()
                await asyncio.to_thread(agent.reply, conversation_id, text)
                while True:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT))
                    if frame.get("type") == "message" and frame.get("text") == text:
                        latencies.append(time.perf_counter() - started)
                        break
        return latencies


async def main(args: argparse.Namespace, key: str) -> None:
    agent = Agent(args.url.rstrip("/"))
    if not args.limit:
        await asyncio.to_thread(agent.sign_in, args.email, args.password)
        await asyncio.to_thread(agent.presence_online)
    run = Run(args, key)
    interval = 1.0 / args.rate
    headers = {} if args.limit else agent.ws_headers()
    async with connect(run.agent_url, additional_headers=headers) as agent_socket:
        listener = asyncio.create_task(run.agent(agent_socket))
        print(
            f"{args.visitors} visitors, {args.messages} messages at {args.rate}/s (channel {key})"
        )
        results = await asyncio.gather(
            *(run.visitor(number, interval) for number in range(args.visitors))
        )
        elapsed = time.perf_counter() - run.start
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.all_heard.wait(), RECEIVE_TIMEOUT)
        listener.cancel()
    latencies = [
        run.heard_at[message_id] - sent
        for message_id, sent in run.sent_at.items()
        if message_id in run.heard_at
    ]
    acked = len(run.sent_at)
    print(f"sent in {elapsed:.1f} s ({acked / max(elapsed, 0.001):.0f} messages/s acked)")
    if run.errors:
        print(f"refused: {len(run.errors)} ({', '.join(sorted(set(run.errors)))})")
    summary("visitor connect (all at once)", run.connect_times, args.visitors)
    summary("visitor → agent", latencies, args.messages)
    targets = [
        (visitor_id, run.conversation_of[last_id])
        for visitor_id, last_id in results
        if last_id in run.conversation_of
    ][: args.replies]
    if targets and not args.limit:
        summary("agent → visitor", await run.replies(agent, targets), len(targets))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default="", help="a webchat channel's public key")
    parser.add_argument("--email", default="admin@demo.huike.local")
    parser.add_argument("--password", default="huike-demo-2026")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second, in all")
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument(
        "--limit",
        action="store_true",
        help="against bench/ws_relay.py (the same frames, no Huike work): the physical limit",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    key = "limit" if arguments.limit else arguments.key or channel_key(arguments.email)
    asyncio.run(main(arguments, key))
