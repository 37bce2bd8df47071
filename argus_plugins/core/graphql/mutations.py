"""The base every mutation builds on: authentication first, then ``perform_mutation`` in its own
savepoint; expected failures (``DomainError``) become the payload's ``errors`` and roll back every write.
A successful payload answers ``errors: []`` without the mutation saying so."""

from __future__ import annotations

from typing import Any

import graphene
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from graphene_django.constants import MUTATION_ERRORS_FLAG

from argus_plugins.audit import services as audit

from ..errors import CommonErrorCode, DomainError, DomainErrors
from .errors import Error, error_from_domain


class BaseMutation(graphene.Mutation):
    errors = graphene.List(graphene.NonNull(Error), required=True)

    class Meta:
        abstract = True

    #: Mutations that anonymous callers may use set this to False (none do today).
    requires_authentication = True

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> BaseMutation:
        """Do the work; return the payload without ``errors`` (``cls(installation=...)``)."""
        raise NotImplementedError

    @classmethod
    def mutate(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> BaseMutation:
        user = info.context.user
        if cls.requires_authentication and not user.is_authenticated:
            return cls._failure(
                info, [DomainError(CommonErrorCode.UNAUTHENTICATED, "Authentication required.")]
            )
        try:
            with transaction.atomic():
                before = cls._audit_before(data)
                result = cls.perform_mutation(root, info, **data)
                if result.errors is None:
                    result.errors = []
                cls._audit(info, data, before, result)
                return result
        except DomainErrors as failure:
            return cls._failure(info, failure.errors)
        except DomainError as failure:
            return cls._failure(info, [failure])

    @classmethod
    def _audit_model(cls) -> type[Model] | None:
        """The Django model of the payload's object field (e.g. ``installation: Installation``)."""
        for name, field in cls._meta.fields.items():
            if name == "errors":
                continue
            graphql_type = field.type
            while hasattr(graphql_type, "of_type"):
                graphql_type = graphql_type.of_type
            model = getattr(getattr(graphql_type, "_meta", None), "model", None)
            if model is not None:
                return model
        return None

    @classmethod
    def _audit_before(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Mutations that act on an existing object take its id: snapshot it first, for the diff.
        model = cls._audit_model()
        object_id = data.get("id")
        if model is None or object_id is None:
            return {}
        try:
            return audit.snapshot(model.objects.filter(pk=object_id).first())
        except (ValueError, ValidationError):
            return {}  # a malformed id: the mutation itself reports it

    @classmethod
    def _audit(
        cls, info: graphene.ResolveInfo, data: dict[str, Any], before: dict[str, Any], result: Any
    ) -> None:
        """Every successful mutation leaves exactly one audit event, in its own transaction."""
        target = None
        for name in cls._meta.fields:
            value = getattr(result, name, None)
            if isinstance(value, Model):
                target = value
                break
        tenant_id = audit.tenant_of(target) if target is not None else None
        if tenant_id is None and data.get("tenant_id"):
            tenant_id = data["tenant_id"]
        audit.record(
            f"graphql.{cls._meta.name[0].lower()}{cls._meta.name[1:]}",
            actor=info.context.user,
            request=info.context,
            target=target,
            tenant_id=tenant_id,
            changes=audit.diff(before, audit.snapshot(target)),
        )

    @classmethod
    def _failure(cls, info: graphene.ResolveInfo, errors: list[DomainError]) -> BaseMutation:
        # Tell graphene-django's view to roll back the request's transaction as well.
        setattr(info.context, MUTATION_ERRORS_FLAG, True)
        return cls(errors=[error_from_domain(error) for error in errors])
