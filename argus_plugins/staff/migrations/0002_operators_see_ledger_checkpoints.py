"""Operators also see the ledger's checkpoints, witness cosignatures and alarms (issue 20's models)."""

from django.db import migrations

#: The roles as they were when this migration was written (a later change adds its own migration).
GROUPS = {'Reviewers': ['registry.view_pluginversionreview',
               'registry.review_pluginversion',
               'registry.view_pluginversion',
               'registry.view_lifecycleevent',
               'registry.view_plugin',
               'registry.view_publisher',
               'registry.change_publisher',
               'registry.view_publishermembership',
               'registry.view_signingkey',
               'marketplace.view_listing',
               'marketplace.change_listing',
               'marketplace.view_plan',
               'marketplace.view_listingmoderationevent',
               'marketplace.view_reviewmoderation',
               'marketplace.change_reviewmoderation',
               'marketplace.view_reviewflag'],
 'Operators': ['execution.view_execution',
               'ledger.view_ledgerentry',
               'ledger.view_ledgerhead',
               'ledger.verify_ledger',
               'ledger.view_ledgercheckpoint',
               'ledger.view_ledgercosignature',
               'ledger.view_ledgeralarm',
               'tenancy.view_tenant',
               'tenancy.view_membership',
               'tenancy.view_user',
               'tenancy.view_apitoken',
               'tenancy.change_apitoken',
               'installations.view_installation',
               'installations.view_installationevent',
               'installations.view_capability',
               'installations.view_capabilitygrant',
               'triggers.view_schedule',
               'triggers.view_schedulefiring',
               'triggers.view_event',
               'triggers.view_eventsubscription',
               'triggers.view_eventdelivery',
               'triggers.view_webhookendpoint',
               'triggers.view_webhookdelivery',
               'triggers.view_webhookattempt',
               'audit.view_auditevent',
               'django_celery_beat.view_periodictask',
               'django_celery_beat.view_intervalschedule',
               'django_celery_beat.view_crontabschedule',
               'django_celery_beat.view_solarschedule',
               'django_celery_beat.view_clockedschedule',
               'core.view_tenantflag',
               'core.change_tenantflag',
               'marketplace.view_entitlement',
               'marketplace.view_entitlementevent',
               'marketplace.view_invoice']}


def update_groups(apps, schema_editor):
    from argus_plugins.staff.roles import sync_staff_groups

    sync_staff_groups(apps, groups=GROUPS)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_create_staff_groups"),
        ("ledger", "0005_backfill_merkle_tree"),
    ]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
