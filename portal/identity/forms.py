"""The sign-in pages' HTML forms, bound by Litestar (every field optional: a browser may leave one out)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.enums import RequestEncodingType
from litestar.params import Body


class PasswordForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    next: str = ""


class SsoEmailForm(msgspec.Struct):
    sso_email: str = ""
    next: str = ""
    tenant: str = ""


class NextForm(msgspec.Struct):
    next: str = ""


class TenantForm(msgspec.Struct):
    slug: str = ""


class CodeForm(msgspec.Struct):
    code: str = ""


PasswordData = Annotated[PasswordForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
SsoEmailData = Annotated[SsoEmailForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
NextData = Annotated[NextForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
TenantData = Annotated[TenantForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
CodeData = Annotated[CodeForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
