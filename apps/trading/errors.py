"""Merge shim (s9-realtime merging s8-marketdata, which predates apps.wire): apps.marketdata
still imports RpcError from here. Drop once apps.marketdata imports apps.wire.errors."""
from apps.wire.errors import *  # noqa: F401,F403
from apps.wire.errors import RpcError  # noqa: F401
