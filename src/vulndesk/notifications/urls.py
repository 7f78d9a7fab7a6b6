from django.urls import path

from vulndesk.notifications import views

app_name = "notifications"

# Included at "" by the root URLconf: public pages under /subscriptions/, staff under /o/<organisation>/.
urlpatterns = [
    path("subscriptions/confirm/<str:token>/", views.confirm_view, name="confirm"),
    path("subscriptions/unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("subscriptions/<slug:organisation>/", views.subscribe_view, name="subscribe"),
    path("subscriptions/<slug:organisation>/products/<slug:product>/", views.subscribe_view,
         name="subscribe_product"),
    path("o/<slug:organisation>/notifications/", views.notifications_view, name="overview"),
    path("o/<slug:organisation>/notifications/webhooks/", views.webhook_create_view, name="webhook_create"),
    path("o/<slug:organisation>/notifications/webhooks/<int:webhook_id>/", views.webhook_view, name="webhook"),
    path("o/<slug:organisation>/notifications/webhooks/<int:webhook_id>/edit/", views.webhook_update_view,
         name="webhook_update"),
    path("o/<slug:organisation>/notifications/webhooks/<int:webhook_id>/secret/", views.webhook_rotate_view,
         name="webhook_rotate"),
    path("o/<slug:organisation>/notifications/webhooks/<int:webhook_id>/delete/", views.webhook_delete_view,
         name="webhook_delete"),
    path("o/<slug:organisation>/notifications/deliveries/", views.deliveries_view, name="deliveries"),
    path("o/<slug:organisation>/notifications/deliveries/<int:delivery_id>/", views.delivery_view,
         name="delivery"),
    path("o/<slug:organisation>/notifications/deliveries/<int:delivery_id>/retry/", views.delivery_retry_view,
         name="delivery_retry"),
]
