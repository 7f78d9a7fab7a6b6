"""The ``vulndesk`` command: every command of ours explains itself, the setup commands work end
to end, bad input is refused with a readable CommandError and leaves nothing behind, and
``demo`` is safe to run twice."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from tests.factories.core import make_report
from vulndesk.accounts.models import User
from vulndesk.audit.models import AuditEntry
from vulndesk.organisations.models import Membership, Organisation
from vulndesk.products.models import Product, SupportedVersion

VULNDESK = Path(sys.executable).parent / "vulndesk"
OUR_COMMANDS = {
    "serve": "start the web server",
    "demo": "Create the demo organisation",
    "scheduler": "Enqueue the periodic tasks",
    "sla_sweep": "Run the SLA sweep now",
    "create_organisation": "Create an organisation",
    "create_product": "Create a product",
    "create_user": "Create a staff user",
    "audit": "hash-chained audit trail",
}


@pytest.fixture(scope="module")
def cli_output(tmp_path_factory) -> dict[tuple[str, ...], subprocess.CompletedProcess]:
    """Run ``vulndesk`` as an installed user would (real settings, empty data directory), all
    invocations at once so the module stays fast."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "VULNDESK_ENV"}}
    env["VULNDESK_DATA_DIR"] = str(tmp_path_factory.mktemp("vulndesk-data"))
    invocations = [()] + [(command, "--help") for command in OUR_COMMANDS]
    running = {args: subprocess.Popen([str(VULNDESK), *args], env=env, text=True,  # noqa: S603
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for args in invocations}
    results = {}
    for args, process in running.items():
        stdout, stderr = process.communicate(timeout=60)
        results[args] = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize("command", sorted(OUR_COMMANDS))
def test_each_of_our_commands_prints_its_help(cli_output, command):
    result = cli_output[(command, "--help")]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: vulndesk {command}")
    assert OUR_COMMANDS[command] in " ".join(result.stdout.split())


def test_vulndesk_alone_lists_every_command_of_ours(cli_output):
    result = cli_output[()]
    assert result.returncode == 0, result.stderr
    assert "Type 'vulndesk help <subcommand>'" in result.stdout
    listed = set(re.findall(r"^    (\w+)$", result.stdout, re.MULTILINE))
    assert set(OUR_COMMANDS) <= listed


def _logs_in(email: str, password: str) -> User | None:
    """Through the real authentication backends (the lock-out backend wants a request)."""
    return authenticate(RequestFactory().post("/accounts/login/"), username=email, password=password)


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _password(output: str, label: str) -> str:
    match = re.search(rf"{label}:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def _organisation(slug="acme", *extra):
    return _call("create_organisation", slug, "--name", "Acme Corp", "--prefix", "ACME", *extra)


@pytest.mark.django_db
def test_organisation_product_and_owner_are_set_up_from_the_command_line():
    out = _organisation("acme", "--time-zone", "Europe/Oslo", "--holidays", "no")
    assert "Created organisation acme (Acme Corp)" in out
    out = _call("create_product", "acme", "shop", "--name", "Acme Shop", "--supported", "2.x", "--unsupported", "1.x")
    assert "Created product acme/shop" in out
    out = _call("create_user", "Owner@Example.org", "--name", "Olga Owner", "--organisation", "acme", "--role", "owner")
    assert "Created owner@example.org as owner of acme" in out
    password = _password(out, "One-time password")

    organisation = Organisation.objects.get(slug="acme")
    assert (organisation.reference_prefix, organisation.time_zone, organisation.holiday_country) == (
        "ACME", "Europe/Oslo", "NO")
    product = Product.objects.get(organisation=organisation, slug="shop")
    assert sorted(SupportedVersion.objects.filter(product=product).values_list("version_range", "is_supported")) == [
        ("1.x", False), ("2.x", True)]
    membership = Membership.objects.get(organisation=organisation, user__email="owner@example.org")
    assert membership.role == "owner"
    assert _logs_in("owner@example.org", password) == membership.user
    # The organisation works: a report gets a reference and deadlines in its calendar.
    assert make_report(product).report.reference == "ACME-1"


@pytest.mark.django_db
def test_create_user_without_an_organisation_creates_only_the_user():
    out = _call("create_user", "solo@example.org")
    assert "Created solo@example.org" in out
    assert _logs_in("solo@example.org", _password(out, "One-time password")) is not None
    assert not Membership.objects.exists()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Organisation, Product, SupportedVersion, User, Membership, AuditEntry)}


BAD_INPUT = {
    "unknown time zone": (("create_organisation", "beta", "--name", "Beta", "--prefix", "BETA",
                           "--time-zone", "Mars/Olympus"), "'Mars/Olympus' is not a known IANA time zone"),
    "unknown holiday country": (("create_organisation", "beta", "--name", "Beta", "--prefix", "BETA",
                                 "--holidays", "XX"), "'XX' is not a country code"),
    "unknown holiday region": (("create_organisation", "beta", "--name", "Beta", "--prefix", "BETA",
                                "--holidays", "DE", "--subdivision", "ZZ"), "holiday_subdivision: 'ZZ' is not a region"),
    "duplicate organisation slug": (("create_organisation", "acme", "--name", "Other", "--prefix", "OTHER"),
                                    "An organisation with the slug 'acme' already exists."),
    "malformed slug and prefix": (("create_organisation", "no spaces", "--name", "X", "--prefix", "x"),
                                  "slug: Enter a valid"),
    "unknown organisation for a product": (("create_product", "nope", "shop", "--name", "Shop"),
                                           "No organisation with the slug 'nope'."),
    "invalid version range": (("create_product", "acme", "shop", "--name", "Shop", "--supported", "2.x",
                               "--unsupported", ">=1.0,<<2"), "'>=1.0,<<2' is not a version range"),
    "duplicate product slug": (("create_product", "acme", "site", "--name", "Site again"),
                               "A product with the slug 'site' already exists in this organisation."),
    "unknown organisation for a user": (("create_user", "new@example.org", "--organisation", "nope"),
                                        "No organisation with the slug 'nope'."),
    "duplicate e-mail address": (("create_user", "TAKEN@example.org"),
                                 "A user with the e-mail address taken@example.org already exists."),
    "malformed e-mail address": (("create_user", "not-an-address", "--organisation", "acme"),
                                 "Enter a valid email address."),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_with_a_clear_message_and_creates_nothing(case):
    _organisation("acme")
    _call("create_product", "acme", "site", "--name", "Site")
    _call("create_user", "taken@example.org")
    before = _counts()
    args, message = BAD_INPUT[case]

    with pytest.raises(CommandError) as refused:
        _call(*args)

    assert message in str(refused.value)
    assert _counts() == before


@pytest.mark.django_db
def test_demo_creates_a_working_organisation_once_and_says_so_the_second_time():
    first = _call("demo")
    password = _password(first, "Password")
    assert _logs_in("admin@demo.example", password) is not None
    product = Product.objects.get(organisation__slug="demo", slug="demo-app")
    assert "/p/demo/demo-app/report/" in first
    # The demo mailbox files mail into the demo product.
    from vulndesk.mailintake.routing import route_for_recipient

    assert "security@demo.example" in first
    assert route_for_recipient("security@demo.example").product_id == product.pk
    before = _counts()

    second = _call("demo")

    assert "Demo organisation exists" in second
    assert "Password:" not in second
    assert _counts() == before
    assert _logs_in("admin@demo.example", password) is not None
    assert make_report(product).report.reference == "DEMO-1"


@pytest.mark.django_db
def test_demo_reset_password_prints_a_new_password_that_authenticates():
    old = _password(_call("demo"), "Password")

    new = _password(_call("demo", "--reset-password"), "Password")

    assert new != old
    assert _logs_in("admin@demo.example", new) is not None
    assert _logs_in("admin@demo.example", old) is None


def test_every_option_of_every_command_of_ours_is_explained():
    """`--help` is the manual: each of our commands says what it does and each of its own
    arguments says what it means (Django's common options are explained by Django)."""
    from django.core.management import get_commands, load_command_class

    common = {"help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color",
              "force_color", "skip_checks"}
    ours = {name: app for name, app in get_commands().items() if app.startswith("vulndesk")}
    assert set(OUR_COMMANDS) <= set(ours)
    unexplained = []
    for name, app in sorted(ours.items()):
        command = load_command_class(app, name)
        if not command.help.strip():
            unexplained.append(f"{name}: no description")
        parser = command.create_parser("vulndesk", name)
        for action in parser._actions:
            if action.dest not in common and not (action.help or "").strip():
                unexplained.append(f"{name}: {action.dest}")
    assert unexplained == []
