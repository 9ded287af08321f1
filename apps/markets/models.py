"""Assets and markets: the exchange's configuration of record.

Validation is the matcher's own: `full_clean()` runs the matcher core's `asset.put` /
`market.put` rules (matcher.core.config.asset_check / market_check, one function) against
the configuration the matcher knows (MatcherConfigStatus, written by configuration sync)
and the rows stored here, so the admin form and `services.py` refuse exactly what the
matcher would refuse, with its reason. Precisions and the stock/money pair are fixed once
a row exists or the matcher knows the name (it keeps balances and resting orders at those
precisions); `min_amount`, `listed` and an asset's `prec_show` may change live. What the
matcher knows cannot be deleted: delist a market (`listed` off) instead.
"""
from decimal import Decimal, localcontext
from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import ProtectedError
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.wire.numbers import plain
from matcher.core.config import asset_check, market_check
from matcher.core.numbers import CTX, ParamError

MAX_PREC = 20

name_validator = RegexValidator(r"\A[A-Z0-9]{1,15}\Z", "Use 1–15 characters A–Z and 0–9.")


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _fixed_fields_unchanged(instance, fields):
    """Errors for fields that differ from the stored row (fixed once created)."""
    if instance.pk is None:
        return {}
    stored = type(instance).objects.filter(pk=instance.pk).values(*fields).first()
    if stored is None:
        return {}
    return {
        field: "Fixed once created."
        for field in fields
        if stored[field] != getattr(instance, field)
    }


class MatcherConfigStatus(models.Model):
    """What the matcher's configuration sync last saw (one row, id 1): the assets and markets
    the matcher knows (it never forgets one) and the configuration commands it refused.
    Written by matcher.config_sync; read by validation and shown in the admin."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    assets = models.JSONField(default=dict, help_text="name → [prec_save, prec_show]")
    markets = models.JSONField(default=dict, help_text="name → [stock, money, stock_prec, money_prec, fee_prec]")
    refusals = models.JSONField(default=list, help_text='[{"method", "params", "error"}] of the last sync')
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "matcher configuration status"
        verbose_name_plural = "matcher configuration status"

    def __str__(self):
        return f"matcher configuration ({len(self.refusals)} refused)"

    @classmethod
    def current(cls) -> "MatcherConfigStatus":
        return cls.objects.filter(pk=1).first() or cls()


def _matcher_view(status: MatcherConfigStatus):
    """The configuration as the matcher's rules see it: every stored row, overridden by
    what the matcher knows (its precisions and pairs are the fixed ones)."""
    assets = {a.name: SimpleNamespace(name=a.name, prec_save=a.prec_save) for a in Asset.objects.all()}
    for name, (prec_save, _) in status.assets.items():
        assets[name] = SimpleNamespace(name=name, prec_save=prec_save)
    markets = {
        m.name: SimpleNamespace(stock=m.stock.name, money=m.money.name, stock_prec=m.stock_prec,
                                money_prec=m.money_prec, fee_prec=m.fee_prec)
        for m in Market.objects.select_related("stock", "money")
    }
    for name, (stock, money, sp, mp, fp) in status.markets.items():
        markets[name] = SimpleNamespace(stock=stock, money=money, stock_prec=sp, money_prec=mp, fee_prec=fp)
    pairs = {(m.stock, m.money): name for name, m in markets.items()}
    return SimpleNamespace(assets=assets, markets=markets, pairs=pairs)


def _matcher_rules(check, view, params, fields) -> dict:
    """Errors of the matcher core's rule ``check`` for ``params``: {field: the matcher's reason}."""
    try:
        with localcontext(CTX):
            check(view, params)
    except ParamError as e:
        field = e.param if e.param in fields else "__all__"
        return {_fixed_field(view, params, e, field): f"{e.reason} (the matcher's rule)"}
    return {}


def _fixed_field(view, params, error, field) -> str:
    """The form field to mark for the matcher's "fixed once the market exists" refusals,
    which name the first field of their group (stock / stock_prec): the one that differs."""
    m = view.markets.get(params[0]) if len(params) == 8 else None
    if m is None or "fixed once the market exists" not in error.reason:
        return field
    given = dict(zip(("stock", "money", "stock_prec", "money_prec", "fee_prec"), params[1:6]))
    fixed = {"stock": m.stock, "money": m.money, "stock_prec": m.stock_prec, "money_prec": m.money_prec,
             "fee_prec": m.fee_prec}
    group = ("stock", "money") if error.param == "stock" else ("stock_prec", "money_prec", "fee_prec")
    return next((f for f in group if given[f] != fixed[f]), field)


def _known(kind: str, name: str) -> bool:
    status = MatcherConfigStatus.objects.filter(pk=1).first()
    return status is not None and name in getattr(status, kind)


class Asset(models.Model):
    name = models.CharField(max_length=15, unique=True, validators=[name_validator])
    prec_save = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(MAX_PREC)], help_text="Decimals kept in stored balances."
    )
    prec_show = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(MAX_PREC)], help_text="Decimals shown and accepted in balance.update."
    )

    class Meta:
        ordering = ["id"]  # "config order" = creation order

    def __str__(self):
        return self.name

    def clean(self):
        errors = _fixed_fields_unchanged(self, ["name"])
        if not errors and self.name and None not in (self.prec_save, self.prec_show):
            view = _matcher_view(MatcherConfigStatus.current())
            errors = _matcher_rules(asset_check, view, [self.name, self.prec_save, self.prec_show],
                                    {"name", "prec_save", "prec_show"})
        if errors:
            raise ValidationError(errors)

    @property
    def known_to_matcher(self) -> bool:
        return _known("assets", self.name)


class Market(models.Model):
    name = models.CharField(max_length=15, unique=True, validators=[name_validator])
    stock = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="stock_markets")
    money = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="money_markets")
    stock_prec = models.PositiveSmallIntegerField(validators=[MaxValueValidator(MAX_PREC)])
    money_prec = models.PositiveSmallIntegerField(validators=[MaxValueValidator(MAX_PREC)])
    fee_prec = models.PositiveSmallIntegerField(default=4, validators=[MaxValueValidator(MAX_PREC)])
    min_amount = models.DecimalField(max_digits=40, decimal_places=MAX_PREC)
    listed = models.BooleanField(default=True, help_text="Orders are accepted only while listed.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["stock", "money"], name="market_unique_pair"),
            models.CheckConstraint(condition=~models.Q(stock=models.F("money")), name="market_stock_not_money"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = _fixed_fields_unchanged(self, ["name"])
        stock = self.stock if self.stock_id else None
        money = self.money if self.money_id else None
        if stock is None:
            errors.setdefault("stock", "Unknown asset.")
        if money is None:
            errors.setdefault("money", "Unknown asset.")
        precs = (self.stock_prec, self.money_prec, self.fee_prec, self.min_amount)
        if not errors and self.name and None not in precs:
            view = _matcher_view(MatcherConfigStatus.current())
            params = [self.name, stock.name, money.name, self.stock_prec, self.money_prec, self.fee_prec,
                      plain(self.min_amount), bool(self.listed)]
            errors = _matcher_rules(market_check, view, params, {
                "name", "stock", "money", "stock_prec", "money_prec", "fee_prec", "min_amount", "listed"})
        if errors:
            raise ValidationError(errors)

    @property
    def known_to_matcher(self) -> bool:
        return _known("markets", self.name)


@receiver(pre_delete, sender=Asset)
@receiver(pre_delete, sender=Market)
def _refuse_deleting_what_the_matcher_knows(sender, instance, **kwargs):
    if instance.known_to_matcher:
        raise ProtectedError(
            f"{instance.name} is known to the matcher and cannot be deleted"
            + (" (delist it instead: listed off)" if sender is Market else ""), {instance})
