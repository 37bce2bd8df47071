"""Feature flags as a tenant member sees them. The flags themselves are core's (argus_plugins.core.flags);
who may read them for a tenant is tenancy's rule, so the query lives here."""

from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.flags import KNOWN_FLAGS, is_enabled

from ..permissions import require_tenant_role


class FeatureFlagType(graphene.ObjectType):
    name = graphene.String(required=True)
    enabled = graphene.Boolean(required=True)
    description = graphene.String(required=True)


class FeatureFlagQueries(graphene.ObjectType):
    feature_flags = graphene.List(
        graphene.NonNull(FeatureFlagType),
        required=True,
        tenant_id=graphene.ID(required=True),
        description="Every feature flag and whether it is on for the tenant.",
    )

    @staticmethod
    def resolve_feature_flags(root: Any, info: graphene.ResolveInfo, tenant_id: str) -> list[FeatureFlagType]:
        membership = require_tenant_role(info.context.user, tenant_id)
        return [
            FeatureFlagType(name=name, enabled=is_enabled(name, membership.tenant), description=description)
            for name, description in KNOWN_FLAGS.items()
        ]
