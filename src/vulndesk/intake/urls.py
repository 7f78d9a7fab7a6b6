from django.urls import path

from vulndesk.intake import views

app_name = "intake"

urlpatterns = [
    path("p/<slug:organisation>/<slug:product>/report/", views.report_form_view, name="report_form"),
    path("track/<str:token>/", views.tracking_view, name="tracking"),
    path("track/<str:token>/messages/", views.tracking_message_view, name="tracking_message"),
]
