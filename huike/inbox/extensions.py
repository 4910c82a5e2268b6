"""Actions other parts add to a conversation ("turn into a lead", "open a ticket").

The inbox does not know sales or support: they register an action here from their
AppConfig.ready(), and the conversation page shows it as a button (a POST to `url_name` with
the conversation's public id) to roles holding `permission`. Nothing registered, no button.
"""

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class ConversationAction:
    key: str
    label: str | Promise
    url_name: str  # reversed with the conversation's public_id as its one argument
    permission: str


_ACTIONS: dict[str, ConversationAction] = {}


def register_conversation_action(
    key: str, label: str | Promise, url_name: str, permission: str
) -> None:
    _ACTIONS[key] = ConversationAction(key, label, url_name, permission)


def unregister_conversation_action(key: str) -> None:
    _ACTIONS.pop(key, None)


def conversation_actions(permissions: frozenset[str]) -> list[ConversationAction]:
    """The registered actions the actor's role may use, in registration order."""
    return [action for action in _ACTIONS.values() if action.permission in permissions]
