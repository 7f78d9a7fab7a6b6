from django.urls import path

from vulndesk.cve import views

app_name = "cve"

urlpatterns = [
    path("settings/", views.cna_settings_view, name="settings"),
    path("settings/save/", views.cna_settings_save_view, name="settings_save"),
    path("settings/check/", views.cna_settings_check_view, name="settings_check"),
    path("advisories/<str:identifier>/", views.cve_panel_view, name="panel"),
    path("advisories/<str:identifier>/reserve/", views.cve_reserve_view, name="reserve"),
    path("advisories/<str:identifier>/publish/", views.cve_publish_view, name="publish"),
    path("advisories/<str:identifier>/update/", views.cve_update_view, name="update"),
    path("advisories/<str:identifier>/reject/", views.cve_reject_view, name="reject"),
    path("advisories/<str:identifier>/assigned-elsewhere/", views.cve_record_elsewhere_view, name="record_elsewhere"),
]
