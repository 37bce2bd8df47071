"""The root schema only composes each app's queries and mutations."""

import graphene

from argus_plugins.audit.graphql.queries import AuditQueries
from argus_plugins.tenancy.graphql.feature_flags import FeatureFlagQueries
from argus_plugins.tenancy.graphql.mutations import TenancyMutations
from argus_plugins.tenancy.graphql.queries import TenancyQueries
from execution.graphql.mutations import ExecutionMutations
from execution.graphql.queries import ExecutionQueries
from installations.graphql.mutations import InstallationMutations
from installations.graphql.queries import InstallationQueries
from ledger.graphql.queries import LedgerQueries
from marketplace.graphql.mutations import MarketplaceMutations
from marketplace.graphql.queries import MarketplaceQueries
from registry.graphql.mutations import RegistryMutations
from registry.graphql.queries import RegistryQueries
from triggers.graphql.mutations import TriggerMutations
from triggers.graphql.queries import TriggerQueries


class Query(
    FeatureFlagQueries,
    AuditQueries,
    TenancyQueries,
    RegistryQueries,
    InstallationQueries,
    ExecutionQueries,
    LedgerQueries,
    MarketplaceQueries,
    TriggerQueries,
    graphene.ObjectType,
):
    pass


class Mutation(
    TenancyMutations,
    RegistryMutations,
    InstallationMutations,
    ExecutionMutations,
    MarketplaceMutations,
    TriggerMutations,
    graphene.ObjectType,
):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
