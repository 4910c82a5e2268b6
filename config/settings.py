"""Huike settings: one module, configured by environment variables only.

Defaults give the embedded mode (SQLite under var/, database task queue, local-memory cache).
Production sets DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and friends; see
docs/deployment.md for the full list.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HUIKE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _generated_key_file(name: str, generate: str) -> str:
    # Two processes starting at once must end with the same key, and nobody may read a
    # half-written or world-readable file: write a private (0600 from the start) temporary
    # file, then link it into place, which fails if one exists, and sync the directory so the
    # new name survives a crash.
    path = VAR_DIR / name
    if not path.exists():
        temporary = VAR_DIR / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(generate)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won; everyone reads its key below
        finally:
            temporary.unlink()
        directory = os.open(VAR_DIR, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return path.read_text().strip()


def _embedded_secret_key() -> str:
    # Embedded mode keeps a generated key under var/ so sessions survive restarts; production
    # must set SECRET_KEY explicitly (the deploy check refuses a short or missing one).
    return _generated_key_file("secret_key", secrets.token_urlsafe(50))


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "django_tasks_db",
    # collectstatic gathers django-ninja's Swagger UI, so /api/v1/docs works without internet.
    "ninja",
    "huike.core",
    "huike.accounts",
    "huike.customers",
    "huike.channels",
    "huike.inbox",
    "huike.sales",
]

if "pytest" in sys.modules:
    # A tiny app with an owned record, so the record-visibility primitive is tested before the
    # first real part uses it.
    INSTALLED_APPS.append("tests.recordapp")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "huike.core.middleware.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "huike.accounts.middleware.WorkspaceMiddleware",
    "huike.accounts.api_gateway.ApiGatewayMiddleware",
    # Axes must be last: it turns a locked-out login into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "huike.accounts.context_processors.workspace",
                "huike.sales.context_processors.notifications",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "huike.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE transactions take the
    # write lock up front so two writers wait for each other instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA busy_timeout=20000;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("HUIKE_TEST_SQLITE") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (rate limits, throttles) ---------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- realtime (websockets) -----------------------------------------------------------------
# Embedded mode: the web process's in-memory layer (a worker reaches it through RealtimeNotice
# rows, see huike.inbox.realtime). With REDIS_URL every process sends through Redis.
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 60},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }

# --- background tasks -----------------------------------------------------------------------
# "database" (default): django-tasks-db, no broker. "rq": RQ on Redis, for many workers on
# many machines. Code only ever uses django.tasks, so switching is a setting.
TASK_ENGINE = os.environ.get("HUIKE_TASK_ENGINE", "database")
if TASK_ENGINE == "rq":
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_rq.RQBackend",
            "QUEUES": ["default"],
        }
    }
    RQ_QUEUES = {
        "default": {"URL": os.environ.get("HUIKE_RQ_URL", REDIS_URL or "redis://127.0.0.1:6379/0")}
    }
    # RQ workers must build django-tasks-rq's job class to run django.tasks jobs; set here, a
    # plain `rqworker` does the right thing too (`huike worker` passes it explicitly).
    RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
    INSTALLED_APPS += ["django_rq"]
elif TASK_ENGINE == "immediate":
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# A database-queue worker not seen for this long is dead, and the tasks it was running go
# back to the queue (docs/operations.md). Long enough that a busy database delaying a few
# heartbeats does not look like death.
TASK_WORKER_STALE_SECONDS = float(os.environ.get("HUIKE_WORKER_STALE_SECONDS", "60"))
# Finished task results (and the scheduler's bookkeeping) are kept this long for inspection.
TASK_RESULT_RETENTION_DAYS = int(os.environ.get("HUIKE_TASK_RESULT_RETENTION_DAYS", "14"))
# The raw bodies of webhook deliveries (they hold people's messages) are kept this long after
# processing, for replays and investigations; pending ones are never purged.
HUIKE_INBOUND_RETENTION_DAYS = int(os.environ.get("HUIKE_INBOUND_RETENTION_DAYS", "30"))

# --- authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2

# Lockout is per (username, IP address) pair: an attacker elsewhere cannot lock the real user
# out, and every lockout ends after the cool-off, so nobody is locked out forever. Per-address
# throttles across accounts (sign-in failures, password-reset mail) are named constants in
# huike.accounts.sign_in_throttles and count in the cache.
AXES_FAILURE_LIMIT = int(os.environ.get("HUIKE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("HUIKE_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# Reverse proxies of ours in front of the app (nginx, a load balancer): the client's address is
# taken that many entries from the right of X-Forwarded-For (0: the connection's own address,
# the header is ignored). django-axes, the per-address sign-in throttles and the audit log all
# read it through this one function.
HUIKE_PROXY_COUNT = int(os.environ.get("HUIKE_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "huike.accounts.client_ip.client_ip_address"

OTP_TOTP_ISSUER = "Huike"
# django-otp's back-off after wrong codes keeps its default factor (1 s, doubling with each
# failure): resetting the password through the e-mailed link ends it (PasswordResetConfirmView),
# so it cannot keep the owner of the account out for long.

# --- sessions, CSRF, transport security -----------------------------------------------------
SECURE_ENABLED = env_bool("HUIKE_HTTPS", not DEBUG and bool(os.environ.get("SECRET_KEY")))
SESSION_COOKIE_SECURE = SECURE_ENABLED
CSRF_COOKIE_SECURE = SECURE_ENABLED
SECURE_SSL_REDIRECT = SECURE_ENABLED and env_bool("HUIKE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if SECURE_ENABLED else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_ENABLED
SECURE_HSTS_PRELOAD = SECURE_ENABLED
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_ENABLED else None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- email ----------------------------------------------------------------------------------
# Django 6.1 mailers. SMTP when EMAIL_URL (smtp://user:password@host:587 with STARTTLS,
# smtps://… for TLS from the first byte, smtp+plain://… for neither) or EMAIL_HOST (with
# EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL) is set;
# otherwise mail is printed to the console, which is what embedded mode and development want.
# Django's test runner replaces every mailer with the locmem backend (mail.outbox).
EMAIL_TIMEOUT_SECONDS = int(os.environ.get("EMAIL_TIMEOUT", "10"))  # a reset page must not hang


def _smtp_mailer_from_url(url: str) -> dict[str, object]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps", "smtp+plain"}:
        raise ValueError(f"EMAIL_URL: unsupported scheme {parts.scheme!r}")
    options: dict[str, object] = {
        "host": parts.hostname or "localhost",
        "username": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "use_tls": parts.scheme == "smtp",
        "use_ssl": parts.scheme == "smtps",
        "timeout": EMAIL_TIMEOUT_SECONDS,
    }
    if parts.port:
        options["port"] = parts.port
    return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}


def _default_mailer() -> dict[str, object]:
    url = os.environ.get("EMAIL_URL", "")
    if url.startswith("console:"):
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if url:
        return _smtp_mailer_from_url(url)
    host = os.environ.get("EMAIL_HOST", "")
    if not host:
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    options: dict[str, object] = {
        "host": host,
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "use_ssl": env_bool("EMAIL_USE_SSL", False),
        "timeout": EMAIL_TIMEOUT_SECONDS,
    }
    if os.environ.get("EMAIL_PORT"):
        options["port"] = int(os.environ["EMAIL_PORT"])
    return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}


MAILERS = {"default": _default_mailer()}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Huike <noreply@localhost>")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# --- i18n / time ----------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("HUIKE_DEFAULT_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "huike" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files (served by whitenoise; assets come from installed packages) ---------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env_bool("HUIKE_STATIC_FINDERS", False)

# --- API ------------------------------------------------------------------------------------
HUIKE_API_RATE_LIMIT_PER_MINUTE = int(os.environ.get("HUIKE_API_RATE_LIMIT_PER_MINUTE", "600"))
NINJA_PAGINATION_PER_PAGE = 50

# --- logging (structured: JSON lines in production, readable lines in a terminal) -----------
LOG_FORMAT = os.environ.get("HUIKE_LOG_FORMAT", "console" if DEBUG else "json")
LOG_LEVEL = os.environ.get("HUIKE_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "huike.core.logging.json_formatter"},
        "console": {"()": "huike.core.logging.console_formatter"},
    },
    "filters": {"redact_secret_paths": {"()": "huike.core.logging.RedactSecretPaths"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_secret_paths"],
        }
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# --- personal-data master keys (docs/operations.md, "Personal data keys and key rotation") ---
# HUIKE_MASTER_KEY wraps every workspace's data keys (base64url of 32 random bytes);
# HUIKE_MASTER_KEY_PREVIOUS lists older ones (comma-separated) still accepted for unwrapping
# while `huike keys rewrap` moves the data keys to the new one.


def _embedded_master_key() -> str:
    # Like the embedded SECRET_KEY; data wrapped under a lost key is gone for good, which is
    # why only the embedded mode (SQLite, the key file beside the database) may generate one.
    import base64

    return _generated_key_file(
        "master_key", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )


# Outside the embedded mode a generated key would differ per machine (each web and worker
# host would wrap data keys under its own) and sit beside nothing it protects: there,
# HUIKE_MASTER_KEY is required, and without it the system check huike.crypto.E001 stops every
# command at startup. Test runs (pytest, on SQLite or PostgreSQL) keep a generated one.
_MASTER_KEY_GENERATED = (
    DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" or "pytest" in sys.modules
)
if os.environ.get("HUIKE_MASTER_KEY"):
    HUIKE_MASTER_KEY_SOURCE = "environment"
    _master_key = os.environ["HUIKE_MASTER_KEY"]
elif _MASTER_KEY_GENERATED:
    HUIKE_MASTER_KEY_SOURCE = "file"
    _master_key = _embedded_master_key()
else:
    HUIKE_MASTER_KEY_SOURCE = "missing"
    _master_key = ""
HUIKE_MASTER_KEYS: list[str] = (
    [_master_key, *env_list("HUIKE_MASTER_KEY_PREVIOUS", "")] if _master_key else []
)
