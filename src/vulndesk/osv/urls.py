from django.urls import path

from vulndesk.osv import views

app_name = "osv"

urlpatterns = [
    path("vulns/<str:vuln_id>", views.OsvVulnerabilityApi.as_view(), name="vulnerability"),
    path("query", views.OsvQueryApi.as_view(), name="query"),
    path("querybatch", views.OsvQueryBatchApi.as_view(), name="querybatch"),
]
