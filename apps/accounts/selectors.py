from .models import ApiKey


def api_key_list(*, user):
    return ApiKey.objects.filter(user=user).order_by("-id")


def api_key_get(*, access_id: str) -> ApiKey | None:
    return ApiKey.objects.select_related("user").filter(access_id=access_id).first()
