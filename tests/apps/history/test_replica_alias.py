"""HISTORY_DATABASE_URL: history reads go to the `history` alias (a replica), writes never."""
import copy
import uuid
import warnings

import pytest
from django.db import connections
from django.test import override_settings

from apps.history import selectors
from apps.history.models import BalanceHistory, OrderHistory
from apps.markets.models import Market


@pytest.fixture
def replica(django_db_setup, django_db_blocker):
    """A second MySQL database standing in for a replica, with its own balance_history.
    (Outside pytest-django's test case, which only allows the aliases known at start.)"""
    django_db_blocker.unblock()
    default = connections["default"]
    name = f"replica_{uuid.uuid4().hex[:10]}"
    table = BalanceHistory._meta.db_table
    with default.cursor() as c:
        c.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        c.execute(f"CREATE TABLE `{name}`.`{table}` LIKE `{default.settings_dict['NAME']}`.`{table}`")
    cfg = copy.deepcopy(default.settings_dict)
    cfg["NAME"] = name
    connections.settings["history"] = cfg
    try:
        with warnings.catch_warnings():  # "Overriding setting DATABASES": the router reads it
            warnings.simplefilter("ignore", UserWarning)
            with override_settings(DATABASES={"default": default.settings_dict, "history": cfg}):
                yield name
    finally:
        if "history" in connections:
            connections["history"].close()
            del connections["history"]
        del connections.settings["history"]
        with default.cursor() as c:
            c.execute(f"DROP DATABASE `{name}`")
            c.execute(f"DELETE FROM `{table}` WHERE user_id = 5")
        django_db_blocker.restore()


def test_history_reads_use_the_replica_and_writes_the_primary(replica):
    BalanceHistory.objects.create(id=1, time=1000.0, user_id=5, asset="BTC", business="deposit",
                                  change=1, balance=1, detail="{}")
    with connections["default"].cursor() as c:
        c.execute(f"INSERT INTO `{replica}`.balance_history (id, time, user_id, asset, business, `change`, "
                  "balance, detail) VALUES (2, 1001.0, 5, 'BTC', 'replica', 7, 7, '{}')")
    rows = selectors.balance_history_list(user_id=5)
    assert [r["business"] for r in rows] == ["replica"]
    assert BalanceHistory.objects.all().db == "history"
    assert OrderHistory.objects.all().db == "history"
    assert Market.objects.all().db == "default"  # only the history tables are routed


@pytest.mark.django_db
def test_without_the_alias_history_reads_the_main_database():
    assert "history" not in connections.settings
    assert BalanceHistory.objects.all().db == "default"
