#!/usr/bin/env python3
"""Hostile and heavy clients against a running `pactwatch serve` (make bench-api, bench/api_load.sh).

    api_hostile.py starve PORT PID TOKEN KPI_PATH [--idle N] [--slow N] [--probes N]
        Opens N idle connections (they send nothing) and N slow-header ones (one header byte per
        second), re-opening any the server drops so that all are open at once, then asks /livez and
        KPI_PATH (with TOKEN) PROBES times each, one new connection per request. Prints the latency
        percentiles of both, the failures, and the memory of serve (PID) before, during and after.
    api_hostile.py bodies PORT PID TOKEN POST_PATH LIMIT
        Oversized bodies: a chunked body without a token, a chunked body with TOKEN, and a declared
        Content-Length of 300 MB with TOKEN. Prints the status each got, how many body bytes the
        client could send before the answer, and how much the memory of serve grew.
    api_hostile.py cost PORT TOKEN_A TOKEN_B HEAVY_PATH KPI_PATH_B [--heavy N]
        Token B's KPI latency alone, then while token A sends N heavy requests at once (each on its
        own connection). Prints B's percentiles in both, and what A's requests got.

Loopback only; every wait is bounded.
"""
import argparse
import asyncio
import sys
import time

HOST = "127.0.0.1"


def rss(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0]) // 1024
    except OSError:
        pass
    return out


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fmt_ms(v):
    return f"{v * 1000:.1f} ms"


async def request(port, path, token=None, timeout=5.0, method="GET", body=b"", extra=""):
    """One request on a new connection: (status, seconds) or (None, seconds) on failure."""
    start = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head += extra + "\r\n"
        writer.write(head.encode() + body)
        data = await asyncio.wait_for(reader.read(), timeout - (time.monotonic() - start))
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
        return status, time.monotonic() - start
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        return None, time.monotonic() - start
    finally:
        if writer:
            writer.close()


class Holders:
    """Keeps `n` connections open, each running `behaviour`, re-opening any that end."""

    def __init__(self, port, n, behaviour):
        self.port, self.n, self.behaviour = port, n, behaviour
        self.open = 0
        self.dropped = 0
        self.tasks = []

    async def one(self):
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            self.open += 1
            try:
                await self.behaviour(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                self.dropped += 1  # the server closed or answered it (not our own cancellation)
            finally:
                self.open -= 1
                writer.close()

    def start(self):
        self.tasks = [asyncio.ensure_future(self.one()) for _ in range(self.n)]

    async def until_open(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.open < self.n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.open

    def stop(self):
        for t in self.tasks:
            t.cancel()


async def idle(reader, writer):
    await reader.read(1)  # returns when the server closes
    raise OSError("closed")


async def slow_header(reader, writer):
    line = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000 + b"\r\n\r\n"
    for b in line:
        writer.write(bytes([b]))
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(1), 1.0)
            raise OSError("answered or closed")
        except asyncio.TimeoutError:
            pass


async def probe(port, path, token, count, budget=60.0):
    """`count` requests one after the other (fewer if they take over `budget` seconds in all)."""
    lat, fails = [], 0
    start = time.monotonic()
    for _ in range(count):
        if time.monotonic() - start > budget:
            break
        status, secs = await request(port, path, token)
        if status != 200:
            fails += 1
        lat.append(secs)
    return lat, fails


async def starve(a):
    before = rss(a.pid)
    idle_h = Holders(a.port, a.idle, idle)
    slow_h = Holders(a.port, a.slow, slow_header)
    idle_h.start()
    slow_h.start()
    opened = (await idle_h.until_open(), await slow_h.until_open())
    await asyncio.sleep(1.0)
    during_start = rss(a.pid)
    livez, livez_fail = await probe(a.port, "/livez", None, a.probes)
    kpis, kpis_fail = await probe(a.port, a.kpi_path, a.token, a.probes)
    during = rss(a.pid)
    still = (idle_h.open, slow_h.open)
    idle_h.stop()
    slow_h.stop()
    await asyncio.sleep(0.5)
    print(f"  held open: {opened[0]} idle + {opened[1]} slow-header connections (open at the end: {still[0]} + {still[1]}; "
          f"re-opened after the server dropped them: {idle_h.dropped} idle, {slow_h.dropped} slow)")
    for name, lat, fails in (("/livez", livez, livez_fail), ("KPI", kpis, kpis_fail)):
        print(f"  {name:6s} {len(lat)} requests: p50 {fmt_ms(pct(lat, 50))}, p99 {fmt_ms(pct(lat, 99))}, "
              f"max {fmt_ms(max(lat))}, failed or timed out (5 s) {fails}")
    print(f"  memory of serve: RSS {before.get('VmRSS')} MB before, {during_start.get('VmRSS')} MB with the connections open, "
          f"{during.get('VmRSS')} MB after the probes; peak {during.get('VmHWM')} MB")


async def chunked(port, path, token, limit_bytes=300 * 1024 * 1024):
    """Sends a chunked body until the server answers or closes: (status, body bytes sent)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    writer.write((head + "\r\n").encode())
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    sent = 0
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        while sent < limit_bytes and not answer.done():
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5.0)
            except asyncio.TimeoutError:
                break
            sent += 0x10000
        data = await asyncio.wait_for(answer, 5.0)
    except (OSError, asyncio.TimeoutError):
        data = answer.result() if answer.done() and not answer.cancelled() and not answer.exception() else b""
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    return status, sent


async def declared(port, path, token, length=300 * 1024 * 1024):
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n")
    writer.write(head.encode())
    sent = 0
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        while sent < length and not answer.done():
            writer.write(b" " * 0x10000)
            await asyncio.wait_for(writer.drain(), 5.0)
            sent += 0x10000
        data = await asyncio.wait_for(answer, 5.0)
    except (OSError, asyncio.TimeoutError):
        data = answer.result() if answer.done() and not answer.cancelled() and not answer.exception() else b""
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    return status, sent


async def bodies(a):
    for label, coro in (("chunked, no token", chunked(a.port, a.path, None)),
                        ("chunked, with a token", chunked(a.port, a.path, a.token)),
                        ("Content-Length: 300 MB, with a token", declared(a.port, a.path, a.token))):
        before = rss(a.pid)
        status, sent = await coro
        after = rss(a.pid)
        print(f"  {label:38s}: status {status}, client sent {sent / 1048576:.1f} MB of body before the answer "
              f"(limit {a.limit // 1024} KiB), RSS of serve {before.get('VmRSS')} -> {after.get('VmRSS')} MB")


async def cost(a):
    # B stays within its own burst (60): 10 requests alone, at most 40 during the flood.
    alone, fails_alone = await probe(a.port, a.kpi_path, a.token_b, 10)
    results = []

    async def heavy():
        results.append(await request(a.port, a.heavy_path, a.token_a, timeout=120.0))

    start = time.monotonic()
    flood = [asyncio.ensure_future(heavy()) for _ in range(a.heavy)]
    during, fails = [], 0
    while not all(t.done() for t in flood) or len(during) < 10:
        status, secs = await request(a.port, a.kpi_path, a.token_b, timeout=30.0)
        during.append(secs)
        fails += status != 200
        if len(during) >= 40:
            break
    await asyncio.gather(*flood)
    took = time.monotonic() - start
    codes = {}
    for status, _ in results:
        codes[status] = codes.get(status, 0) + 1
    heavy_lat = [s for st, s in results if st == 200]
    print(f"  token B alone: {len(alone)} KPI requests, p50 {fmt_ms(pct(alone, 50))}, max {fmt_ms(max(alone))}, failed {fails_alone}")
    print(f"  token A: {a.heavy} x {a.heavy_path.split('/')[-1]} at once: statuses {codes}, took {took:.2f} s"
          + (f", each 200 in p50 {fmt_ms(pct(heavy_lat, 50))} / max {fmt_ms(max(heavy_lat))}" if heavy_lat else ""))
    print(f"  token B meanwhile: {len(during)} KPI requests, p50 {fmt_ms(pct(during, 50))}, p99 {fmt_ms(pct(during, 99))}, "
          f"max {fmt_ms(max(during))}, failed {fails}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("starve")
    s.add_argument("port", type=int)
    s.add_argument("pid", type=int)
    s.add_argument("token")
    s.add_argument("kpi_path")
    s.add_argument("--idle", type=int, default=1000)
    s.add_argument("--slow", type=int, default=200)
    s.add_argument("--probes", type=int, default=200)
    b = sub.add_parser("bodies")
    b.add_argument("port", type=int)
    b.add_argument("pid", type=int)
    b.add_argument("token")
    b.add_argument("path")
    b.add_argument("limit", type=int)
    c = sub.add_parser("cost")
    c.add_argument("port", type=int)
    c.add_argument("token_a")
    c.add_argument("token_b")
    c.add_argument("heavy_path")
    c.add_argument("kpi_path")
    c.add_argument("--heavy", type=int, default=60)
    a = p.parse_args()
    asyncio.run({"starve": starve, "bodies": bodies, "cost": cost}[a.cmd](a))


if __name__ == "__main__":
    sys.exit(main())
