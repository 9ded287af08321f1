"""Configuration sync: Asset/Market rows (the configuration of record, edited in the admin)
→ ``asset.put`` / ``market.put`` commands, and the optional ``FEE_ACCOUNT_USER_ID`` setting →
``config.fee_account``. The commands go through the normal logged path
(``MatcherService.call``), so a replay rebuilds the same configuration; only differences
are sent, so an unchanged configuration logs nothing. Runs at start and every
``MATCHER_CONFIG_SYNC_INTERVAL`` seconds.

What the matcher knows (its assets and markets, which it never forgets) and what it
refused go to ``apps.markets.models.MatcherConfigStatus`` (written when they change): the
admin validates against it and shows the refusals. A refusal is logged (ERROR) once when
it first appears, not on every sync.
"""
from __future__ import annotations

import asyncio
import logging

from apps.wire.numbers import plain

logger = logging.getLogger("matcher.config")


def read_config():
    """Blocking ORM read (run in a thread): (assets, markets) in config (id) order."""
    from django.db import connections

    from apps.markets.models import Asset, Market

    try:
        assets = [(a.name, a.prec_save, a.prec_show) for a in Asset.objects.order_by("id")]
        markets = [
            (m.name, m.stock.name, m.money.name, m.stock_prec, m.money_prec, m.fee_prec, m.min_amount, m.listed)
            for m in Market.objects.select_related("stock", "money").order_by("id")
        ]
        return assets, markets
    finally:
        connections.close_all()


def commands_for(engine, assets, markets, fee_account: int | None) -> list[tuple[str, list]]:
    """The commands that bring the engine's configuration to the given one."""
    cmds = []
    for name, prec_save, prec_show in assets:
        cur = engine.assets.get(name)
        if cur is None or cur.prec_show != prec_show or cur.prec_save != prec_save:
            cmds.append(("asset.put", [name, prec_save, prec_show]))
    for name, stock, money, sp, mp, fp, min_amount, listed in markets:
        cur = engine.markets.get(name)
        if (cur is None or cur.min_amount != min_amount or cur.listed != listed
                or (cur.stock, cur.money, cur.stock_prec, cur.money_prec, cur.fee_prec) != (stock, money, sp, mp, fp)):
            cmds.append(("market.put", [name, stock, money, sp, mp, fp, plain(min_amount), bool(listed)]))
    if fee_account is not None and engine.fee_account != fee_account:
        cmds.append(("config.fee_account", [fee_account]))
    return cmds


def known_config(engine) -> tuple[dict, dict]:
    """(assets, markets) the engine knows, in the shape of MatcherConfigStatus."""
    assets = {name: [a.prec_save, a.prec_show] for name, a in engine.assets.items()}
    markets = {name: [m.stock, m.money, m.stock_prec, m.money_prec, m.fee_prec] for name, m in engine.markets.items()}
    return assets, markets


def write_status(assets: dict, markets: dict, refusals: list) -> None:
    """Blocking ORM write (run in a thread) of MatcherConfigStatus."""
    from django.db import connections

    from apps.markets.models import MatcherConfigStatus

    try:
        MatcherConfigStatus.objects.update_or_create(
            pk=1, defaults={"assets": assets, "markets": markets, "refusals": refusals})
    finally:
        connections.close_all()


async def sync_config(service) -> list:
    from django.conf import settings

    assets, markets = await asyncio.to_thread(read_config)
    fee_account = settings.FEE_ACCOUNT_USER_ID
    done, refusals = [], []
    logged = getattr(service, "config_refusals_logged", set())
    for method, params in commands_for(service.engine, assets, markets, fee_account):
        reply = await service.call(method, params)
        if reply["error"] is not None:
            refusals.append({"method": method, "params": params, "error": reply["error"]})
            key = repr((method, params, reply["error"]))
            if key not in logged:
                logger.error("configuration sync: %s %s refused: %s (logged once; shown in the admin)",
                             method, params, reply["error"])
        else:
            logger.info("configuration sync: %s %s", method, params)
            done.append((method, params))
    service.config_refusals_logged = {repr((r["method"], r["params"], r["error"])) for r in refusals}
    status = (*known_config(service.engine), refusals)
    if status != getattr(service, "config_status_written", None):
        try:
            await asyncio.to_thread(write_status, *status)
            service.config_status_written = status
        except Exception:  # noqa: BLE001 - retried on the next sync
            logger.warning("configuration sync: could not write the status", exc_info=True)
    return done
