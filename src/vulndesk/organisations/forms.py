from django import forms
from django.contrib.auth.forms import SetPasswordForm
from django.core.validators import MaxLengthValidator

from vulndesk.organisations.models import Role

PASSWORD_MAX_CHARS = 1000
ASSIGNABLE_ROLES = [(value, label) for value, label in Role.choices]


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    name = forms.CharField(label="Name", max_length=150, required=False,
                           help_text="For a new account; people who already have one keep their own name.")
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES, initial=Role.TRIAGER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES)


class MemberProductsForm(forms.Form):
    products = forms.TypedMultipleChoiceField(label="Products", coerce=int, required=False, choices=[],
                                              help_text="None selected: all products.")

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = [(p.pk, p.name) for p in products]


class InvitationPasswordForm(SetPasswordForm):
    """Django's set-password form (every AUTH_PASSWORD_VALIDATORS rule), with the rules said in
    one plain sentence instead of the validators' HTML list."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "New password"
        self.fields["new_password1"].help_text = ("At least 15 characters, not a common password, not only digits and "
                                                  "not like your e-mail address. A passphrase of a few words works well.")
        # ASVS V6.2.9 wants at least 64 characters allowed; far more only makes the hash work longer.
        self.fields["new_password1"].validators.append(MaxLengthValidator(PASSWORD_MAX_CHARS))
        self.fields["new_password2"].label = "The same password again"
        self.fields["new_password2"].help_text = ""
