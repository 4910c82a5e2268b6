from django.urls import URLPattern, URLResolver, path

from huike.inbox.views import conversations, settings

app_name = "inbox"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", conversations.conversation_list, name="conversation_list"),
    path("presence/", conversations.presence_set, name="presence_set"),
    path("<uuid:public_id>/", conversations.conversation_detail, name="conversation_detail"),
    path("<uuid:public_id>/thread/", conversations.conversation_thread, name="conversation_thread"),
    path("<uuid:public_id>/reply/", conversations.conversation_reply, name="conversation_reply"),
    path("<uuid:public_id>/note/", conversations.conversation_note, name="conversation_note"),
    path("<uuid:public_id>/claim/", conversations.conversation_claim, name="conversation_claim"),
    path("<uuid:public_id>/tags/", conversations.conversation_tags, name="conversation_tags"),
    path(
        "<uuid:public_id>/actions/<slug:key>/",
        conversations.conversation_action,
        name="conversation_action",
    ),
    path("<uuid:public_id>/assign/", conversations.conversation_assign, name="conversation_assign"),
    path("<uuid:public_id>/status/", conversations.conversation_status, name="conversation_status"),
    path(
        "settings/canned-replies/",
        settings.settings_canned_replies,
        name="settings_canned_replies",
    ),
    path(
        "settings/canned-replies/<uuid:public_id>/",
        settings.settings_canned_reply,
        name="settings_canned_reply",
    ),
    path(
        "settings/canned-replies/<uuid:public_id>/delete/",
        settings.settings_canned_reply_delete,
        name="settings_canned_reply_delete",
    ),
    path("settings/assignment/", settings.settings_assignment, name="settings_assignment"),
]
