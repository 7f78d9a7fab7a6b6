from django.core.management.base import BaseCommand, CommandError

from vulndesk.audit.services import audit_record
from vulndesk.organisations import keys
from vulndesk.organisations.models import Organisation
from vulndesk.organisations.rotation import organisation_keys_rotate


class Command(BaseCommand):
    help = ("Manage encryption keys. 'rotate': give organisations a new data key and re-encrypt their reports, "
            "messages and attachments with it while vulndesk keeps running. 'rewrap': after putting a new key-"
            "encryption key first in VULNDESK_KEKS, re-wrap every data key with it (then the old KEK can go).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["rotate", "rewrap"],
                            help="rotate: new data keys and re-encryption; rewrap: data keys under the first KEK.")
        parser.add_argument("--organisation", help="Slug of one organisation (rotate; default: all).")
        parser.add_argument("--batch-size", type=int, default=500,
                            help="Rows re-encrypted per transaction (rotate; default: %(default)s).")
        parser.add_argument("--settle-seconds", type=float, default=keys.CURRENT_VERSION_TTL_SECONDS,
                            help="Wait this long before the final pass, so running processes switch keys.")

    def handle(self, *args, action, organisation, batch_size, settle_seconds, **options):
        if action == "rewrap":
            count = keys.kek_rewrap_all()
            keys.forget_cached_keys()
            audit_record(action="keys.rewrap", actor_label="cli", data={"rewrapped": count})
            self.stdout.write(self.style.SUCCESS(f"{count} data key(s) re-wrapped with the current KEK"))
            return
        organisations = Organisation.objects.order_by("slug")
        if organisation:
            organisations = organisations.filter(slug=organisation)
            if not organisations.exists():
                raise CommandError(f"No organisation with the slug {organisation!r}.")
        for org in organisations:
            result = organisation_keys_rotate(
                organisation_id=org.pk, settle_seconds=settle_seconds, batch_size=batch_size,
                progress=lambda line: self.stdout.write(f"  {line}"),
            )
            self.stdout.write(self.style.SUCCESS(
                f"{org.slug}: now on key version {result.new_version}; {result.resealed} item(s) re-encrypted; "
                f"retired {result.retired_versions or 'none'}"))
