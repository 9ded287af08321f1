"""The producer side of the Kafka follower in isolation: CPU per message of the producing
process and of a private Tansu broker, for messages produced in bursts (one burst per read
of the operation log, as ``matcher/sinks/kafka_child.py`` does) at a fixed rate.

    flock /tmp/bench.lock .venv/bin/python bench/bench_kafka_bursts.py [--rate 7500]
        [--messages 60000] [--intervals 0.02,0.05] [--linger 2]

Per interval: the same idempotent producer settings as ``KafkaPublisher`` (``acks=all``,
``linger.ms``, statistics every second), a ``seq`` header and a delivery callback per
message, the delivery reports served once per interval. Printed: µs CPU per message of
this process (all its threads: Python + librdkafka) and of the broker, and the time from
produce to its delivery report being served (p50/p99: ≈ the interval).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICK = os.sysconf("SC_CLK_TCK")
VALUE = (b'{"event":2,"order":{"id":123456,"market":"BTCUSDT","source":"","type":1,"side":2,"user":17,'
         b'"price":"9000.5","amount":"0.25","left":"0.1"},"stock":"BTC","money":"USDT"}')


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(bootstrap: str, broker_pid: int, *, interval: float, rate: int, messages: int, linger: int) -> None:
    from confluent_kafka import Producer

    lat: list[float] = []

    def delivered(t, err, msg):
        lat.append(time.monotonic() - t)

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": linger,
                  "message.timeout.ms": 0, "statistics.interval.ms": 1000, "stats_cb": lambda s: None})
    topics = ("deals", "orders", "balances")
    for t in topics:
        p.produce(t, b"x", b"k")
    p.flush(10)
    r0, b0 = resource.getrusage(resource.RUSAGE_SELF), cpu_s(broker_pid)
    i = 0
    while i < messages:
        t_next = time.monotonic() + interval
        for _ in range(int(rate * interval)):
            i += 1
            p.produce(topics[i % 3], VALUE, "BTCUSDT", headers=[("seq", b"%d" % i)],
                      on_delivery=partial(delivered, time.monotonic()))
        rest = t_next - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        p.poll(0)
    p.flush(30)
    r1, b1 = resource.getrusage(resource.RUSAGE_SELF), cpu_s(broker_pid)
    own = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    lat.sort()
    print(f"interval {interval * 1e3:5.0f} ms linger {linger} ms: producer {own / i * 1e6:5.1f} µs/msg, broker "
          f"{(b1 - b0) / i * 1e6:5.1f} µs/msg; produce → report p50 {lat[len(lat) // 2] * 1e3:.1f} ms, "
          f"p99 {lat[int(len(lat) * 0.99)] * 1e3:.1f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=7500, help="messages/s (≈ 3 per accepted order)")
    ap.add_argument("--messages", type=int, default=60000)
    ap.add_argument("--intervals", default="0.02,0.05", help="s between bursts, comma-separated")
    ap.add_argument("--linger", type=int, default=2)
    args = ap.parse_args()
    from tests.backing import KafkaBroker

    broker = KafkaBroker().start()
    try:
        for iv in (float(x) for x in args.intervals.split(",")):
            run(broker.bootstrap, broker.proc.pid, interval=iv, rate=args.rate, messages=args.messages,
                linger=args.linger)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
