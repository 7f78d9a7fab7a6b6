from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from vulndesk.core import views as core_views
from vulndesk.core.public import public_view

schema_view = public_view(SpectacularAPIView.as_view())
# Swagger UI sets inline styles; allowed on this one page, which shows no user data.
docs_view = public_view(csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")))

urlpatterns = [
    path("", include("vulndesk.organisations.urls")),
    path("accounts/", include("vulndesk.accounts.urls")),
    path("o/<slug:organisation>/reports/", include("vulndesk.reports.urls")),
    path("o/<slug:organisation>/products/", include("vulndesk.products.urls")),
    path("api/v1/auth/", include("vulndesk.accounts.api.urls")),
    path("api/v1/organisations/<slug:organisation>/reports/", include("vulndesk.reports.api.urls")),
    path("o/<slug:organisation>/advisories/", include("vulndesk.advisories.urls")),
    path("o/<slug:organisation>/exports/", include("vulndesk.exports.urls")),
    path("o/<slug:organisation>/cve/", include("vulndesk.cve.urls")),
    path("api/osv/v1/", include("vulndesk.osv.urls")),
    path("", include("vulndesk.notifications.urls")),
    path("", include("vulndesk.prenotify.urls")),
    path("", include("vulndesk.mailintake.urls")),
    path("", include("vulndesk.pgp.urls")),
    path("", include("vulndesk.public.urls")),
    path("api/schema/", schema_view, name="api-schema"),
    path("api/docs/", docs_view, name="api-docs"),
    path("healthz", core_views.health_view, name="health"),
    path("", include("vulndesk.attachments.urls")),
    path("", include("vulndesk.intake.urls")),
]

handler404 = "vulndesk.core.views.not_found_view"
handler500 = "vulndesk.core.views.server_error_view"
handler403 = "vulndesk.core.views.forbidden_view"
handler400 = "vulndesk.core.views.bad_request_view"
