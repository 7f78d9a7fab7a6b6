"""Rate limit of the public OSV API: per client IP, on the shared database counters.

The limit is ``settings.RATE_LIMITS["osv"]``; until that entry exists the default below
applies. A querybatch counts as one request (it is one statement per kind of query).
"""

import os

from django.conf import settings

from vulndesk.core.ratelimit import ScopedRateThrottle, client_ip, rate_limit_hit

# 1,200 requests a minute per IP: a scanner in CI sends one querybatch per lock file, and many
# runners share one NAT address; a script enumerating vulns/<id> one by one is still slowed.
# RATE_LIMIT_OSV_PER_MINUTE is the variable the settings entry is meant to read too.
DEFAULT_OSV_RATE = (int(os.environ.get("RATE_LIMIT_OSV_PER_MINUTE", "1200")), 60)


class OsvRateThrottle(ScopedRateThrottle):
    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", "osv")
        limit, window = settings.RATE_LIMITS.get(scope, DEFAULT_OSV_RATE)
        decision = rate_limit_hit(scope=scope, ident=f"ip:{client_ip(request)}", limit=limit, window=window)
        self._wait = decision.retry_after
        return decision.allowed
