"""Structured logging: every log line is one event with key/value context.

JSON lines go to log shippers in production; the console renderer is for people at a terminal.
"""

import logging

import structlog

PRE_CHAIN: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def _formatter(renderer: structlog.typing.Processor) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def json_formatter() -> logging.Formatter:
    return _formatter(structlog.processors.JSONRenderer(ensure_ascii=False))


def console_formatter() -> logging.Formatter:
    return _formatter(structlog.dev.ConsoleRenderer(colors=False))


structlog.configure(
    processors=[*PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


class RedactSecretPaths(logging.Filter):
    """Django itself logs request paths ("Not Found: /account/reset/<uid>/<token>/…"); the
    secret segments are removed from every string argument before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        from huike.core.middleware import loggable_path

        if isinstance(record.args, tuple):
            record.args = tuple(
                loggable_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = loggable_path(record.msg)
        return True
