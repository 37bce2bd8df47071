"""The root schema only composes each app's queries and mutations."""

import graphene

from argus_plugins.tenancy.graphql.mutations import TenancyMutations
from argus_plugins.tenancy.graphql.queries import TenancyQueries


class Query(TenancyQueries, graphene.ObjectType):
    pass


class Mutation(TenancyMutations, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
