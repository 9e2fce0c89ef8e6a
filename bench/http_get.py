"""What one poll's GET costs the bot: httpx's own transport, the tuner client, aiohttp.

A loopback aiohttp server in a child process answers every GET with the same body (a 24-trial
state is about 120 KB). In this process, three clients ask it side by side, 8 requests at a
time over kept-alive connections, as the poller does:

- `httpx default`: `httpx.AsyncClient` with its own transport (httpcore, anyio, h11);
- `httpx over aiohttp`: `httpx.AsyncClient` over the production transport
  (`bot.tuner.transport`): what the tuner client paid before it skipped httpx's client;
- `tuner client`: `TunerClient.fetch` over `default_transport()`, as a poll makes it;
- `aiohttp`: a bare `aiohttp.ClientSession`, the least this machine could pay.

It prints the CPU time of this process per GET (body read whole), min and median over
`--repeat` rounds of `--requests` GETs, for each `--sizes` body.

    python bench/http_get.py [--sizes 1000,120000,500000] [--requests 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.capacity import CAPACITY  # noqa: E402
from bot.tuner.client import TunerClient, default_transport  # noqa: E402

AT_ONCE = 8
STATE = "/api/1/optimize/state"
HEADERS = {"x-api-key": "ei_bench", "Accept": "application/json"}


def _serve(size: int, conn: Connection) -> None:
    body = b'{"x":"' + b"a" * size + b'"}'

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get(STATE, answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        conn.send(runner.addresses[0][1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await runner.cleanup()

    asyncio.run(main())


async def _cpu_per_get(
    get: Callable[[], Awaitable[bytes]], requests: int, repeat: int
) -> list[float]:
    slots = asyncio.Semaphore(AT_ONCE)

    async def one() -> None:
        async with slots:
            await get()

    await asyncio.gather(*(one() for _ in range(50)))  # warm: connections made
    rounds = []
    for _ in range(repeat):
        start = time.process_time()
        await asyncio.gather(*(one() for _ in range(requests)))
        rounds.append((time.process_time() - start) / requests * 1e3)
    return rounds


async def bench(size: int, requests: int, repeat: int) -> None:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(size, child), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{parent.recv()}{STATE}"
        limits = httpx.Limits(max_connections=CAPACITY.connections)

        async def streamed(http: httpx.AsyncClient) -> bytes:
            async with http.stream("GET", url, headers=HEADERS) as response:
                return b"".join([chunk async for chunk in response.aiter_bytes()])

        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient(limits=limits) as http:
            results["httpx default"] = await _cpu_per_get(lambda: streamed(http), requests, repeat)
        async with httpx.AsyncClient(transport=default_transport(), limits=limits) as http:
            results["httpx over aiohttp"] = await _cpu_per_get(
                lambda: streamed(http), requests, repeat
            )
        async with default_transport() as transport:
            tuner = TunerClient(
                transport, base_url=url.removesuffix(STATE), api_key_for=lambda _: SecretStr("k")
            )
            results["tuner client"] = await _cpu_per_get(lambda: tuner.fetch("1"), requests, repeat)
        connector = aiohttp.TCPConnector(limit=CAPACITY.connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def bare() -> bytes:
                async with session.get(url, headers=HEADERS) as response:
                    return await response.read()

            results["aiohttp"] = await _cpu_per_get(bare, requests, repeat)
    finally:
        parent.send(None)
        server.join(10)
    print(f"\nbody {size:,} bytes, {requests} GETs x {repeat}, {AT_ONCE} at a time")
    print(f"  {'CPU per GET':20} {'min ms':>8} {'median ms':>10} {'/ httpx':>8}")
    base = statistics.median(results["httpx default"])
    for name, rounds in results.items():
        median = statistics.median(rounds)
        print(f"  {name:20} {min(rounds):8.3f} {median:10.3f} {median / base:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,120000,500000", help="body bytes, comma-separated")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(bench(size, args.requests, args.repeat))


if __name__ == "__main__":
    main()
