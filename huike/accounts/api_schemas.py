"""Request and response schemas of the accounts API.

Objects are named by their public UUID (`id`), never by database keys. `…In` schemas are what
clients send (PATCH schemas apply only the fields present), `…Out` what they get back.
"""

import uuid
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import Field, field_validator

from huike.accounts.models import (
    MAX_RATE_LIMIT_PER_MINUTE,
    ApiKey,
    Membership,
    Role,
    Team,
    Workspace,
)
from huike.core.audit import audit_action_label
from huike.core.models import AuditEntry


# --- references to other objects ----------------------------------------------------------
class RoleRef(Schema):
    id: uuid.UUID
    key: str
    name: str

    @staticmethod
    def resolve_id(obj: Role) -> uuid.UUID:
        return obj.public_id


class TeamRef(Schema):
    id: uuid.UUID
    name: str

    @staticmethod
    def resolve_id(obj: Team) -> uuid.UUID:
        return obj.public_id


class MemberRef(Schema):
    id: uuid.UUID
    email: str
    full_name: str

    @staticmethod
    def resolve_id(obj: Membership) -> uuid.UUID:
        return obj.public_id

    @staticmethod
    def resolve_email(obj: Membership) -> str:
        return obj.user.email

    @staticmethod
    def resolve_full_name(obj: Membership) -> str:
        return obj.user.full_name


# --- workspace ------------------------------------------------------------------------------
class WorkspaceOut(Schema):
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    currency: str
    require_two_factor: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Workspace) -> uuid.UUID:
        return obj.public_id


class WorkspaceIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=150)
    timezone: str | None = Field(default=None, max_length=64, examples=["Asia/Shanghai"])
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", examples=["CNY"])
    require_two_factor: bool | None = None


# --- members --------------------------------------------------------------------------------
class MemberOut(MemberRef):
    role: RoleRef
    team: TeamRef | None
    is_active: bool
    invitation_pending: bool = Field(
        description="Someone who already had an account and has not accepted yet."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_invitation_pending(obj: Membership) -> bool:
        return obj.is_pending


class MemberIn(Schema):
    email: str = Field(max_length=254)
    role: uuid.UUID
    team: uuid.UUID | None = None
    full_name: str = Field(default="", max_length=150)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        value = value.strip()
        try:
            validate_email(value)
        except DjangoValidationError as error:
            raise ValueError(" ".join(error.messages)) from None
        return value


class MemberPatchIn(Schema):
    role: uuid.UUID | None = None
    team: uuid.UUID | None = Field(default=None, description="null removes the member's team")
    is_active: bool | None = None


# --- teams ----------------------------------------------------------------------------------
class TeamOut(Schema):
    id: uuid.UUID
    name: str
    parent: TeamRef | None
    manager: MemberRef | None
    depth: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Team) -> uuid.UUID:
        return obj.public_id


class TeamIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    parent: uuid.UUID | None = None
    manager: uuid.UUID | None = None


class TeamPatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    parent: uuid.UUID | None = Field(default=None, description="null makes it a top-level team")
    manager: uuid.UUID | None = Field(default=None, description="null removes the manager")


# --- roles and permissions ------------------------------------------------------------------
class RoleOut(Schema):
    id: uuid.UUID
    key: str
    name: str
    description: str
    permissions: list[str]
    is_builtin: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Role) -> uuid.UUID:
        return obj.public_id


class RoleIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    key: str = Field(
        default="",
        max_length=63,
        pattern=r"^[a-z0-9_-]*$",
        description="Derived from the name when empty.",
    )
    description: str = Field(default="", max_length=255)
    permissions: list[str] = Field(default_factory=list)


class RolePatchIn(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=255)
    permissions: list[str] | None = None


class PermissionOut(Schema):
    code: str
    label: str
    group: str


# --- API keys -------------------------------------------------------------------------------
class ApiKeyOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    role: RoleRef
    created_by: MemberRef | None
    rate_limit_per_minute: int | None
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_id(obj: ApiKey) -> uuid.UUID:
        return obj.public_id


class ApiKeyCreatedOut(ApiKeyOut):
    key: str | None = Field(
        description=(
            "The secret. Shown only in this response: store it now. null when the response is "
            "replayed for a retry with the same Idempotency-Key (the secret is never stored)."
        )
    )


class ApiKeyIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    role: uuid.UUID
    rate_limit_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RATE_LIMIT_PER_MINUTE,
        description="Requests per minute; the server default when null.",
    )


# --- audit log ------------------------------------------------------------------------------
class AuditEntryOut(Schema):
    seq: int = Field(description="Position in the workspace's hash chain; also the sort order.")
    created_at: datetime
    action: str
    action_label: str
    actor: str = Field(description="E-mail of the member, `api_key:<prefix>`, or `system`.")
    target_type: str
    target_id: str
    ip_address: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_actor(obj: AuditEntry) -> str:
        return obj.actor_label

    @staticmethod
    def resolve_action_label(obj: AuditEntry) -> str:
        return audit_action_label(obj.action)


class AuditEntryQuery(Schema):
    action: str = Field(default="", description='One action, or a prefix ending in "." (member.)')
    actor: str = Field(default="", description="Part of the actor's e-mail.")
    since: date | None = Field(default=None, description="First day, in the workspace time zone.")
    until: date | None = Field(default=None, description="Last day, in the workspace time zone.")
