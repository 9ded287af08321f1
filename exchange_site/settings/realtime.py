"""The ViaBTC websocket protocol at /ws (apps.realtime; docs/realtime.md): the channel
layer, the bridge process and the protocol's limits."""
from .base import env
from .stores import REDIS_URL

# Django Channels over Redis (notes/stack.md): redis-py 8's 5 s socket timeout kills idle
# receives (socket_timeout None); capacity per channel sized for depth/deal bursts (beyond
# it channels-redis drops the oldest: depth pushes carry a sequence number and a gap
# resyncs the client); messages older than `expiry` s are dropped.
REALTIME_CHANNEL_URL = env.str("REALTIME_CHANNEL_URL", default=REDIS_URL)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8's asyncio pool allows 100 connections and then raises (it does not
            # wait): thousands of connections subscribing at once need more
            "hosts": [{"address": REALTIME_CHANNEL_URL, "socket_timeout": None,
                       "max_connections": env.int("REALTIME_CHANNEL_MAX_CONNECTIONS", default=1000)}],
            "capacity": env.int("REALTIME_CHANNEL_CAPACITY", default=1000),
            "expiry": env.int("REALTIME_CHANNEL_EXPIRY", default=30),
            "prefix": "rtasgi",
        },
    }
}
REALTIME_REDIS_URL = env.str("REALTIME_REDIS_URL", default=REDIS_URL)  # subscription registry, push cache
REALTIME_KEY_PREFIX = env.str("REALTIME_KEY_PREFIX", default="rt:")
REALTIME_AUTH_URL = env.str("REALTIME_AUTH_URL", default="")  # server.auth: external check; empty = own sessions
REALTIME_BACKEND_TIMEOUT = env.float("REALTIME_BACKEND_TIMEOUT", default=1.0)  # s: matcher, auth URL → code 5
REALTIME_KEEP_ALIVE = env.float("REALTIME_KEEP_ALIVE", default=3600.0)  # s without a client frame, then closed
REALTIME_IDLE_CHECK_INTERVAL = env.float("REALTIME_IDLE_CHECK_INTERVAL", default=60.0)  # s between idle checks
REALTIME_MAX_MESSAGE = env.int("REALTIME_MAX_MESSAGE", default=102_400)  # bytes per client frame (max_pkg_size)
REALTIME_CLIENT_QUEUE = env.int("REALTIME_CLIENT_QUEUE", default=1000)  # frames waiting per client, then dropped
REALTIME_SEND_TIMEOUT = env.float("REALTIME_SEND_TIMEOUT", default=10.0)  # s a push may wait on a slow client
REALTIME_POLL_INTERVAL = env.float("REALTIME_POLL_INTERVAL", default=0.5)  # s: bridge market-data polls
REALTIME_DEPTH_CLEAN_INTERVAL = env.float("REALTIME_DEPTH_CLEAN_INTERVAL", default=60.0)  # s between full books
REALTIME_KEY_TTL = env.int("REALTIME_KEY_TTL", default=60)  # s a registered subscription lives unrefreshed
REALTIME_DEPTH_LIMITS = env.list("REALTIME_DEPTH_LIMITS", cast=int, default=[1, 5, 10, 20, 30, 50, 100])
REALTIME_DEPTH_MERGE = env.list("REALTIME_DEPTH_MERGE", default=[
    "0", "0.00000001", "0.0000001", "0.000001", "0.00001", "0.0001", "0.001", "0.01", "0.1"])
REALTIME_BRIDGE_GROUP = env.str("REALTIME_BRIDGE_GROUP", default="realtime-bridge")  # Kafka group of committed offsets
