from django.urls import path

from vulndesk.prenotify import views

app_name = "prenotify"

STAFF = "o/<slug:organisation>/prenotify/"

urlpatterns = [
    path(STAFF + "contacts/", views.contacts_view, name="contacts"),
    path(STAFF + "contacts/new/", views.contact_add_view, name="contact_add"),
    path(STAFF + "contacts/<int:contact_id>/", views.contact_edit_view, name="contact_edit"),
    path(STAFF + "contacts/<int:contact_id>/remove/", views.contact_remove_view, name="contact_remove"),
    path(STAFF + "advisories/<slug:identifier>/", views.advisory_panel_view, name="advisory"),
    path(STAFF + "advisories/<slug:identifier>/send/", views.prenotification_send_view, name="send"),
    path(STAFF + "advisories/<slug:identifier>/links/<int:prenotification_id>/revoke/",
         views.prenotification_revoke_view, name="revoke"),
    # The token is the whole authorisation; the view refuses any other shape before a lookup.
    path("embargo/<str:token>/", views.embargo_view, name="embargo"),
]
