"""core/statements: fixed SQL with the model's quoted table and column names, formatted once."""

import pytest
from django.db import connection

from vulndesk.core.statements import model_statement
from vulndesk.reports.models import ReportStateCount


def test_names_come_from_the_model_quoted_and_foreign_keys_by_field_name():
    sql = model_statement(ReportStateCount, "UPDATE {table} SET {count} = %s WHERE {product} = %s AND {pk} = %s")
    quote = connection.ops.quote_name
    assert sql == (f"UPDATE {quote(ReportStateCount._meta.db_table)} SET {quote('count')} = %s "
                   f"WHERE {quote('product_id')} = %s AND {quote('id')} = %s")


def test_a_statement_is_formatted_once_and_then_reused():
    template = "SELECT {count} FROM {table}"
    assert model_statement(ReportStateCount, template) is model_statement(ReportStateCount, template)


def test_a_name_the_model_does_not_have_is_an_error_not_text():
    with pytest.raises(KeyError):
        model_statement(ReportStateCount, "SELECT {no_such_field} FROM {table}")
