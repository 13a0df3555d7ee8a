"""Token authentication that loads the caller's project membership in the same query.

Same contract as DRF's TokenAuthentication (`Authorization: Token <key>`, the same 401s), but
the token, its user and, for a URL with a `project_id`, the caller's membership of that
project with the project's queue settings come back from one query: the queue's `next` and
submit then need no query of their own to find the membership (annotation.services.queue).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from annotation.services.queue import (
    PRELOADED_ATTR,
    WORK_MEMBERSHIP_COLUMNS,
    WORK_MEMBERSHIP_JOIN,
    work_membership_from_row,
)


class _Sql:
    """The statements, built once per process from the models' tables and columns."""

    user_fields: list[str]
    plain: str
    with_membership: str

    def __init__(self) -> None:
        user = get_user_model()
        self.user_fields = [f.attname for f in user._meta.concrete_fields]
        columns = ", ".join(f"u.{f.column}" for f in user._meta.concrete_fields)
        base = (
            f"SELECT {columns}, t.created{{extra}} FROM {Token._meta.db_table} t "
            f"JOIN {user._meta.db_table} u ON u.id = t.user_id{{join}} WHERE t.key = %s"
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
    def authenticate(self, request) -> tuple[Any, Token] | None:
        self._project_id = _project_id(request)
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        sql = _statements()
        project_id = getattr(self, "_project_id", None)
        with connection.cursor() as cursor:
            if project_id is None:
                cursor.execute(sql.plain, [key])
            else:
                cursor.execute(sql.with_membership, [project_id, key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        n = len(sql.user_fields)
        user = get_user_model().from_db(connection.alias, sql.user_fields, row[:n])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if project_id is not None:
            setattr(user, PRELOADED_ATTR, (project_id, work_membership_from_row(row[n + 1 :])))
        token = Token.from_db(
            connection.alias, ["key", "user_id", "created"], [key, user.pk, row[n]]
        )
        token.user = user
        return user, token


def _project_id(request) -> int | None:
    context = getattr(request, "parser_context", None) or {}
    value = (context.get("kwargs") or {}).get("project_id")
    return value if isinstance(value, int) else None
