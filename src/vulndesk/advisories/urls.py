from django.urls import path

from vulndesk.advisories import views

app_name = "advisories"

urlpatterns = [
    path("", views.advisory_list_view, name="list"),
    path("new/", views.advisory_create_view, name="create"),
    path("preview/", views.markdown_preview_view, name="preview"),
    path("<str:identifier>/", views.advisory_detail_view, name="detail"),
    path("<str:identifier>/update/", views.advisory_update_view, name="update"),
    path("<str:identifier>/affected/", views.advisory_affected_view, name="affected"),
    path("<str:identifier>/transition/", views.advisory_transition_view, name="transition"),
    path("<str:identifier>/withdraw/", views.advisory_withdraw_view, name="withdraw"),
]
