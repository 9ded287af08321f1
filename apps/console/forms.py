"""Forms of the console's staff actions (validation only; the work is in services.py)."""
from __future__ import annotations

from datetime import timezone as dt_timezone

from django import forms

from apps.markets.models import Asset, Market

from .services import ONCE_TOKEN_RE


class _ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000,
                             help_text="why (kept in the audit log)")


class BalanceChangeForm(_ReasonForm):
    KINDS = [("deposit", "deposit (credit)"), ("withdraw", "withdrawal (debit)")]

    kind = forms.ChoiceField(choices=KINDS)
    asset = forms.ModelChoiceField(queryset=Asset.objects.order_by("name"), to_field_name="name")
    amount = forms.DecimalField(min_value=0, max_digits=40, decimal_places=24)
    token = forms.CharField(widget=forms.HiddenInput, max_length=32)
    field_order = ["kind", "asset", "amount", "reason", "token"]

    def clean_token(self):
        token = self.cleaned_data["token"]
        if not ONCE_TOKEN_RE.match(token):
            raise forms.ValidationError("malformed form token: reload the page")
        return token

    def clean(self):
        data = super().clean()
        amount, asset = data.get("amount"), data.get("asset")
        if amount is not None and amount <= 0:
            self.add_error("amount", "must be positive")
        elif amount is not None and asset is not None and -amount.as_tuple().exponent > asset.prec_show:
            self.add_error("amount", f"{asset.name} has {asset.prec_show} decimal places")
        return data


class CancelOrderForm(_ReasonForm):
    market = forms.ModelChoiceField(queryset=Market.objects.all(), to_field_name="name", widget=forms.HiddenInput)
    order_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class SnapshotForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class RebuildKlinesForm(_ReasonForm):
    market = forms.ModelChoiceField(queryset=Market.objects.order_by("name"), to_field_name="name")
    start = forms.DateTimeField(help_text="UTC, e.g. 2026-12-01 00:00")
    end = forms.DateTimeField(help_text="UTC")

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None:
            data["start_ts"] = int(start.astimezone(dt_timezone.utc).timestamp())
            data["end_ts"] = int(end.astimezone(dt_timezone.utc).timestamp())
            if data["start_ts"] > data["end_ts"]:
                self.add_error("end", "before the start")
            elif data["start_ts"] < 0:
                self.add_error("start", "before 1970")
        return data
