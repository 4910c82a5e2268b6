"""Actions other parts add to an inbox conversation ("turn into a lead", "open a ticket").

The inbox and the parts that add actions (sales, support) are peers that never import each
other, so the registry lives here, below both. A part registers an action from its
AppConfig.ready(); the conversation page shows it as a button to roles holding `permission`.
Pressing it makes the inbox call `handler(actor, context)` with plain values about the
conversation (no inbox models) inside a transaction; the handler creates or finds its record
and returns the URL of it, which the inbox remembers on the conversation (`linked_records`)
and redirects to. A handler raises huike.core.errors errors for what the user should be told.
Nothing registered, no button.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise

from huike.accounts.access import Actor


@dataclass(frozen=True)
class ConversationContext:
    conversation_public_id: uuid.UUID
    workspace_id: int
    customer_id: int
    channel_kind: str
    channel_name: str
    subject: str
    # The latest messages as plain text, oldest first ("Customer: …" / "Agent: …").
    transcript: str


ConversationHandler = Callable[[Actor, ConversationContext], str]


@dataclass(frozen=True)
class ConversationAction:
    key: str
    label: str | Promise
    permission: str
    handler: ConversationHandler


_ACTIONS: dict[str, ConversationAction] = {}


def register_conversation_action(
    key: str, label: str | Promise, permission: str, handler: ConversationHandler
) -> None:
    _ACTIONS[key] = ConversationAction(key, label, permission, handler)


def unregister_conversation_action(key: str) -> None:
    _ACTIONS.pop(key, None)


def conversation_actions(permissions: frozenset[str]) -> list[ConversationAction]:
    """The registered actions the actor's role may use, in registration order."""
    return [action for action in _ACTIONS.values() if action.permission in permissions]


def conversation_action(key: str, permissions: frozenset[str]) -> ConversationAction | None:
    """The action `key` if it is registered and the role may use it."""
    action = _ACTIONS.get(key)
    if action is None or action.permission not in permissions:
        return None
    return action
