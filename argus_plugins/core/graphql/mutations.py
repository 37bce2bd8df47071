"""The base every mutation builds on: authentication first, then ``perform_mutation`` in its own
savepoint; expected failures (``DomainError``) become the payload's ``errors`` and roll back every write.
A success is reported to the ``core.mutation_succeeded`` hooks (the audit trail) in the same savepoint.
A successful payload answers ``errors: []`` without the mutation saying so."""

from __future__ import annotations

from typing import Any

import graphene
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from graphene_django.constants import MUTATION_ERRORS_FLAG

from ..errors import CommonErrorCode, DomainError, DomainErrors
from ..hooks import MUTATION_SUCCEEDED, run_hooks
from ..snapshots import diff, snapshot
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
                before = cls._snapshot_before(data)
                result = cls.perform_mutation(root, info, **data)
                if result.errors is None:
                    result.errors = []
                cls._report_success(info, data, before, result)
                return result
        except DomainErrors as failure:
            return cls._failure(info, failure.errors)
        except DomainError as failure:
            return cls._failure(info, [failure])

    @classmethod
    def _payload_model(cls) -> type[Model] | None:
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
    def _snapshot_before(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Mutations that act on an existing object take its id: snapshot it first, for the diff.
        model = cls._payload_model()
        object_id = data.get("id")
        if model is None or object_id is None:
            return {}
        try:
            return snapshot(model.objects.filter(pk=object_id).first())
        except (ValueError, ValidationError):
            return {}  # a malformed id: the mutation itself reports it

    @classmethod
    def _report_success(
        cls, info: graphene.ResolveInfo, data: dict[str, Any], before: dict[str, Any], result: Any
    ) -> None:
        """Every successful mutation is reported once (the audit trail records it), in its savepoint."""
        target = None
        for name in cls._meta.fields:
            value = getattr(result, name, None)
            if isinstance(value, Model):
                target = value
                break
        run_hooks(
            MUTATION_SUCCEEDED,
            name=f"{cls._meta.name[0].lower()}{cls._meta.name[1:]}",
            actor=info.context.user,
            request=info.context,
            target=target,
            input_tenant_id=data.get("tenant_id") or None,
            changes=diff(before, snapshot(target)),
        )

    @classmethod
    def _failure(cls, info: graphene.ResolveInfo, errors: list[DomainError]) -> BaseMutation:
        # Tell graphene-django's view to roll back the request's transaction as well.
        setattr(info.context, MUTATION_ERRORS_FLAG, True)
        return cls(errors=[error_from_domain(error) for error in errors])
