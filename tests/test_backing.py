"""Round trips to the real services every test run depends on."""
import json
import logging
import uuid

import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.django_db
def test_mysql_round_trip_through_mysqlclient():
    import MySQLdb

    assert connection.vendor == "mysql"
    assert isinstance(connection.connection, MySQLdb.connections.Connection)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE rt (v VARCHAR(10)) DEFAULT CHARSET=utf8mb4")
        cursor.execute("INSERT INTO rt VALUES (%s)", ["₿🚀"])
        cursor.execute("SELECT v FROM rt")
        assert cursor.fetchone() == ("₿🚀",)  # 4-byte UTF-8 survives: utf8mb4
        cursor.execute("SELECT @@session.time_zone")
        assert cursor.fetchone() == ("+00:00",)


@pytest.mark.django_db
def test_django_models_live_in_mysql():
    from apps.markets.services import asset_create
    from apps.markets.models import Asset

    asset_create(name="RTT", prec_save=8, prec_show=8)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prec_save FROM markets_asset WHERE name = 'RTT'")
        assert cursor.fetchone() == ("RTT", 8)
    assert Asset.objects.get(name="RTT").prec_show == 8


def test_redis_round_trip(redis_client):
    key = redis_client.test_prefix + "k"
    redis_client.set(key, "v", ex=60)
    assert redis_client.get(key) == b"v"
    redis_client.rpush(key + ":list", "a", "b")
    assert redis_client.lrange(key + ":list", 0, -1) == [b"a", b"b"]


def test_kafka_round_trip(kafka_broker):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"rt-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(10)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered = []
    for i in range(10):
        producer.produce(topic, key=b"k", value=json.dumps({"n": i}).encode(), headers={"seq": str(i).encode()},
                         on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(10) == 0
    assert delivered == [None] * 10
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": topic, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    received = []
    for _ in range(100):
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            received.append((json.loads(message.value())["n"], dict(message.headers())["seq"]))
        if len(received) == 10:
            break
    consumer.close()
    assert received == [(i, str(i).encode()) for i in range(10)]


def test_settings_basics():
    assert settings.TIME_ZONE == "UTC"
    assert settings.DATABASES["default"]["OPTIONS"]["charset"] == "utf8mb4"


def test_log_records_are_one_json_line(capsys):
    from exchange_site.logging import one_line_formatter

    handler = logging.StreamHandler()
    handler.setFormatter(one_line_formatter("json"))
    logger = logging.getLogger("tests.oneline")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            logger.error("failed %s", "here", exc_info=True)
    finally:
        logger.removeHandler(handler)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "failed here" and record["level"] == "error"
    assert "ValueError: boom" in record["exception"]
