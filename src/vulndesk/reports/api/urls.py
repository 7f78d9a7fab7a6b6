from django.urls import path

from vulndesk.reports.api import views

urlpatterns = [
    path("", views.ReportListCreateApi.as_view(), name="api_reports"),
    path("batch/", views.ReportBatchCreateApi.as_view(), name="api_reports_batch"),
    path("<int:number>/", views.ReportDetailApi.as_view(), name="api_report"),
    path("<int:number>/transition/", views.ReportTransitionApi.as_view(), name="api_report_transition"),
    path("<int:number>/severity/", views.ReportSeverityApi.as_view(), name="api_report_severity"),
    path("<int:number>/assignee/", views.ReportAssigneeApi.as_view(), name="api_report_assignee"),
    path("<int:number>/timeline/", views.ReportTimelineApi.as_view(), name="api_report_timeline"),
    path("<int:number>/messages/", views.ReportMessagesApi.as_view(), name="api_report_messages"),
]
