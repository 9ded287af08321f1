"""The staff roles "viewer" and "operator" (apps.console.roles)."""
from django.db import migrations


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from apps.console.roles import ensure_roles

    # Permissions are normally created after the whole migrate run (post_migrate); make
    # those of the apps migrated so far exist now so the groups get them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    ensure_roles(apps, schema_editor.connection.alias)


def drop_roles(apps, schema_editor):
    from apps.console.roles import OPERATOR, VIEWER

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[VIEWER, OPERATOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("console", "0001_initial"),
        ("alerts", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
