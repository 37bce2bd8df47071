from django.db import migrations


def mark_tenants_with_listeners(apps, schema_editor):
    Tenant = apps.get_model("tenancy", "Tenant")
    EventSubscription = apps.get_model("triggers", "EventSubscription")
    WebhookEndpoint = apps.get_model("triggers", "WebhookEndpoint")
    tenant_ids = set(EventSubscription.objects.values_list("tenant_id", flat=True))
    tenant_ids |= set(WebhookEndpoint.objects.values_list("tenant_id", flat=True))
    Tenant.objects.filter(pk__in=tenant_ids).update(event_listeners_configured=True)


class Migration(migrations.Migration):
    dependencies = [
        ("triggers", "0001_initial"),
        ("tenancy", "0003_tenant_event_listeners_configured"),
    ]

    operations = [migrations.RunPython(mark_tenants_with_listeners, migrations.RunPython.noop)]
