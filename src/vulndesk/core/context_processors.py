def csp_nonce(request):
    """django-htmx's ``{% htmx_script %}`` reads ``csp_nonce`` (lower case); django-csp only
    offers ``CSP_NONCE``. Reading the nonce lazily keeps it out of pages that have no script."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
