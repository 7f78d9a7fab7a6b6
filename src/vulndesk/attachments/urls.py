from django.urls import path

from vulndesk.attachments import views

app_name = "attachments"

urlpatterns = [
    path("o/<slug:organisation>/reports/<int:number>/attachments/", views.attachment_upload_view, name="upload"),
    path("o/<slug:organisation>/reports/<int:number>/attachments/<int:attachment_id>/",
         views.attachment_download_view, name="download"),
    path("track/<str:token>/attachments/", views.tracking_attachment_upload_view, name="tracking_upload"),
    path("track/<str:token>/attachments/<int:attachment_id>/", views.tracking_attachment_download_view,
         name="tracking_download"),
]
