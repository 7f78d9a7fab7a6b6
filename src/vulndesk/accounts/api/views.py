"""Token endpoints: obtain (password + one-time code), refresh (rotating), logout (revoke)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from vulndesk.accounts import jwt
from vulndesk.core.public import public_view


class TokenObtainInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    otp = serializers.CharField(max_length=40, help_text="Current TOTP code, or a recovery code.")


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


TokenPairOutput = inline_serializer("TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()})


class _PublicTokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth_token"

    def get_authenticate_header(self, request):
        # Without authentication classes DRF turns a refused login into 403; a bad password,
        # code or refresh token is 401 with a challenge (RFC 9110, 15.5.2).
        return 'Bearer realm="api"'


@public_view
class TokenObtainApi(_PublicTokenApi):
    @extend_schema(request=TokenObtainInput, responses={200: TokenPairOutput}, operation_id="auth_token_obtain",
                   auth=[])
    def post(self, request):
        data = TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        pair = jwt.tokens_obtain(request=request._request, email=data.validated_data["email"],
                                 password=data.validated_data["password"], otp_code=data.validated_data["otp"])
        return Response(pair)


@public_view
class TokenRefreshApi(_PublicTokenApi):
    @extend_schema(request=RefreshInput, responses={200: TokenPairOutput}, operation_id="auth_token_refresh", auth=[])
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(jwt.tokens_refresh(raw_refresh=data.validated_data["refresh"],
                                           ip_address=request.META.get("REMOTE_ADDR")))


@public_view
class TokenLogoutApi(_PublicTokenApi):
    @extend_schema(request=RefreshInput, responses={204: None}, operation_id="auth_token_logout", auth=[])
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        jwt.tokens_logout(raw_refresh=data.validated_data["refresh"], ip_address=request.META.get("REMOTE_ADDR"))
        return Response(status=status.HTTP_204_NO_CONTENT)
