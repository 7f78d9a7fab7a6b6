"""The register of deliberately public views (no membership needed).

tests/architecture walks every URL and fails on a view that is neither guarded by
``organisations.access.member_view`` nor registered here, so a forgotten check cannot ship."""

PUBLIC_VIEWS: set[str] = set()


def public_view(view):
    """Mark a view as deliberately public (reporter side, login, health, schema).

    Works on functions, on classes and on ``as_view()`` results: a class-based view is keyed by
    its class, since every ``as_view()`` function of a module shares one qualname."""
    target = getattr(view, "view_class", view)
    PUBLIC_VIEWS.add(f"{target.__module__}.{target.__qualname__}")
    return view
