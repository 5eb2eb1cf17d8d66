"""mailops' chunked DATA reader answers and stores exactly what aiosmtpd's own does."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from mailops.smtp.protocol import ChunkedData


class Capture:
    def __init__(self) -> None:
        self.content: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.content.append(envelope.original_content)
        return "250 stored"


class Chunked(ChunkedData):
    """mailops' chunked DATA reader on aiosmtpd's plain SMTP class (no other changes)."""


async def _exchange(cls: type[SMTP], data: bytes, seed: int, limit: int) -> tuple[bytes, list]:
    handler = Capture()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: cls(handler, data_size_limit=limit, hostname="h", loop=loop), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
    rnd = random.Random(seed)
    stream = data + b"NOOP\r\nQUIT\r\n"  # pipelined commands right after the dot
    i = 0
    while i < len(stream):
        n = rnd.choice([1, 2, 3, 5, 50, 1000, 70000])
        writer.write(stream[i:i + n])
        await writer.drain()
        i += n
        if rnd.random() < 0.3:
            await asyncio.sleep(0.001)
    replies = await asyncio.wait_for(reader.read(), timeout=20)
    writer.close()
    server.close()
    await server.wait_closed()
    return replies, handler.content


CASES = [
    b".\r\n",  # empty message
    b"\r\n.\r\n",  # one empty line
    b"x\r\n.\r\n",
    b"Subject: hi\r\n\r\nbody.\r\nend.\r\n.\r\n",  # lines ending in a dot
    b"..leading dot\r\n...two\r\n.\r\n",  # dot-stuffing
    b".\r.\n..\r\n.x\r\n.\r\n",
    b"bare\nlf and bare\rcr\r\n.\r\n",
    b"a" * 999 + b"\r\n.\r\n",  # longest line allowed
    b"a" * 1000 + b"\r\n.\r\n",  # one byte too long: 500
    b"." + b"a" * 999 + b"\r\n.\r\n",  # stuffed dot counts
    (b"y" * 78 + b"\r\n") * 3000 + b".\r\n",
    (b"z" * 78 + b"\r\n") * 200 + b".\r\n",  # over the size limit below: 552
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_replies_and_content_as_aiosmtpd(data: bytes, seed: int) -> None:
    limit = 10_000 if len(data) < 100_000 and data.startswith(b"zzz") else 1_000_000

    async def both() -> tuple[Any, Any]:
        return (await _exchange(SMTP, data, seed, limit),
                await _exchange(Chunked, data, seed, limit))

    (replies_a, content_a), (replies_b, content_b) = asyncio.run(both())
    assert replies_b == replies_a
    assert content_b == content_a


def test_random_streams_match_aiosmtpd() -> None:
    rnd = random.Random(7)
    atoms = [b"a", b"bc", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"..", b"x" * 600]

    async def run() -> None:
        for case in range(150):
            data = b"".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 40))) + b"\r\n.\r\n"
            outcomes = []
            for cls in (SMTP, Chunked):
                try:
                    outcomes.append(await _exchange(cls, data, case, 3000))
                except ConnectionError as exc:  # some junk makes aiosmtpd hang up
                    outcomes.append(type(exc))
            assert outcomes[1] == outcomes[0], data

    asyncio.run(run())
