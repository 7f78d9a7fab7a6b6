"""security.txt (RFC 9116), parsed field by field as a reader would, for each way an
organisation is chosen: its own host name, the only organisation, or its slug."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, make_product
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.products.services import product_update
from vulndesk.public import security_txt
from vulndesk.public.services import public_site_add, public_site_remove

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FIELD = re.compile(r"^([A-Za-z0-9-]+): (\S.*)$")
KNOWN = {"acknowledgments", "canonical", "contact", "encryption", "expires", "hiring", "policy",
         "preferred-languages", "csaf"}


def parse_security_txt(text: str) -> dict[str, list[str]]:
    """RFC 9116 section 4 ABNF, the parts we emit: field lines and comments, LF line ends."""
    assert text.endswith("\n")
    fields: dict[str, list[str]] = {}
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if not line or line.startswith("#"):
            continue
        match = FIELD.match(line)
        assert match, f"line {number} is not 'Field: value': {line!r}"
        name, value = match.group(1).lower(), match.group(2)
        assert name in KNOWN, name
        fields.setdefault(name, []).append(value)
    return fields


def fetch(client, url, host="testserver"):
    response = client.get(url, secure=True, HTTP_HOST=host)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return parse_security_txt(response.content.decode())


def assert_valid(fields: dict, url: str, now: datetime):
    assert len(fields.get("contact", [])) >= 1
    assert all(uri.startswith(("https://", "mailto:")) for uri in fields["contact"])
    assert len(fields["expires"]) == 1 and RFC3339.match(fields["expires"][0])
    expires = datetime.fromisoformat(fields["expires"][0].replace("Z", "+00:00"))
    assert now < expires <= now + timedelta(days=365)
    assert len(fields.get("preferred-languages", [])) <= 1
    assert url in fields["canonical"]
    for name in ("canonical", "policy", "acknowledgments", "encryption"):
        assert all(uri.startswith("https://") for uri in fields.get(name, [])), name


@pytest.fixture
def single(frozen_clock, db):
    organisation = make_organisation(name="Acme", slug="acme", security_contact_email="security@acme.example")
    product = make_product(organisation, name="Acme Web", slug="web")
    return organisation, product


def test_a_single_organisation_installation_serves_its_security_txt(client, single, frozen_clock):
    organisation, product = single
    fields = fetch(client, "/.well-known/security.txt")
    assert_valid(fields, "https://testserver/.well-known/security.txt", frozen_clock.now)
    assert fields["contact"] == ["https://testserver/p/acme/web/report/", "mailto:security@acme.example"]
    assert fields["expires"] == ["2027-11-23T00:00:00Z"]
    assert fields["acknowledgments"] == ["https://testserver/advisories/acme/"]
    assert fields["preferred-languages"] == ["en"]
    assert fields["policy"] == ["https://testserver/products/acme/web/SECURITY.md"]
    assert "https://testserver/advisories/acme/security.txt" in fields["canonical"]
    assert "encryption" not in fields


def test_every_url_in_security_txt_answers(client, single):
    fields = fetch(client, "/.well-known/security.txt")
    for uri in fields["contact"][:1] + fields["acknowledgments"] + fields["policy"] + fields["canonical"]:
        path = uri.removeprefix("https://testserver")
        assert client.get(path, secure=True).status_code == 200, uri


def test_the_host_name_chooses_the_organisation(client, settings, single, frozen_clock):
    settings.ALLOWED_HOSTS = ["testserver", "security.beta.example"]
    beta = make_organisation(name="Beta", slug="beta", security_contact_email="psirt@beta.example")
    make_product(beta, slug="app")
    public_site_add(organisation=beta, hostname="Security.Beta.Example")
    fields = fetch(client, "/.well-known/security.txt", host="security.beta.example")
    assert_valid(fields, "https://security.beta.example/.well-known/security.txt", frozen_clock.now)
    assert fields["contact"] == ["https://security.beta.example/p/beta/app/report/", "mailto:psirt@beta.example"]
    assert fields["acknowledgments"] == ["https://security.beta.example/advisories/beta/"]
    # Two organisations and no host name of its own: nobody's security.txt.
    assert client.get("/.well-known/security.txt", secure=True).status_code == 404


def test_the_organisation_path_serves_it_too_and_names_every_canonical_url(client, settings, single, frozen_clock):
    organisation, _ = single
    make_organisation()
    public_site_add(organisation=organisation, hostname="security.acme.example")
    url = reverse("public:organisation_security_txt", kwargs={"organisation": "acme"})
    fields = fetch(client, url)
    assert_valid(fields, f"https://testserver{url}", frozen_clock.now)
    assert fields["canonical"] == [f"https://testserver{url}", "https://security.acme.example/.well-known/security.txt"]


def test_several_products_point_contact_at_the_product_chooser_and_list_each_policy(client, single):
    organisation, _ = single
    make_product(organisation, name="Acme API", slug="api")
    fields = fetch(client, "/.well-known/security.txt")
    assert fields["contact"] == ["https://testserver/products/acme/", "mailto:security@acme.example"]
    assert sorted(fields["policy"]) == ["https://testserver/products/acme/api/SECURITY.md",
                                        "https://testserver/products/acme/web/SECURITY.md"]


def test_the_encryption_hook_adds_the_key_url(client, single):
    def pgp_key_url(organisation):
        return f"https://keys.example/{organisation.slug}.asc"

    security_txt.ENCRYPTION_KEY_URL_PROVIDERS.append(pgp_key_url)
    try:
        fields = fetch(client, "/.well-known/security.txt")
    finally:
        security_txt.ENCRYPTION_KEY_URL_PROVIDERS.remove(pgp_key_url)
    assert fields["encryption"] == ["https://keys.example/acme.asc"]


def test_an_organisation_without_any_contact_has_no_security_txt(client, frozen_clock, db):
    organisation = make_organisation()
    product = make_product(organisation)
    owner = make_member(organisation, role="owner")
    product_update(product=product, actor=owner, accepts_reports=False)
    assert client.get("/.well-known/security.txt", secure=True).status_code == 404


def test_a_line_break_in_the_organisation_name_cannot_add_a_field(client, frozen_clock, db):
    make_organisation(name="Evil\nContact: mailto:attacker@evil.example", security_contact_email="s@good.example")
    fields = fetch(client, "/.well-known/security.txt")
    assert fields["contact"] == ["mailto:s@good.example"]


def test_expires_is_a_year_ahead_at_the_start_of_the_day():
    now = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert security_txt.security_txt_expires(now) == datetime(2027, 3, 1, tzinfo=UTC)


def test_public_site_hostnames_are_checked_and_only_settings_roles_change_them(frozen_clock, organisation, owner,
                                                                               triager):
    with pytest.raises(DomainError):
        public_site_add(organisation=organisation, hostname="https://bad/", actor=owner)
    with pytest.raises(NotAllowed):
        public_site_add(organisation=organisation, hostname="ok.example", actor=triager)
    with pytest.raises(NotFound):
        public_site_add(organisation=make_organisation(), hostname="ok.example", actor=owner)
    site = public_site_add(organisation=organisation, hostname="ok.example.", actor=owner)
    assert site.hostname == "ok.example"
    with pytest.raises(Conflict):
        public_site_add(organisation=organisation, hostname="OK.example", actor=owner)
    public_site_remove(site=site, actor=owner)
