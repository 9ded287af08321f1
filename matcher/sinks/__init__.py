"""Outputs of the matcher: history rows (MySQL) and Kafka messages, each made by a
follower process of the committed operation log (``tail.py``; supervised from the
matcher by ``follower.py``), which replays it and writes the events after its position
idempotently (deterministic ids / ``seq`` header). See docs/durability.md.
"""
