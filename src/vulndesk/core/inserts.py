"""Multi-row INSERTs of new rows (reports, their timeline and search tokens, audit entries),
prepared once per model and process.

``QuerySet.bulk_create`` rebuilds its INSERT for every call: it resolves each value as a possible
expression, compiles a placeholder per value and assembles the statement through generators. For
the ~45 columns of a report, its timeline events and its word-search token rows that machinery,
not SQLite, was the largest single cost of an API create (py-spy on the gunicorn workers, 100k
reports: ``bulk_create`` 20 % of the time the workers held the GIL). Here the column list and the
statement for a given number of rows are made once; each row still passes every value through
its field's own ``pre_save`` and ``get_db_prep_save`` (encrypted columns, JSON, time zones), as
``bulk_create`` does. Instances get their primary key back (RETURNING) and are marked saved.

Anything this does not handle (expressions as values, fields with their own placeholder, a
database without multi-row RETURNING, instances with a primary key already) goes through
``bulk_create`` unchanged.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections, models


@cache
def _insert_fields(model: type[models.Model]) -> tuple[tuple[models.Field, ...], bool]:
    """The fields an INSERT of a new instance writes, and whether the plain path applies."""
    fields = tuple(field for field in model._meta.concrete_fields
                   if not field.primary_key and not getattr(field, "generated", False))
    plain = not any(hasattr(field, "get_placeholder") or field.has_db_default() for field in fields)
    return fields, plain


@cache
def _insert_sql(model: type[models.Model], vendor: str, rows: int, returning: bool) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields, _ = _insert_fields(model)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
           f"VALUES {', '.join([row] * rows)}")
    if returning:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return sql


def rows_insert(model: type[models.Model], instances: list, *, returning: bool = True) -> None:
    """Insert new ``instances`` of ``model`` in as few statements as the parameter limit allows;
    with ``returning``, each gets its primary key. In the caller's transaction."""
    if not instances:
        return
    # The thread's connection itself: ``django.db.connection`` is a proxy that looks the
    # connection up on every attribute, and each value below would pay that ~twice.
    connection = connections[DEFAULT_DB_ALIAS]
    fields, plain = _insert_fields(model)
    if (not plain or not connection.features.can_return_rows_from_bulk_insert
            or any(instance.pk is not None for instance in instances)):
        model.objects.bulk_create(instances)
        return
    values = []
    for instance in instances:
        row = [field.pre_save(instance, True) for field in fields]
        if any(hasattr(value, "resolve_expression") for value in row):
            model.objects.bulk_create(instances)
            return
        values.append([field.get_db_prep_save(value, connection=connection) for field, value in zip(fields, row, strict=True)])
    size = max(1, connection.ops.bulk_batch_size(fields, instances))
    pk_attname = model._meta.pk.attname
    with connection.cursor() as cursor:
        for start in range(0, len(instances), size):
            chunk = values[start:start + size]
            cursor.execute(_insert_sql(model, connection.vendor, len(chunk), returning),
                           [value for row in chunk for value in row])
            if returning:
                for instance, (pk,) in zip(instances[start:start + size], cursor.fetchall(), strict=True):
                    setattr(instance, pk_attname, pk)
    for instance in instances:
        instance._state.adding = False
        instance._state.db = connection.alias
