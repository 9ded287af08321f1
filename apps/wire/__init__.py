"""The ViaBTC wire's shared primitives, one module each, imported by every layer that
speaks it (JSON-RPC, REST, history, the matcher's RPC server and sinks). Plain Python: no
Django, no models.

- ``errors``: the error codes, ``RpcError`` and the error object ``{"code", "message"[, "data"]}``;
- ``numbers``: the decimal text of the wire (``plain``), the integer limits, the
  client_order_id pattern.
"""
