"""The ViaBTC order vocabulary: side and type codes of the wire and their names (the names
REST v1 and the console show)."""

SIDES = {"sell": 1, "buy": 2}
SIDE_NAMES = {v: k for k, v in SIDES.items()}
TYPES = {"limit": 1, "market": 2}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
