"""Fixed-shape ORM queries compiled once per database connection, then run with new values.

Django compiles a QuerySet to SQL on every evaluation, at roughly 8 µs per selected column. For the
hot paths' loads (a run with its tenant, installation, version, plugin, key and user: 108 columns) that
is 0.9 ms of a 1.1 ms query, paid on every execution and request. A ``PreparedQuery`` builds its
QuerySet once per connection with placeholder values, keeps the SQL and Django's own row-to-model
machinery (the compiler's select list, converters and select_related populators), and on each call puts
the call's values where the placeholders were. What it returns is what the QuerySet would return: model
instances with their select_related objects and annotations.

Use it only for a query whose SQL does not depend on the values (no ``__in`` lists, no conditional
filters): a filter value is a parameter and nothing else. Every query goes through the connection's
cursor like any other (transactions, query logging and ``assertNumQueries`` see it).

It leans on Django internals (the compiler's ``klass_info``, ``select``, ``get_converters``,
``get_related_populators``, ``from_db``), so it is kept only where ``bench/prepared_bench.py`` shows the
gain over the plain ORM evaluating the same QuerySet. Measured (µs of this process's CPU per call, best of
5 rounds of 300 calls, side by side; SQLite file / PostgreSQL 15 on the shared 2-CPU machine):

    query (module-level name)                      SQLite prepared/plain    PostgreSQL prepared/plain
    tenancy.tokens._TOKEN_BY_HASH (every request)     50 /  323  (6.5x)       159 /  674  (4.2x)
    execution.limits._POLICY                          30 /  202  (6.8x)       129 /  409  (3.2x)
    execution.worker._RUN_WITH_CONTEXT               305 / 1863  (6.1x)       956 / 3647  (3.8x)
    execution.worker._EVIDENCE_LINKS                  25 /  281 (11.4x)       140 /  818  (5.9x)
    installations.authorization._NEWEST_PUBLISHED    127 /  874  (6.9x)       280 / 1565  (5.6x)
    installations.services._INSTALLATION_WITH_ROLE   114 / 1671 (14.6x)       309 / 2991  (9.7x)
    ledger.services._LOCKED_HEAD                      20 /  167  (8.4x)       115 /  359  (3.1x)
    marketplace.plans._CURRENT_PLAN_MODELS            19 /  323 (16.8x)       100 /  518  (5.2x)
    triggers.events._TENANT_WITH_LISTENERS            16 /  172 (10.6x)        91 /  314  (3.5x)
    triggers.events._LISTENING_SUBSCRIPTIONS          28 /  335 (11.8x)       118 /  532  (4.5x)
    triggers.events._LISTENING_ENDPOINTS              28 /  252  (9.1x)       108 /  417  (3.9x)

Every one saves 0.15-2.7 ms of CPU per call, 3-17 times its own cost, far outside the noise, on paths
each run or request takes (about 5 ms of CPU per run in all on SQLite): all eleven are kept. (The last two
were measured later, under load from other work: 500 and 300 calls x 3 rounds.) Each is checked
against the plain ORM on SQLite and PostgreSQL (tests/core/test_prepared_queries.py, which also pins
their number to eleven: a new use needs its figure here).
"""

from __future__ import annotations

import itertools
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import ModelIterable, get_related_populators

M = TypeVar("M", bound=models.Model)

_sentinel_counter = itertools.count(1)


def _placeholder(field: models.Field) -> Any:
    """A value of the field's type that no real row or constant of the query will carry."""
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.UUIDField):
        return uuid.uuid4()
    if isinstance(target, models.IntegerField):
        return -(2**40) - next(_sentinel_counter)
    if isinstance(target, models.CharField | models.TextField):
        return f"\x00argus-placeholder-{uuid.uuid4().hex}"
    raise TypeError(f"PreparedQuery cannot take a parameter of type {type(target).__name__}")


@dataclass
class _Compiled:
    sql: str
    params: list[Any]
    #: (position in params, index of the call's value) for every placeholder occurrence.
    slots: list[tuple[int, int]]
    compiler: Any
    converters: dict[int, Any]
    model: type[models.Model]
    init_list: list[str]
    model_slice: slice
    populators: list[Any]
    annotations: dict[str, int]


class PreparedQuery(Generic[M]):
    """``PreparedQuery(lambda pk: Model.objects.select_related(...).filter(pk=pk), Model._meta.pk)``.

    ``build`` receives one placeholder per field in ``fields`` (the fields whose values the call passes,
    in order) and returns the QuerySet; it runs once per database connection.
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], *fields: models.Field) -> None:
        self.build = build
        self.fields = fields
        self._compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._alias: str | None = None  # the database the QuerySet reads, known once it was built

    def fetch(self, *values: Any) -> list[M]:
        if len(values) != len(self.fields):
            raise TypeError(f"expected {len(self.fields)} value(s), got {len(values)}")
        if self._alias is None:
            self._alias = self.build(*(_placeholder(f) for f in self.fields)).db
        queryset_db = self._alias
        connection = connections[queryset_db]
        compiled = self._compiled.get(connection) or self._compile(connection)
        params = list(compiled.params)
        prepared = [
            field.get_db_prep_value(value, connection, prepared=False)
            for field, value in zip(self.fields, values, strict=True)
        ]
        for position, index in compiled.slots:
            params[position] = prepared[index]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows: Sequence[Any] = cursor.fetchall()
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        return [self._instance(compiled, queryset_db, row) for row in rows]

    def first(self, *values: Any) -> M | None:
        found = self.fetch(*values)
        return found[0] if found else None

    # -- compiling ---------------------------------------------------------------------------------

    def _compile(self, connection: Any) -> _Compiled:
        placeholders = [_placeholder(field) for field in self.fields]
        queryset = self.build(*placeholders)
        if (
            queryset._iterable_class is not ModelIterable
            or queryset._prefetch_related_lookups
            or queryset._known_related_objects
            or queryset.query.combinator
        ):
            raise TypeError("PreparedQuery takes plain model querysets (no values(), prefetch or union)")
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        params = list(params)
        slots = []
        for index, (field, placeholder) in enumerate(zip(self.fields, placeholders, strict=True)):
            wanted = field.get_db_prep_value(placeholder, connection, prepared=False)
            found = [position for position, param in enumerate(params) if param == wanted]
            if not found:
                raise ValueError(f"the query does not use its parameter {field.name!r} as a plain value")
            slots.extend((position, index) for position in found)
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        model_slice = slice(select_fields[0], select_fields[-1] + 1)
        compiled = _Compiled(
            sql=sql,
            params=params,
            slots=slots,
            compiler=compiler,
            converters=compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]]),
            model=klass_info["model"],
            init_list=[f[0].target.attname for f in compiler.select[model_slice]],
            model_slice=model_slice,
            populators=get_related_populators(klass_info, compiler.select, queryset.db),
            annotations=dict(compiler.annotation_col_map or {}),
        )
        with self._lock:
            self._compiled[connection] = compiled
        return compiled

    @staticmethod
    def _instance(compiled: _Compiled, db: str, row: Sequence[Any]) -> Any:
        obj = compiled.model.from_db(db, compiled.init_list, row[compiled.model_slice])
        for populator in compiled.populators:
            populator.populate(row, obj)
        for name, position in compiled.annotations.items():
            setattr(obj, name, row[position])
        return obj
