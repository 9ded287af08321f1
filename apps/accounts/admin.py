from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from .models import SCOPES, ApiKey
from .services import api_key_create, api_key_revoke


class ApiKeyAddForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES], initial=list(SCOPES), widget=forms.CheckboxSelectMultiple, label="Scopes"
    )

    class Meta:
        model = ApiKey
        fields = ("user", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("access_id", "user", "name", "scopes", "created", "last_used", "revoked")
    list_filter = ("revoked",)
    search_fields = ("access_id", "user__username", "name")
    actions = ["revoke"]
    raw_id_fields = ("user",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name", "scope_choices")
        return ("user", "name", "access_id", "scopes", "created", "last_used", "revoked", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "access_id", "scopes", "created", "last_used", "revoked", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        created = api_key_create(user=obj.user, name=obj.name, scopes=form.cleaned_data["scope_choices"])
        obj.pk = created.api_key.pk
        obj.__dict__.update(created.api_key.__dict__)
        request._api_key_secret = created.secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return TemplateResponse(
            request,
            "accounts/apikey_created.html",
            {**self.admin_site.each_context(request), "api_key": obj, "secret": secret, "opts": self.model._meta,
             "title": "API key created"},
        )

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
