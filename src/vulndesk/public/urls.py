"""Public URLs, included at the root. Every path starts with a prefix no other app uses
(advisories/, feeds/, products/, .well-known/), so the include order cannot shadow them."""

from django.urls import path

from vulndesk.public import views

app_name = "public"

urlpatterns = [
    path(".well-known/security.txt", views.security_txt_view, name="security_txt"),
    path("advisories/<slug:organisation>/", views.advisories_view, name="advisories"),
    path("advisories/<slug:organisation>/security.txt", views.organisation_security_txt_view,
         name="organisation_security_txt"),
    path("advisories/<slug:organisation>/<str:identifier>/", views.advisory_view, name="advisory"),
    path("feeds/<slug:organisation>.atom", views.feed_view, name="feed"),
    path("feeds/<slug:organisation>/<slug:product>.atom", views.feed_view, name="product_feed"),
    path("products/<slug:organisation>/", views.products_view, name="products"),
    path("products/<slug:organisation>/<slug:product>/", views.product_view, name="product"),
    path("products/<slug:organisation>/<slug:product>/advisories/", views.product_advisories_view,
         name="product_advisories"),
    path("products/<slug:organisation>/<slug:product>/SECURITY.md", views.product_security_md_view,
         name="product_security_md"),
]
