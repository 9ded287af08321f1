"""Durability edge of the matcher: operation log (group commit), snapshots, recovery.

See docs/durability.md. Everything here does blocking database I/O and runs in its own
thread (or process), never on the event loop.
"""
