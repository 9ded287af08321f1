"""The matcher: its RPC address and client, operation log, snapshots, history follower,
back-pressure, Kafka publisher, configuration sync (docs/durability.md)."""
from .base import env

# The matcher's RPC address: loopback by default; any other address needs the shared secret
# (each connection answers an HMAC challenge first; docs/operations.md).
MATCHER_RPC_HOST = env.str("MATCHER_RPC_HOST", default="127.0.0.1")  # matcher listens / clients connect here
MATCHER_RPC_PORT = env.int("MATCHER_RPC_PORT", default=7316)  # matcher RPC port
MATCHER_RPC_SECRET = env.str("MATCHER_RPC_SECRET", default="")  # shared secret of matcher and clients; empty: none
# Seconds the access layer waits for a matcher reply (the original accesshttp: 1.0 s);
# on expiry the caller gets code 5 "service timeout" (the command may still apply).
MATCHER_RPC_TIMEOUT = env.float("MATCHER_RPC_TIMEOUT", default=1.0)
MATCHER_RPC_POOL_SIZE = env.int("MATCHER_RPC_POOL_SIZE", default=2)  # client connections per event loop

SNAPSHOT_INTERVAL = env.float("SNAPSHOT_INTERVAL", default=3600.0)  # s between snapshots; 0 = only on demand
# the snapshot follower also snapshots once its engine is this many operations past the last
# snapshot (bounds the replay at a restart); 0 = by time (SNAPSHOT_INTERVAL) and on demand only
SNAPSHOT_EVERY_OPERATIONS = env.int("SNAPSHOT_EVERY_OPERATIONS", default=500_000)
SNAPSHOT_KEEP = env.int("SNAPSHOT_KEEP", default=3)  # snapshots retained; the log is pruned behind the oldest
MATCHER_KAFKA = env.bool("MATCHER_KAFKA", default=True)  # publish deals/orders/balances to KAFKA_BOOTSTRAP
MATCHER_KAFKA_TOPIC_PREFIX = env.str("MATCHER_KAFKA_TOPIC_PREFIX", default="")  # tests: isolated topics
MATCHER_HISTORY = env.bool("MATCHER_HISTORY", default=True)  # write balance/order/deal history rows
MATCHER_HISTORY_BATCH = env.int("MATCHER_HISTORY_BATCH", default=1_000)  # operations per history transaction at most

# back-pressure: mutating commands get code 3 while a backlog is at or over its limit
MATCHER_LOG_BACKLOG_LIMIT = env.int("MATCHER_LOG_BACKLOG_LIMIT", default=50_000)  # uncommitted log entries
MATCHER_HISTORY_LAG_LIMIT = env.int("MATCHER_HISTORY_LAG_LIMIT", default=5_000)  # committed operations without history rows yet
# s since the oldest acknowledged operation without history rows yet was acknowledged (0 = off);
# keeps history queryable within 1 s of the acknowledgement (spec README §6)
MATCHER_HISTORY_LAG_LIMIT_S = env.float("MATCHER_HISTORY_LAG_LIMIT_S", default=0.3)
MATCHER_KAFKA_BACKLOG_LIMIT = env.int("MATCHER_KAFKA_BACKLOG_LIMIT", default=100_000)  # committed operations not delivered yet

MATCHER_CONFIG_SYNC_INTERVAL = env.float("MATCHER_CONFIG_SYNC_INTERVAL", default=5.0)  # s; Asset/Market → matcher
FEE_ACCOUNT_USER_ID = env.int("FEE_ACCOUNT_USER_ID", default=None)  # fees credited to this user (unset/0 = none)
