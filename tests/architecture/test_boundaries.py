"""Boundary rules that review misses and a grep does not: every URL is guarded or deliberately
public, views never reach past the selectors, the clock has one reader, nothing renders or runs
untrusted text, and imports point one way (STYLE.md sections 1, 2 and 5)."""

import ast
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.contrib.auth.views import LoginView, LogoutView
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from rest_framework.views import APIView

import vulndesk
from tests.factories.core import (
    add_versions,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.organisations.access import PUBLIC_VIEWS

PACKAGE = Path(vulndesk.__file__).parent
SRC = PACKAGE.parent


@dataclass(frozen=True)
class Route:
    name: str
    callback: object
    kwargs: dict  # URL argument -> its path converter


def _routes(resolver=None, namespace: str = "", kwargs: dict | None = None) -> list[Route]:
    resolver = resolver or get_resolver()
    routes = []
    for entry in resolver.url_patterns:
        names = (kwargs or {}) | entry.pattern.converters
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += _routes(entry, inner, names)
        else:
            assert isinstance(entry, URLPattern)
            routes.append(Route(f"{namespace}{entry.name or entry.pattern}", entry.callback, names))
    return routes


def _view_key(view) -> str:
    target = getattr(view, "view_class", view)
    return f"{target.__module__}.{target.__qualname__}"


def _is_guarded(callback) -> bool:
    view_class = getattr(callback, "view_class", None)
    return (
        hasattr(callback, "member_view_roles")
        or _view_key(callback) in PUBLIC_VIEWS
        or (view_class is not None and issubclass(view_class, APIView)
            and view_class.__module__.startswith("vulndesk.reports.api"))
        or view_class in (LoginView, LogoutView)
    )


def _allowed_methods(view) -> list[str] | None:
    """The method list of require_GET/require_POST/require_http_methods anywhere in the
    ``functools.wraps`` chain (member_view wraps, so the chain reaches the inner decorators)."""
    while view is not None:
        free = dict(zip(view.__code__.co_freevars, (c.cell_contents for c in view.__closure__ or ()), strict=True))
        if "request_method_list" in free:
            return list(free["request_method_list"])
        view = getattr(view, "__wrapped__", None)
    return None


def _python_files(root: Path = PACKAGE):
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _source_files(root: Path = SRC):
    suffixes = {".py", ".html", ".txt", ".js"}
    return sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file()
                  and "__pycache__" not in p.parts and not any(part.endswith(".egg-info") for part in p.parts))


def _hits(files, pattern: re.Pattern) -> list[str]:
    return [f"{path.relative_to(SRC)}:{n}: {line.strip()}"
            for path in files
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if pattern.search(line)]


# --- (a) every URL is guarded or listed public -------------------------------------------------

def test_every_url_is_a_member_view_a_listed_public_view_or_a_self_checking_api_view():
    routes = _routes()
    unguarded = [f"{route.name} -> {_view_key(route.callback)}" for route in routes if not _is_guarded(route.callback)]
    assert unguarded == []


def test_the_url_walk_reaches_every_kind_of_route():
    names = {route.name for route in _routes()}
    assert {"organisations:home", "accounts:login", "reports:queue", "reports:transition", "products:release_ship",
            "api_reports", "api-schema", "health", "intake:report_form", "intake:tracking"} <= names


def test_a_view_with_only_login_required_does_not_count_as_guarded():
    from vulndesk.organisations.views import organisations_view

    assert not _is_guarded(organisations_view)


def test_public_view_of_a_class_based_view_names_the_class_not_its_module():
    _routes()  # importing the URLconf registers the public views
    assert "drf_spectacular.views.SpectacularAPIView" in PUBLIC_VIEWS
    # A key shared by every class-based view of a module would make them all public at once.
    assert not any(key.endswith(".View.as_view.<locals>.view") for key in PUBLIC_VIEWS)


# --- (b) views and api never touch Model.objects ------------------------------------------------

def test_no_view_or_api_module_uses_model_objects():
    files = [p for p in _python_files() if p.name == "views.py" or "api" in p.relative_to(PACKAGE).parts]
    assert any("api" in p.parts for p in files)
    assert _hits(files, re.compile(r"\.objects\b")) == []


# --- (c) one clock reader -------------------------------------------------------------------------

def test_only_core_clock_reads_the_wall_clock():
    files = [p for p in _python_files() if p != PACKAGE / "core" / "clock.py"]
    assert _hits(files, re.compile(r"datetime\.(now|utcnow)\(|timezone\.now\(")) == []


# --- (d) nothing renders or runs untrusted text ----------------------------------------------------

BANNED = re.compile(
    r"mark_safe|\|\s*safe\b|\{%\s*autoescape\s+off|\.raw\(|\.extra\(|shell\s*=\s*True|(?<![\w.])eval\(|"
    r"(?<![\w.])exec\(|pickle\.loads|yaml\.load\("
)


# The single exemption: the sanitised-Markdown filter (nh3 allow-list right before mark_safe).
SAFE_MARKDOWN_FILTER = PACKAGE / "public" / "templatetags" / "public_markdown.py"


def test_no_unsafe_rendering_raw_sql_shell_or_eval_anywhere_in_src():
    files = [p for p in _source_files() if p != SAFE_MARKDOWN_FILTER]
    assert any(p.suffix == ".html" for p in files)
    assert _hits(files, BANNED) == []


def test_the_markdown_filter_marks_safe_only_what_nh3_cleaned():
    source = SAFE_MARKDOWN_FILTER.read_text()
    assert source.count("mark_safe(") == 1
    assert "mark_safe(render_markdown(" in source


@pytest.mark.parametrize("line", [
    "{{ report.title|safe }}", "{% autoescape off %}", "mark_safe(text)", "Report.objects.raw(sql)",
    "qs.extra(where=[w])", "subprocess.run(cmd, shell=True)", "eval(x)", "exec(code)", "pickle.loads(b)",
    "yaml.load(stream)",
])
def test_the_banned_pattern_catches(line):
    assert BANNED.search(line)


# --- (e) import direction ----------------------------------------------------------------------------

def _apps_imported_by(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """The vulndesk apps a module imports, absolute or relative, at any depth of the module."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    apps = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [".".join([*base, node.module] if node.module else base)]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "vulndesk" and len(parts) > 1:
                apps.add(parts[1])
    return apps


def _imported_apps(path: Path) -> set[str]:
    module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    return _apps_imported_by(path.read_text(), module, is_package=path.name == "__init__.py")


def _imports_of(app: str, modules: tuple[str, ...] = ()) -> dict[str, set[str]]:
    root = PACKAGE / app
    found = {}
    for path in _python_files(root):
        relative = path.relative_to(root)
        if modules and relative.parts[0].removesuffix(".py") not in modules:
            continue
        others = _imported_apps(path) - {app}
        if others:
            found[str(path.relative_to(SRC))] = others
    return found


DOMAIN_APPS = {"accounts", "audit", "organisations", "products", "reports", "intake"}


@pytest.mark.parametrize(("app", "modules", "forbidden"), [
    ("core", (), DOMAIN_APPS),
    ("audit", (), DOMAIN_APPS - {"audit"}),
    ("accounts", (), {"organisations", "products", "reports", "intake"}),
    ("organisations", (), {"products", "reports", "intake"}),
    ("products", ("models", "services", "selectors"), {"reports"}),
    ("reports", (), {"intake"}),
], ids=["core", "audit", "accounts", "organisations", "products-models-services-selectors", "reports"])
def test_imports_point_one_way(app, modules, forbidden):
    violations = {module: sorted(apps & forbidden) for module, apps in _imports_of(app, modules).items()
                  if apps & forbidden}
    assert violations == {}


def test_the_import_parser_sees_absolute_relative_and_nested_imports():
    source = (
        "import vulndesk.audit.services\n"
        "from ..products import selectors\n"
        "from . import forms\n"
        "def f():\n"
        "    from vulndesk.intake.views import tracking_view\n"
    )
    assert _apps_imported_by(source, "vulndesk.reports.views") == {"audit", "products", "reports", "intake"}
    assert _apps_imported_by("from .management import x", "vulndesk.core", is_package=True) == {"core"}
    assert {"core", "organisations", "products", "accounts"} <= _imported_apps(PACKAGE / "reports" / "views.py")


# --- (f) state-changing URLs refuse GET ----------------------------------------------------------------

def _member_routes():
    return [route for route in _routes() if route.name.split(":")[0] in {"reports", "products"}]


def test_every_reports_and_products_view_declares_its_http_methods():
    undeclared = [route.name for route in _member_routes() if _allowed_methods(route.callback) is None]
    assert undeclared == []


POST_ONLY = sorted(route.name for route in _member_routes() if _allowed_methods(route.callback) == ["POST"])


def test_the_post_only_list_holds_the_state_changes():
    assert {"reports:transition", "reports:severity", "reports:assign", "reports:message", "products:create",
            "products:policy", "products:version_remove", "products:release_ship"} <= set(POST_ONLY)


@pytest.fixture
def world(db):
    from vulndesk.products.selectors import releases_for_product, supported_versions_for_product
    from vulndesk.products.services import release_plan

    organisation = make_organisation()
    product = make_product(organisation)
    add_versions(product)
    release_plan(product=product, version="2.5.0", planned_on=date(2030, 1, 15))
    owner = make_member(organisation, role="owner")
    return owner, {
        "organisation": organisation.slug,
        "product": product.slug,
        "number": make_report(product).report.number,
        "row_id": supported_versions_for_product(product=product)[0].pk,
        "release_id": releases_for_product(product=product)[0].pk,
    }


@pytest.mark.parametrize("name", POST_ONLY)
def test_state_changing_url_answers_get_with_405(client, world, name):
    owner, values = world
    route = next(route for route in _member_routes() if route.name == name)
    verified_login(client, owner.user)
    # require_POST answers before any lookup, so a URL argument no fixture knows gets a placeholder.
    kwargs = {key: values.get(key, 999_999 if isinstance(converter, IntConverter) else "placeholder")
              for key, converter in route.kwargs.items()}
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 405
