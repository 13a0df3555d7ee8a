"""Token authentication that loads the caller's project membership in the same query.

Same header as DRF's TokenAuthentication (`Authorization: Token <secret>`, the same 401s), but
tokens are core.models.ApiToken: the secret's SHA-256 digest is looked up, and the token, its
user and, for a URL with a `project_id`, the caller's membership of that project with the
project's queue settings come back from one query that also refuses expired tokens and
inactive users. The queue's `next` and submit then need no query of their own to find the
membership (annotation.services.queue). A token made before its user's last password change
is refused on the row that query returns (its password fingerprint no longer matches).
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from annotation.services.queue import (
    PRELOADED_ATTR,
    WORK_MEMBERSHIP_COLUMNS,
    WORK_MEMBERSHIP_JOIN,
    work_membership_from_row,
)
from core.models import ApiToken
from core.tokens import password_fingerprint, token_digest

# In the model's field order (Model.from_db takes a partial row in that order); not the digest.
TOKEN_FIELDS = [f.attname for f in ApiToken._meta.concrete_fields if f.name != "digest"]


class _Sql:
    """The statements, built once per process from the models' tables and columns."""

    user_fields: list[str]
    plain: str
    with_membership: str

    def __init__(self) -> None:
        user = get_user_model()
        self.user_fields = [f.attname for f in user._meta.concrete_fields]
        columns = ", ".join(f"u.{f.column}" for f in user._meta.concrete_fields)
        token_columns = ", ".join(
            f"t.{f.column}" for f in ApiToken._meta.concrete_fields if f.attname in TOKEN_FIELDS
        )
        active = user._meta.get_field("is_active").column
        base = (
            f"SELECT {columns}, {token_columns}{{extra}} FROM {ApiToken._meta.db_table} t "
            f"JOIN {user._meta.db_table} u ON u.id = t.user_id{{join}} "
            f"WHERE t.digest = %s AND t.expires_at > %s AND u.{active}"
        )
        self.plain = base.format(extra="", join="")
        self.with_membership = base.format(
            extra=f", {WORK_MEMBERSHIP_COLUMNS}",
            join=f" LEFT JOIN ({WORK_MEMBERSHIP_JOIN}) ON m.user_id = u.id AND m.project_id = %s",
        )


@cache
def _statements() -> _Sql:
    return _Sql()


class ProjectTokenAuthentication(TokenAuthentication):
    def authenticate(self, request) -> tuple[Any, ApiToken] | None:
        self._project_id = _project_id(request)
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        sql = _statements()
        project_id = getattr(self, "_project_id", None)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            if project_id is None:
                cursor.execute(sql.plain, [token_digest(key), now])
            else:
                cursor.execute(sql.with_membership, [project_id, token_digest(key), now])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        n, k = len(sql.user_fields), len(TOKEN_FIELDS)
        user = get_user_model().from_db(connection.alias, sql.user_fields, row[:n])
        token = ApiToken.from_db(connection.alias, TOKEN_FIELDS, row[n : n + k])
        if not hmac.compare_digest(token.password_fingerprint, password_fingerprint(user.password)):
            # the password changed since the token was made
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if project_id is not None:
            setattr(user, PRELOADED_ATTR, (project_id, work_membership_from_row(row[n + k :])))
        token.user = user
        return user, token


def _project_id(request) -> int | None:
    context = getattr(request, "parser_context", None) or {}
    value = (context.get("kwargs") or {}).get("project_id")
    return value if isinstance(value, int) else None
