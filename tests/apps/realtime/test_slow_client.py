"""A client that does not take its frames is dropped (and the log says so) instead of
letting its queue grow: in process (Channels' communicator), real Redis and channel layer."""
import logging
import uuid

from channels.testing import WebsocketCommunicator

from apps.realtime.consumer import ViaBtcConsumer
from apps.realtime.hub import get_hub


async def test_a_client_whose_queue_overflows_is_dropped(settings, caplog):
    settings.REALTIME_CLIENT_QUEUE = 3
    settings.REALTIME_KEY_PREFIX = f"test:{uuid.uuid4().hex}:rt:"
    ws = WebsocketCommunicator(ViaBtcConsumer.as_asgi(), "/ws")
    assert (await ws.connect())[0]
    await ws.send_json_to({"method": "price.subscribe", "params": ["BTCUSDT"], "id": 1})
    assert await ws.receive_json_from(timeout=10) == {"error": None, "result": {"status": "success"}, "id": 1}
    (consumer,) = get_hub().members["price.BTCUSDT"]
    with caplog.at_level(logging.WARNING, logger="apps.realtime"):
        for i in range(10):  # faster than any writer: nothing yields in between
            consumer.enqueue({"type": "rt.push", "group": "price.BTCUSDT",
                              "text": f'{{"method":"price.update","params":["BTCUSDT","{i}"],"id":null}}'})
        frames = []
        while True:
            out = await ws.receive_output(timeout=10)
            if out["type"] == "websocket.close":
                break
            frames.append(out["text"])
    assert out["code"] == 1008
    assert len(frames) <= 3  # what was queued before the limit, at most
    assert "price.BTCUSDT" not in get_hub().members  # its subscriptions are gone
    assert any("slow client dropped" in r.getMessage() for r in caplog.records)
    await ws.disconnect()
