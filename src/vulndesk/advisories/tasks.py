"""Background tasks for advisories; each is idempotent."""

from django_tasks import task

from vulndesk.advisories.services import advisories_publish_due


@task()
def publish_due_advisories() -> list[str]:
    """Publish scheduled advisories whose embargo has passed (run every minute)."""
    return advisories_publish_due()
