"""OpenAPI descriptions of our authentication classes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class FamilyJWTScheme(OpenApiAuthenticationExtension):
    target_class = "vulndesk.accounts.jwt.FamilyJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "Access token from POST /api/v1/auth/token/ (password + one-time code).",
        }


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "vulndesk.accounts.api_tokens.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "Personal API token for CI: `Token vd_…` (one product, one permission).",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "vulndesk.accounts.authentication.VerifiedSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": "A browser session that passed the second factor (unsafe methods need X-CSRFToken).",
        }
