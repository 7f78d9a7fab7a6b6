from django import forms

from vulndesk.organisations.models import Role

ASSIGNABLE_ROLES = [(value, label) for value, label in Role.choices]


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    name = forms.CharField(label="Name", max_length=150, required=False)
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES, initial=Role.TRIAGER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=ASSIGNABLE_ROLES)


class MemberProductsForm(forms.Form):
    products = forms.TypedMultipleChoiceField(label="Products", coerce=int, required=False, choices=[],
                                              help_text="None selected: all products.")

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["products"].choices = [(p.pk, p.name) for p in products]
