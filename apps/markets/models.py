"""Assets and markets: the exchange's configuration of record.

Validation follows ../shared/spec/matching.md §1 and spec README §6 "Configuration
rules"; it runs in `full_clean()`, so the admin form and `services.py` enforce the same
rules. Precisions and the stock/money pair are fixed once a row exists (the matcher keeps
balances and resting orders at those precisions); `min_amount`, `listed` and an asset's
`prec_show` may change live.
"""
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models

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
        errors = _fixed_fields_unchanged(self, ["name", "prec_save"])
        if self.prec_save is not None and self.prec_show is not None and self.prec_show > self.prec_save:
            errors["prec_show"] = "Must not exceed prec_save."
        if errors:
            raise ValidationError(errors)


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
        errors = _fixed_fields_unchanged(
            self, ["name", "stock_id", "money_id", "stock_prec", "money_prec", "fee_prec"]
        )
        errors = {k.removesuffix("_id"): v for k, v in errors.items()}
        stock = self.stock if self.stock_id else None
        money = self.money if self.money_id else None
        if stock is None:
            errors.setdefault("stock", "Unknown asset.")
        if money is None:
            errors.setdefault("money", "Unknown asset.")
        if stock is not None and money is not None and stock.pk == money.pk:
            errors["money"] = "Stock and money must differ."
        if self.min_amount is not None:
            if self.min_amount <= 0:
                errors["min_amount"] = "Must be > 0."
            elif self.stock_prec is not None and decimal_places(self.min_amount) > self.stock_prec:
                errors["min_amount"] = f"At most stock_prec ({self.stock_prec}) decimals."
        precs = (self.stock_prec, self.money_prec, self.fee_prec)
        if stock is not None and money is not None and None not in precs:
            # Fees and deals stay exact, so per-asset totals are conserved to the last unit.
            if self.stock_prec + self.money_prec + self.fee_prec > money.prec_save:
                errors["money_prec"] = (
                    f"stock_prec + money_prec + fee_prec must be ≤ prec_save of {money.name} ({money.prec_save})."
                )
            if self.stock_prec + self.fee_prec > stock.prec_save:
                errors["stock_prec"] = (
                    f"stock_prec + fee_prec must be ≤ prec_save of {stock.name} ({stock.prec_save})."
                )
        if errors:
            raise ValidationError(errors)
