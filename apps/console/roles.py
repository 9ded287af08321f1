"""Staff roles as Django groups (docs/alerts.md "Roles and audit").

- ``viewer``: every ``view_*`` permission — sees everything in the admin, changes nothing.
- ``operator``: what a viewer has, plus changing alerts (acknowledge / resolve) and the
  console's staff actions (``console.staff_deposit`` …, see ``apps.console.models.StaffAction``).

Created by the data migration console 0002 and kept up to date after every ``migrate``
(post_migrate): a model added later gets its view permission into both groups.
Permissions are only ever added, so what an administrator grants by hand stays.
A member also needs ``is_staff`` to log in to the admin.
"""
VIEWER = "viewer"
OPERATOR = "operator"

OPERATOR_PERMISSIONS = [
    ("alerts", "change_alert"),
    ("console", "staff_deposit"),
    ("console", "staff_withdraw"),
    ("console", "cancel_order"),
    ("console", "make_snapshot"),
    ("console", "rebuild_klines"),
]


def ensure_roles(apps, using: str = "default") -> None:
    """Create the groups if missing and add the permissions they lack."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    viewer, _ = Group.objects.using(using).get_or_create(name=VIEWER)
    operator, _ = Group.objects.using(using).get_or_create(name=OPERATOR)
    view = list(Permission.objects.using(using).filter(codename__startswith="view_"))
    viewer.permissions.add(*view)
    extra = [
        p for p in Permission.objects.using(using).filter(
            codename__in=[c for _, c in OPERATOR_PERMISSIONS]).select_related("content_type")
        if (p.content_type.app_label, p.codename) in OPERATOR_PERMISSIONS
    ]
    operator.permissions.add(*view, *extra)


def sync_roles(sender, app_config=None, using="default", apps=None, **kwargs) -> None:
    """post_migrate receiver (sent once per app, after that app's permissions exist)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    try:
        apps.get_model("auth", "Group")
        apps.get_model("console", "AuditLog")
    except LookupError:  # auth or this app not migrated (yet)
        return
    ensure_roles(apps, using)
