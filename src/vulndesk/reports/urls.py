from django.urls import path

from vulndesk.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.queue_view, name="queue"),
    path("cvss-preview/", views.cvss_preview_view, name="cvss_preview"),
    path("<int:number>/", views.report_detail_view, name="detail"),
    path("<int:number>/transition/", views.report_transition_view, name="transition"),
    path("<int:number>/severity/", views.report_severity_view, name="severity"),
    path("<int:number>/assign/", views.report_assign_view, name="assign"),
    path("<int:number>/messages/", views.report_message_view, name="message"),
    path("<int:number>/disclosure/", views.report_disclosure_extend_view, name="disclosure"),
]
