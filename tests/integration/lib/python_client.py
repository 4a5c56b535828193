"""A third-party client for the integration tests: Debian's python3-websockets.

Usage: python_client.py HTTP_BASE AUTH_KEY_A AUTH_KEY_B NODE_B
Connects two nodes through /v1/preconnect, sends a fragmented message from A
to B, pings, closes, and prints one JSON line per observation.
"""
import asyncio
import json
import sys
import urllib.request

import websockets


def preconnect(base, key):
    request = urllib.request.Request(base + "/v1/preconnect", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


async def connect(base, key):
    pre = preconnect(base, key)
    ws = await websockets.connect(f"{pre['url']}?auth_key={key}&validation_key={pre['validation_key']}")
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return ws, welcome


def report(**fields):
    print(json.dumps(fields), flush=True)


async def main(base, key_a, key_b, node_b):
    a, welcome_a = await connect(base, key_a)
    b, welcome_b = await connect(base, key_b)
    report(step="welcome", a=welcome_a, b=welcome_b)
    # An iterable is sent as one fragmented message (RFC 6455 5.4).
    await a.send(iter(['{"dest_id":"' + node_b + '",', '"payload":{"text":"h\u00e9llo"', ',"from":"python"}}']))
    received = json.loads(await asyncio.wait_for(b.recv(), 5))
    report(step="message", received=received)
    pong = await a.ping(b"are-you-there")
    await asyncio.wait_for(pong, 5)
    report(step="pong")
    await a.close(code=1000, reason="bye")
    report(step="closed", code=a.close_code)
    await b.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
