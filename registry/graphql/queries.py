from __future__ import annotations

from typing import Any

import graphene
from django.db.models import Q

from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.permissions import require_authenticated

from ..models import PluginVersion, Publisher
from ..services import visible_plugins, visible_versions
from .types import PluginConnection, PluginStatusEnum, PluginType, PluginVersionType, PublisherType


def _one_of(id: str | None, slug: str | None) -> None:
    if (id is None) == (slug is None):
        raise DomainError(CommonErrorCode.INVALID, "Give exactly one of 'id' and 'slug'.", "id")


class RegistryQueries(graphene.ObjectType):
    publisher = graphene.Field(PublisherType, id=graphene.ID(), slug=graphene.String())
    plugin = graphene.Field(PluginType, id=graphene.ID(), slug=graphene.String())
    plugins = graphene.Field(
        PluginConnection,
        required=True,
        **connection_args(
            search=graphene.String(description="Matches slug, name and summary."),
            category=graphene.String(),
            publisher_id=graphene.ID(),
            status=PluginStatusEnum(),
        ),
    )
    plugin_version = graphene.Field(PluginVersionType, id=graphene.ID(required=True))

    @staticmethod
    def resolve_publisher(
        root: Any, info: graphene.ResolveInfo, id: str | None = None, slug: str | None = None
    ):
        require_authenticated(info.context.user)
        _one_of(id, slug)
        lookup = {"pk": parse_uuid(id)} if id is not None else {"slug": slug}
        publisher = Publisher.objects.filter(**lookup).first()
        if publisher is None:
            raise not_found("Publisher")
        return publisher

    @staticmethod
    def resolve_plugin(root: Any, info: graphene.ResolveInfo, id: str | None = None, slug: str | None = None):
        require_authenticated(info.context.user)
        _one_of(id, slug)
        lookup = {"pk": parse_uuid(id)} if id is not None else {"slug": slug}
        plugin = visible_plugins(info.context.user).select_related("publisher").filter(**lookup).first()
        if plugin is None:
            raise not_found("Plugin")
        return plugin

    @staticmethod
    def resolve_plugins(
        root: Any,
        info: graphene.ResolveInfo,
        search: str | None = None,
        category: str | None = None,
        publisher_id: str | None = None,
        status: str | None = None,
        **page: Any,
    ) -> PluginConnection:
        require_authenticated(info.context.user)
        plugins = visible_plugins(info.context.user).select_related("publisher")
        if search:
            search = search[:100]
            plugins = plugins.filter(
                Q(slug__icontains=search) | Q(name__icontains=search) | Q(summary__icontains=search)
            )
        if category:
            # JSON ``contains`` is unavailable on SQLite; categories are stored lower-case, so matching the
            # quoted JSON string is exact on both SQLite and PostgreSQL.
            plugins = plugins.filter(categories__icontains=f'"{category.lower()[:50]}"')
        if publisher_id:
            plugins = plugins.filter(publisher_id=parse_uuid(publisher_id, field="publisherId"))
        if status:
            plugins = plugins.filter(status=status)
        return resolve_connection(PluginConnection, plugins.order_by("slug"), **page)

    @staticmethod
    def resolve_plugin_version(root: Any, info: graphene.ResolveInfo, id: str) -> PluginVersion:
        require_authenticated(info.context.user)
        version = (
            visible_versions(info.context.user)
            .select_related("plugin__publisher", "signing_key", "reviewer")
            .filter(pk=parse_uuid(id))
            .first()
        )
        if version is None:
            raise not_found("Plugin version")
        return version
