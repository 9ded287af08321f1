"""Outputs of the matcher: the history writer (MySQL rows) and the Kafka publisher.

Both receive the events of commands whose operation-log entry is committed, in event
order, and write them idempotently (deterministic ids / `seq` header). See
docs/durability.md.
"""
