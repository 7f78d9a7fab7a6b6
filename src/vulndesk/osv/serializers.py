"""Request and response shapes of the OSV API, for the OpenAPI schema. The input is checked by
``queries`` (by hand, for speed: a batch holds 1,000 queries); these describe it."""

from rest_framework import serializers


class PackageInput(serializers.Serializer):
    ecosystem = serializers.ChoiceField(choices=["PyPI", "npm", "Go", "Maven", "crates.io", "SemVer"],
                                        help_text="OSV ecosystem name (case-insensitive).")
    name = serializers.CharField(max_length=300, help_text="Package name (PyPI names are normalised per PEP 503).")


class QueryInput(serializers.Serializer):
    package = PackageInput(required=False)
    version = serializers.CharField(required=False, max_length=200,
                                    help_text="Version in the ecosystem's syntax; leave out for every advisory "
                                              "of the package.")
    commit = serializers.RegexField(r"^[0-9a-fA-F]{7,64}$", required=False,
                                    help_text="A Git commit hash, instead of package and version.")


class QueryBatchInput(serializers.Serializer):
    queries = QueryInput(many=True, max_length=1000)


class VulnerabilityListOutput(serializers.Serializer):
    vulns = serializers.ListField(child=serializers.DictField(), help_text="OSV documents (schema 1.7).")


class VulnerabilityReference(serializers.Serializer):
    id = serializers.CharField()
    modified = serializers.CharField()


class QueryBatchResult(serializers.Serializer):
    vulns = VulnerabilityReference(many=True)


class QueryBatchOutput(serializers.Serializer):
    results = QueryBatchResult(many=True, help_text="One result per query, in the order of the queries.")
