"""The base every mutation builds on: authentication first, then ``perform_mutation`` in its own
savepoint; expected failures (``DomainError``) become the payload's ``errors`` and roll back every write."""

from __future__ import annotations

from typing import Any

import graphene
from django.db import transaction
from graphene_django.constants import MUTATION_ERRORS_FLAG

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
                return cls.perform_mutation(root, info, **data)
        except DomainErrors as failure:
            return cls._failure(info, failure.errors)
        except DomainError as failure:
            return cls._failure(info, [failure])

    @classmethod
    def _failure(cls, info: graphene.ResolveInfo, errors: list[DomainError]) -> BaseMutation:
        # Tell graphene-django's view to roll back the request's transaction as well.
        setattr(info.context, MUTATION_ERRORS_FLAG, True)
        return cls(errors=[error_from_domain(error) for error in errors])
