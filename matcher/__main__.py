"""``python -m matcher`` — the matcher process (docs/durability.md).

    python -m matcher            recover, sync the configuration, serve RPC (MATCHER_RPC_HOST/PORT)
    python -m matcher snapshot   make a snapshot from the committed operation log (offline:
                                 needs only the database; safe beside a running matcher)

Configuration comes from the environment through the exchange_site.settings package.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

logger = logging.getLogger("matcher")


async def run() -> int:
    from django.conf import settings

    from matcher.config_sync import sync_config
    from matcher.frames import is_loopback
    from matcher.log.recovery import RecoveryError
    from matcher.server import serve
    from matcher.service import MatcherService

    if not settings.MATCHER_RPC_SECRET and not is_loopback(settings.MATCHER_RPC_HOST):
        logger.critical("matcher not starting: MATCHER_RPC_HOST %r is not a loopback address and "
                        "MATCHER_RPC_SECRET is not set (docs/operations.md)", settings.MATCHER_RPC_HOST)
        return 1
    service = MatcherService.from_settings(config_sync=sync_config)
    try:
        await service.start()
    except RecoveryError as e:
        logger.critical("matcher recovery failed, not starting: %s", e)
        await service.stop()
        return 1
    # The recovered books are long-lived: keep them out of the cyclic GC's scans, and
    # collect the young generation less often (full collections of millions of orders
    # and queued events stall the event loop for 100+ ms). No full collection first: it
    # would walk the whole recovered book (≈ 1 s per million orders) to find the little
    # cyclic garbage a replay leaves (replay collects the young generations per page).
    gc.freeze()
    gc.set_threshold(50_000, 20, 1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = asyncio.create_task(serve(service, settings.MATCHER_RPC_HOST, settings.MATCHER_RPC_PORT,
                                       secret=settings.MATCHER_RPC_SECRET))
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
    rc = 0
    if server in done and server.exception() is not None:
        logger.critical("matcher rpc server failed: %s", server.exception())
        rc = 1
    server.cancel()
    waiter.cancel()
    await asyncio.gather(server, waiter, return_exceptions=True)
    await service.stop()
    logger.info("matcher stopped")
    return rc


def offline_snapshot() -> int:
    from django.conf import settings

    from matcher.log.db import Db, read_progress
    from matcher.log.snapshot_child import make_snapshot
    from matcher.log.oplog import last_log_id

    db = Db()
    upto = last_log_id(db)
    positions = read_progress(db)
    sink = min(positions.values()) if positions else None
    _, meta = make_snapshot(db, None, upto, settings.SNAPSHOT_KEEP, sink)
    print(meta)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matcher")
    parser.add_argument("command", nargs="?", default="serve", choices=("serve", "snapshot"))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")
    import django

    django.setup()
    if args.command == "snapshot":
        return offline_snapshot()
    import uvloop  # the loop's own overhead per request ≈ 25 % less (docs/benchmarks.md "Commit path …")

    return uvloop.run(run())


if __name__ == "__main__":
    sys.exit(main())
