"""Login, two-factor verification and enrolment. Public in the sense that no membership is
needed; each checks authentication itself. Login failures are counted by django-axes, which
locks an account or an address out after repeated failures."""

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import match_token

from vulndesk.accounts import twofactor
from vulndesk.accounts.forms import LoginForm, OneTimeCodeForm, TotpConfirmForm
from vulndesk.audit.services import audit_record
from vulndesk.core.errors import DomainError
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import rate_limited


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_success_url(self):
        # Password is only the first step: the second factor comes next, keeping "next".
        from django.urls import reverse

        target = _safe_next(self.request)
        # Encoded, so a target with its own query string ("?state=all&severity=high") survives whole.
        return reverse("accounts:two_factor") + (f"?{urlencode({'next': target})}" if target != "/" else "")


# Per-IP rate limit on top of django-axes' per-account and per-address lock-out.
login_view = public_view(rate_limited("login")(LoginView.as_view()))


def lockout_view(request, credentials=None, *args, **kwargs):
    """django-axes calls this when an account or address is locked out."""
    cooloff = settings.AXES_COOLOFF_TIME
    minutes = int(cooloff.total_seconds() // 60) if cooloff else None
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": {"code": "locked_out", "message": (
            "Too many failed logins for this account from this address. "
            + (f"Try again in {minutes} minutes." if minutes else "Ask an owner to unlock it."))}}, status=429)
        if minutes:
            response["Retry-After"] = str(minutes * 60)
        return response
    response = render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response


@public_view
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_view(request):
    """Verify the second factor; users without a confirmed device are sent to enrolment."""
    user = request.user
    if twofactor.totp_confirmed_device(user) is None:
        return redirect("accounts:two_factor_setup")
    if user.is_verified():
        return redirect(_safe_next(request))
    form = OneTimeCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device = match_token(user, form.cleaned_data["code"].replace(" ", ""))
        ip = request.META.get("REMOTE_ADDR")
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()  # a new session id for the new privilege (ASVS V7.2.4)
            used_recovery = device.__class__.__name__ == "RecoveryCodeDevice"
            audit_record(action="auth.2fa_verified", actor_id=user.pk, actor_label=user.email, ip_address=ip,
                         data={"method": "recovery_code" if used_recovery else "totp"})
            if used_recovery:
                flash.warning(request, f"You used a recovery code; {twofactor.recovery_codes_left(user=user)} left.")
            return redirect(_safe_next(request))
        audit_record(action="auth.2fa_failed", actor_id=user.pk, actor_label=user.email, ip_address=ip)
        form.add_error("code", "That code is not valid. Use the current code from your app, or a recovery code.")
    return render(request, "accounts/two_factor.html", {"form": form, "next": _safe_next(request, "")},
                  status=422 if form.errors else 200)


@public_view
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup_view(request):
    """Enrol an authenticator app. Mandatory for every staff user before any report is shown."""
    user = request.user
    if twofactor.totp_confirmed_device(user) is not None and not user.is_verified():
        return redirect("accounts:two_factor")  # re-enrolling needs the current second factor first
    device = twofactor.totp_enrolment_start(user=user)
    form = TotpConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.totp_enrolment_confirm(user=user, device=device, code=form.cleaned_data["code"],
                                                     ip_address=request.META.get("REMOTE_ADDR"))
        except DomainError as error:
            form.add_error("code", error.message)
        else:
            otp_login(request, device)
            request.session.cycle_key()  # a new session id for the new privilege (ASVS V7.2.4)
            response = render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _safe_next(request)})
            response["Cache-Control"] = "no-store"
            return response
    context = {
        "form": form, "qr": twofactor.totp_qr_data_uri(device), "secret": twofactor.totp_secret_text(device),
        "next": _safe_next(request, ""),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=422 if form.errors else 200)
