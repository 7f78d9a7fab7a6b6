from django.apps import AppConfig


class PgpConfig(AppConfig):
    name = "vulndesk.pgp"
    label = "pgp"
    verbose_name = "OpenPGP"

    def ready(self):
        from vulndesk.organisations.sealing import SEALED_MODELS
        from vulndesk.pgp.models import MessageSecurity, OrganisationPgpKey, ReporterPgpKey
        from vulndesk.pgp.publication import public_key_url
        from vulndesk.public.security_txt import ENCRYPTION_KEY_URL_PROVIDERS

        # Key rotation re-seals the secret keys, reporters' keys and signer fingerprints.
        SEALED_MODELS.extend(m for m in (OrganisationPgpKey, ReporterPgpKey, MessageSecurity) if m not in SEALED_MODELS)
        # security.txt names the published key (RFC 9116 section 2.5.4, "Encryption").
        if public_key_url not in ENCRYPTION_KEY_URL_PROVIDERS:
            ENCRYPTION_KEY_URL_PROVIDERS.append(public_key_url)
