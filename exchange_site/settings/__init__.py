"""Settings of every process (web, matcher, workers), one module per concern.

All configuration comes from environment variables, read with django-environ; each is
documented once, in README "Environment" or the "Settings" sections of docs/api.md and
docs/durability.md (tests/test_settings.py checks this). Defaults are safe for a local
checkout. Code reads ``django.conf.settings.X``: every default lives here, not at the call.

    base       Django core: environment, secrets, hosts, apps, middleware, templates, static, i18n
    databases  DATABASES, the history router, per-engine tuning
    stores     Redis, caches, Kafka, Celery
    matcher    the matcher's RPC address and client, operation log, snapshots, history
               follower, back-pressure, Kafka publisher, configuration sync
    access     JSON-RPC at POST / (trust, batches, timeouts), REST v1 / DRF, API keys,
               throttles, fees, OpenAPI (drf-spectacular)
    logging    one line per record, for every process
    marketdata the deals consumer's Redis store, kline retention, Celery beat schedule
    alerts     CRITICAL records → Redis → alert worker → Alert rows + mail (apps.alerts)
    realtime   the ViaBTC websocket protocol: channel layer, bridge, limits (apps.realtime)

Later concerns (market data, realtime/websockets, alerts: steps 8-10) add their own module
here and one import line below; a module may import what it needs from the ones above it.
"""
from .base import *  # noqa: F401,F403
from .databases import *  # noqa: F401,F403
from .stores import *  # noqa: F401,F403
from .matcher import *  # noqa: F401,F403
from .access import *  # noqa: F401,F403
from .logging import *  # noqa: F401,F403
from .marketdata import *  # noqa: F401,F403
from .alerts import *  # noqa: F401,F403
from .realtime import *  # noqa: F401,F403
