"""Secondary endpoints the SDKs call (spec section 3.6)."""

from __future__ import annotations

from flask import Blueprint

from ..models import iso
from .common import context


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/notification/company", view_func=notification_company)
    bp.add_url_rule("/rules", view_func=rules)


def notification_company():
    """An empty OneSignal ``app_id``, so iOS does not set up push."""
    with context() as ctx:
        return {
            "ID": 1,
            "created_at": iso(ctx.now()),
            "company_id": ctx.api_key,
            "app_id": "",
        }


def rules():
    """Android's (unused) rules call: no restrictions."""
    with context() as ctx:
        return {
            "CompanyID": ctx.api_key,
            "on_premise_url": "",
            "allowed_methods": [],
            "on_premise_deployment": {},
        }
