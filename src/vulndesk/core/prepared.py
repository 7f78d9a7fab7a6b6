"""SELECTs on the hot path of every API request, compiled once per process and database.

Django compiles a QuerySet to SQL on every evaluation. For the API-token lookup (the token with
its creator, organisation, product and policy: ~60 columns over five tables) the compiler, not
the database, was most of the authentication's cost: ``as_sql`` and ``get_converters`` took
~0.3 ms of ~0.45 ms, the SELECT itself ~0.04 ms. A ``PreparedSelect`` builds the same QuerySet
once with placeholder values, keeps the SQL, the column converters and the row-to-instance
mapping Django made for it, and then runs only the statement with the real values. The rows
become model instances through Django's own ``from_db`` and related-object populators, so the
objects are the ones the QuerySet would have returned (tests/core/test_prepared.py compares).

Only the SQL text and the row layout are cached, never rows: every call reads the database.
"""

import threading
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators


def _placeholder(kind: type, n: int) -> str | int:
    """A parameter value no caller uses, found again in the compiled parameters."""
    if kind is str:
        return f"\x00prepared-parameter-{n}\x00"
    if kind is int:
        return -(2**62) - n  # ids are positive, and fields pass integers through int() unchanged
    raise TypeError("A prepared SELECT takes str and int parameters only.")


class _Compiled:
    def __init__(self, queryset: QuerySet, placeholders: tuple, alias: str):
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = {(type(placeholder), placeholder): n for n, placeholder in enumerate(placeholders)}
        # Each compiled parameter is either a fixed value (e.g. the roles of an IN list) or the
        # index of the caller's value that replaces a placeholder.
        self.params = [(True, slots[(type(p), p)]) if (type(p), p) in slots else (False, p) for p in params]
        found = {index for is_slot, index in self.params if is_slot}
        if found != set(range(len(placeholders))):
            raise ValueError("Every placeholder must reach the SQL as a parameter of its own.")
        self.sql = sql
        columns = [column[0] for column in compiler.select]
        # Converters are functions of a value (parse a datetime, decode JSON); the backend's are
        # bound to the connection that compiled, and read only settings (the time zone) from it,
        # which every connection of one alias shares, so other threads may use them as well.
        self.converters = list(compiler.get_converters(columns).items())
        klass_info = compiler.klass_info
        self.model = None
        if klass_info is not None and queryset._iterable_class.__name__ == "ModelIterable":
            self.model = klass_info["model"]
            select_fields = klass_info["select_fields"]
            self.model_slice = slice(select_fields[0], select_fields[-1] + 1)
            self.init_list = [column[0].target.attname for column in compiler.select[self.model_slice]]
            self.populators = get_related_populators(klass_info, compiler.select, alias)
            self.annotations = dict(compiler.annotation_col_map)


class PreparedSelect:
    """``PreparedSelect(build, (str, int, …))``: ``build(*values)`` returns the QuerySet, one value
    of each kind; ``first(*values)`` runs it and returns the first model instance (``build`` must
    return model instances), or None; ``exists(*values)`` says whether it has a row. Values are
    plain strings and integers that the fields take as they are (a hash, a slug, an id)."""

    def __init__(self, build: Callable[..., QuerySet], kinds: tuple[type, ...], *, using: str = DEFAULT_DB_ALIAS):
        self._build = build
        self._kinds = kinds
        self._placeholders = tuple(_placeholder(kind, n) for n, kind in enumerate(kinds))
        self._using = using
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, connection) -> _Compiled:
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(connection.vendor)
                if compiled is None:
                    compiled = _Compiled(self._build(*self._placeholders), self._placeholders, self._using)
                    self._compiled[connection.vendor] = compiled
        return compiled

    def _row(self, values: tuple) -> tuple[_Compiled, list | None, object]:
        if len(values) != len(self._placeholders):
            raise TypeError(f"Expected {len(self._placeholders)} values, got {len(values)}.")
        for value, kind in zip(values, self._kinds, strict=True):
            if type(value) is not kind:
                raise TypeError(f"A prepared SELECT's parameter must be a plain {kind.__name__}.")
        connection = connections[self._using]
        compiled = self._for(connection)
        params = [values[value] if is_slot else value for is_slot, value in compiled.params]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        return compiled, (list(row) if row is not None else None), connection

    def exists(self, *values) -> bool:
        _, row, _ = self._row(values)
        return row is not None

    def first(self, *values):
        compiled, row, connection = self._row(values)
        if row is None:
            return None
        if compiled.model is None:
            raise TypeError("first() needs a QuerySet of model instances.")
        for position, (converters, expression) in compiled.converters:
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        instance = compiled.model.from_db(self._using, compiled.init_list, row[compiled.model_slice])
        for populator in compiled.populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations.items():
            setattr(instance, name, row[position])
        return instance
