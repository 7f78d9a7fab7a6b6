"""Plumbing tables only (no domain data)."""

from django.db import models


class RateCounter(models.Model):
    """One fixed-window counter of the rate limiter. Keys hold a scope and a hash of the client
    identity (IP address or account), never the identity itself."""

    key = models.CharField(max_length=100)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="rate_counter_window")]
        indexes = [models.Index(fields=["window_start"], name="rate_counter_age")]
