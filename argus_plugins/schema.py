"""The root schema only composes each app's queries and mutations."""

import graphene

from argus_plugins.tenancy.graphql.mutations import TenancyMutations
from argus_plugins.tenancy.graphql.queries import TenancyQueries
from installations.graphql.mutations import InstallationMutations
from installations.graphql.queries import InstallationQueries
from registry.graphql.mutations import RegistryMutations
from registry.graphql.queries import RegistryQueries


class Query(TenancyQueries, RegistryQueries, InstallationQueries, graphene.ObjectType):
    pass


class Mutation(TenancyMutations, RegistryMutations, InstallationMutations, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
