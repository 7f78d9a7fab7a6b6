"""Fixed SQL statements on hot write paths, with table and column names taken from the model.

A few statements run on every report write (the number range, the state counter, the audit
chain head, the product's version table). Built by the ORM, each was compiled again on every
call (~0.1 ms each); written here, each is formatted once per model, database and template.
Names come from the model's meta and are quoted by the backend; values are always bound
parameters, never formatted in.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections, models


@cache
def _statement(model: type[models.Model], vendor: str, template: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    meta = model._meta
    names = {"table": quote(meta.db_table), "pk": quote(meta.pk.column)}
    names.update((field.name, quote(field.column)) for field in meta.concrete_fields)
    return template.format_map(names)


def model_statement(model: type[models.Model], template: str) -> str:
    """``template`` with ``{table}``, ``{pk}`` and ``{<field name>}`` replaced by the quoted
    names of ``model``'s table and columns (a foreign key by its field name, e.g. ``{product}``
    for ``product_id``), formatted once per database. Values go in as ``%s`` parameters."""
    return _statement(model, connections[DEFAULT_DB_ALIAS].vendor, template)
