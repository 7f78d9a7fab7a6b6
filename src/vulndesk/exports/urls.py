from django.urls import path

from vulndesk.exports import views

app_name = "exports"

urlpatterns = [
    path("<str:identifier>/", views.export_panel_view, name="panel"),
    path("<str:identifier>/<slug:format>.json", views.export_download_view, name="download"),
]
