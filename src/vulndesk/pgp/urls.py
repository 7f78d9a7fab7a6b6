"""OpenPGP URLs, included at the root: the staff settings page under /o/<organisation>/pgp/, the
published key beside the organisation's security.txt, and the Web Key Directory."""

from django.urls import path

from vulndesk.pgp import views

app_name = "pgp"

urlpatterns = [
    path("o/<slug:organisation>/pgp/", views.pgp_settings_view, name="settings"),
    path("o/<slug:organisation>/pgp/generate/", views.pgp_key_generate_view, name="generate"),
    path("o/<slug:organisation>/pgp/import/", views.pgp_key_import_view, name="import"),
    path("o/<slug:organisation>/pgp/retire/", views.pgp_key_retire_view, name="retire"),
    path("advisories/<slug:organisation>/pgp-key.txt", views.public_key_view, name="public_key"),
    path(".well-known/openpgpkey/policy", views.wkd_policy_view, name="wkd_policy"),
    path(".well-known/openpgpkey/hu/<str:hashed>", views.wkd_key_view, name="wkd_key"),
]
