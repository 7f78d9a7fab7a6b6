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
    path("o/<slug:organisation>/mail/messages/<int:message_id>/reopen/", views.mail_reopen_view, name="reopen"),
    path("o/<slug:organisation>/mail/addresses/", views.mail_addresses_view, name="addresses"),
    path("o/<slug:organisation>/mail/addresses/new/", views.mail_address_add_view, name="address_add"),
    path("o/<slug:organisation>/mail/addresses/<int:address_id>/deactivate/", views.mail_address_deactivate_view,
         name="address_deactivate"),
    path("o/<slug:organisation>/mail/mailboxes/new/", views.mail_imap_add_view, name="imap_add"),
    path("o/<slug:organisation>/mail/mailboxes/<int:mailbox_id>/", views.mail_imap_edit_view, name="imap_edit"),
    path("o/<slug:organisation>/mail/mailboxes/<int:mailbox_id>/disable/", views.mail_imap_disable_view,
         name="imap_disable"),
    path("o/<slug:organisation>/mail/mailboxes/<int:mailbox_id>/enable/", views.mail_imap_enable_view,
         name="imap_enable"),
    path("o/<slug:organisation>/mail/mailboxes/<int:mailbox_id>/check/", views.mail_imap_check_view,
         name="imap_check"),
    path("o/<slug:organisation>/mail/mailboxes/<int:mailbox_id>/poll/", views.mail_imap_poll_view, name="imap_poll"),
    path("o/<slug:organisation>/mail/reports/<int:number>/", views.report_mail_view, name="report_mail"),
]
