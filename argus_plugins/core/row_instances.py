"""Model instances built from value rows: what ``Model.from_db`` builds, for a fraction of its cost.

A list page that joins several tables per item spends most of its Python time in ``Model.__init__`` (a
loop over every field with ``setattr``), ``RelatedPopulator`` and the prefetch machinery. :class:`RowBuilder`
takes a row read with ``values_list`` (the same columns, converted by the same field converters) and fills
a new instance's ``__dict__`` directly, as ``Model.__init__`` leaves it: the attribute of every loaded
column, ``_state`` with ``adding=False`` and the database alias. Columns left out stay deferred, exactly as
with ``QuerySet.defer()``. A field whose attribute is a data descriptor that transforms what is assigned
(e.g. django-money's ``MoneyFieldProxy``) is assigned through it, after the plain columns, as ``__init__``
does — except a django-money amount read with its (non-null) currency column: for a ``Decimal`` or ``None``
the proxy's ``__set__`` stores the value itself (``DecimalField.to_python``'s equal copy; it refuses a
non-finite one, which still goes through it), so the builder
stores it directly and djmoney makes the ``Money`` on first read, as it does for an instance from ``__init__``
(≈ 5 µs a plan less). A model with ``pre_init``/``post_init`` receivers is built by ``from_db`` itself.

Relations are the caller's: :func:`cache_relation` stores a related instance (or ``None``) where
``select_related`` and ``prefetch_related`` store it, so the related descriptors answer without a query.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from djmoney.models.fields import MoneyFieldProxy


class RowBuilder:
    """Builds instances of ``model`` from rows holding the values of ``fields`` (concrete fields of the
    model, in this order): ``values_list(*(prefix + field.name for field in builder.fields))``."""

    def __init__(self, model: type[models.Model], fields: Sequence[models.Field]) -> None:
        concrete = {field.attname: field for field in model._meta.concrete_fields}
        self.model = model
        self.fields = tuple(fields)
        for field in self.fields:
            if concrete.get(field.attname) is not field:
                raise ValueError(f"{field!r} is not a concrete field of {model.__name__}")
        #: Columns stored in ``__dict__`` as ``Model.__init__``'s ``setattr`` stores them (no descriptor,
        #: or Django's own deferred-attribute descriptors, whose ``__set__`` only stores the value).
        self._plain = [
            (index, field.attname)
            for index, field in enumerate(self.fields)
            if isinstance(getattr(model, field.attname, None), DeferredAttribute | None)
        ]
        plain = {index for index, _ in self._plain}
        self._through_descriptor = [
            (index, field.attname, self._stores_amount_as_loaded(field, self.fields[:index]))
            for index, field in enumerate(self.fields)
            if index not in plain
        ]
        self._use_from_db = pre_init.has_listeners(model) or post_init.has_listeners(model)
        self._field_names = [field.attname for field in self.fields]
        # The plain columns are copied into ``__dict__`` by ``dict.update`` over (name, value) pairs: one
        # C-level loop instead of a Python statement per column (a page reads ~70 columns per listing).
        self._plain_names = tuple(attname for _, attname in self._plain)
        self._plain_all = [index for index, _ in self._plain] == list(range(len(self.fields)))
        self._plain_values = (
            operator.itemgetter(*(index for index, _ in self._plain)) if self._plain else None
        )

    def build(self, row: Sequence[Any], db: str) -> models.Model:
        """The instance of this row (``row`` holds the values of ``self.fields``, in order)."""
        if self._use_from_db:
            return self.model.from_db(db, self._field_names, self._ordered_for_from_db(row))
        instance = self.model.__new__(self.model)
        state = ModelState()
        state.adding = False
        state.db = db
        values = instance.__dict__
        values["_state"] = state
        if self._plain_all:
            values.update(zip(self._plain_names, row, strict=True))
        elif len(self._plain_names) == 1:
            values[self._plain_names[0]] = self._plain_values(row)
        elif self._plain_names:
            values.update(zip(self._plain_names, self._plain_values(row), strict=True))
        for index, attname, amount_as_loaded in self._through_descriptor:
            value = row[index]
            if amount_as_loaded and (value is None or (type(value) is decimal.Decimal and value.is_finite())):
                values[attname] = value
            else:
                setattr(instance, attname, value)
        return instance

    def _stores_amount_as_loaded(self, field: models.Field, earlier: Sequence[models.Field]) -> bool:
        """A django-money amount whose non-null currency column comes earlier in the row: what its proxy
        stores for a ``Decimal`` or ``None`` is the value itself (see the module's docstring)."""
        proxy = getattr(self.model, field.attname, None)
        if not isinstance(proxy, MoneyFieldProxy):
            return False
        currency = getattr(field, "_currency_field", None)
        return currency is not None and not currency.null and currency in earlier

    def _ordered_for_from_db(self, row: Sequence[Any]) -> list[Any]:
        by_attname = dict(zip(self._field_names, row, strict=True))
        concrete = self.model._meta.concrete_fields
        return [by_attname[field.attname] for field in concrete if field.attname in by_attname]


def cache_relation(instance: models.Model, relation: Any, related: models.Model | None) -> None:
    """Store ``related`` as ``instance``'s ``relation`` (a forward field or a reverse one-to-one), as
    ``select_related`` does: the descriptor then answers from the cache (``None``: no related row)."""
    instance._state.fields_cache[relation.cache_name] = related
