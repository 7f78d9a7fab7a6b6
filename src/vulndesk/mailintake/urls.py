from django.urls import path

from vulndesk.mailintake import views

app_name = "mailintake"

# Staff pages live under /o/<organisation>/mail/ (included at the root by the site's URLconf).
urlpatterns = [
    path("o/<slug:organisation>/mail/", views.mail_inbox_view, name="inbox"),
    path("o/<slug:organisation>/mail/messages/<int:message_id>/", views.mail_message_view, name="message"),
    path("o/<slug:organisation>/mail/messages/<int:message_id>/original/", views.mail_original_view,
         name="original"),
    path("o/<slug:organisation>/mail/messages/<int:message_id>/approve/", views.mail_approve_view, name="approve"),
    path("o/<slug:organisation>/mail/messages/<int:message_id>/reject/", views.mail_reject_view, name="reject"),
    path("o/<slug:organisation>/mail/messages/<int:message_id>/convert/", views.mail_convert_view, name="convert"),
    path("o/<slug:organisation>/mail/addresses/", views.mail_addresses_view, name="addresses"),
    path("o/<slug:organisation>/mail/addresses/new/", views.mail_address_add_view, name="address_add"),
    path("o/<slug:organisation>/mail/addresses/<int:address_id>/deactivate/", views.mail_address_deactivate_view,
         name="address_deactivate"),
    path("o/<slug:organisation>/mail/reports/<int:number>/", views.report_mail_view, name="report_mail"),
]
