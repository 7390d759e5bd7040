"""How customers, sites, contacts and equipment read in their history: the labels of
their forms."""

from fieldsvc.audit.wording import Wording, form_labels, register
from fieldsvc.customers import forms
from fieldsvc.customers.models import Contact, Customer, Equipment, Site

ACTIVE = {"active": "Active"}

register(Customer, Wording(noun="customer", labels=form_labels(forms.EditCustomerForm) | ACTIVE))
register(Site, Wording(noun="site", labels=form_labels(forms.EditSiteForm) | ACTIVE))
register(Contact, Wording(noun="contact", labels=form_labels(forms.EditContactForm) | ACTIVE))
register(Equipment, Wording(noun="equipment", labels=form_labels(forms.EditEquipmentForm) | ACTIVE))
