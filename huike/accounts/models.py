import datetime as dt
import uuid
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. What they may do is decided per workspace by Membership."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Workspace(models.Model):
    """A tenant. Every tenant-owned row carries a foreign key to one of these."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    name = models.CharField(_("name"), max_length=150)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    require_two_factor = models.BooleanField(_("require two-factor sign-in"), default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        """The workspace's time zone: its days, months and local times (UTC when unset)."""
        return ZoneInfo(self.timezone or "UTC")

    def today(self) -> dt.date:
        """Today's date in the workspace's time zone."""
        return now().astimezone(self.zone).date()


class Role(models.Model):
    """A named set of permission codes (see huike.core.permissions)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="roles")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    key = models.SlugField(_("key"), max_length=63)
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=255, blank=True)
    permissions = models.JSONField(_("permissions"), default=list)
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="role_unique_key"),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="role_unique_public_id"
            ),
        ]

    def __str__(self) -> str:
        return str(self.display_name)

    @property
    def display_name(self) -> str:
        """Built-in roles show their name in the reader's language; custom ones as typed."""
        from huike.accounts.roles import BUILTIN_ROLES

        if self.is_builtin and self.key in BUILTIN_ROLES:
            return str(BUILTIN_ROLES[self.key][0])
        return self.name

    @property
    def display_description(self) -> str:
        from huike.accounts.roles import BUILTIN_ROLES

        if self.is_builtin and self.key in BUILTIN_ROLES:
            return str(BUILTIN_ROLES[self.key][1])
        return self.description


class Team(models.Model):
    """Teams nest; `path` ("/1/4/9/") makes "this team and everything under it" one LIKE query."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="teams")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=512, db_index=False)
    manager = models.ForeignKey(
        "Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="team_unique_name"),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="team_unique_public_id"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "path"], name="team_ws_path_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.strip("/").count("/")


class MembershipQuerySet(models.QuerySet["Membership"]):
    def usable(self) -> "MembershipQuerySet":
        """Memberships a person may act through: active, and accepted by them."""
        return self.filter(is_active=True, accepted_at__isnull=False)

    def pending_invitations(self) -> "MembershipQuerySet":
        return self.filter(is_active=True, accepted_at__isnull=True)


class Membership(models.Model):
    """A person in a workspace with a role. Adding someone who already has an account is an
    invitation (`accepted_at` is null) until they accept it: a workspace cannot pull an existing
    person in, see them in its lists as a full member, or appear in their switcher unasked."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    is_active = models.BooleanField(default=True)
    accepted_at = models.DateTimeField(null=True, blank=True, default=now)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="membership_unique_public_id"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "team"], name="membership_ws_team_idx")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.workspace}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None


# The highest per-key rate limit a key may be given: far above any sane integration, small
# enough that a typo cannot disable the limit, and below any counter overflow.
MAX_RATE_LIMIT_PER_MINUTE = 100_000


class ApiKey(models.Model):
    """Only a SHA-256 of the secret is stored; the key is shown once, when it is created.

    Keys are 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    public_id = models.UUIDField(default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="api_keys")
    # The one identifier unique across workspaces: a key is looked up before its workspace is
    # known. It is random and says nothing about the workspace.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rate_limit_per_minute = models.PositiveIntegerField(_("requests per minute"), null=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="apikey_ws_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "public_id"], name="apikey_unique_public_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RecordShare(models.Model):
    """Explicit sharing of one record with a member or a whole team (record-level access)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    record_type = models.CharField(max_length=64)
    record_id = models.BigIntegerField()
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    can_edit = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "record_type", "membership"], name="share_ws_type_member_idx"
            ),
            models.Index(
                fields=["workspace", "record_type", "team"], name="share_ws_type_team_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(membership__isnull=False) | models.Q(team__isnull=False),
                name="share_has_grantee",
            )
        ]

    def __str__(self) -> str:
        return f"{self.record_type}:{self.record_id}"
