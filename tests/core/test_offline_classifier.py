"""The offline classifier: requests in many phrasings into exact tool calls and arguments."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.classify.offline import OfflineClassifier
from core.tools.args import CONTROL_TOOLS, READ_TOOLS, TOOL_ARGS, WRITE_TOOLS
from models.classification import Classification

Call = tuple[str, dict[str, Any]]
WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture(scope="module")
def classifier() -> OfflineClassifier:
    return OfflineClassifier()


def calls_of(result: Classification) -> list[Call]:
    return [(c.tool, dict(c.args)) for c in result.calls]


def check(classifier: OfflineClassifier, text: str, expected: list[Call]) -> Classification:
    result = classifier.classify(text)
    assert sorted(calls_of(result), key=repr) == sorted(expected, key=repr), text
    for call in result.calls:
        TOOL_ARGS[call.tool].model_validate(call.args)
    assert result.backend == "offline"
    return result


READS: list[tuple[str, list[Call]]] = [
    (
        "how did CSAT do over the past 30 days?",
        [("get_metrics", {"metric": "csat", "period": "last_30_days"})],
    ),
    (
        "resolution rate yesterday",
        [("get_metrics", {"metric": "resolution_rate", "period": "yesterday"})],
    ),
    (
        "how quickly are we responding to customers this week",
        [("get_metrics", {"metric": "first_response_time", "period": "this_week"})],
    ),
    (
        "how many chats did we get last week?",
        [("get_metrics", {"metric": "volume", "period": "last_week"})],
    ),
    (
        "whats the escalation rate for the previous month",
        [("get_metrics", {"metric": "escalation_rate", "period": "last_month"})],
    ),
    (
        "csat and resolution rate for this month",
        [
            ("get_metrics", {"metric": "csat", "period": "this_month"}),
            ("get_metrics", {"metric": "resolution_rate", "period": "this_month"}),
        ],
    ),
    (
        "top topics customers wrote in about last week",
        [("get_topic_breakdown", {"period": "last_week"})],
    ),
    ("what couldn't the bot answer yesterday?", [("get_knowledge_gaps", {"period": "yesterday"})]),
    (
        "how is the AI inbox performing this week",
        [("get_inbox_performance", {"period": "this_week"})],
    ),
    ("how busy is Tom right now", [("get_agent_workload", {"member": "Tom"})]),
    ("who's got the fewest assists", [("get_agent_workload", {})]),
    # The queue's health (issue 17): the waiting list as a whole, not a list of assists.
    ("how is the queue", [("get_queue_health", {})]),
    ("hows the backlog looking today", [("get_queue_health", {})]),
    ("is our backlog growing?", [("get_queue_health", {})]),
    ("anything still sitting unassigned?", [("get_queue_health", {})]),
    ("how long has the oldest unassigned ticket been waiting", [("get_queue_health", {})]),
    ("queue health please", [("get_queue_health", {})]),
    ("what is Priya's workload", [("get_agent_workload", {"member": "Priya"})]),
    ("how loaded is Maria", [("get_agent_workload", {"member": "Maria"})]),
    (
        "list closed assists assigned to Priya",
        [("list_assists", {"status": "closed", "assignee": "Priya"})],
    ),
    (
        "any unassigned high priority tickets?",
        [("list_assists", {"priority": "high", "unassigned": True})],
    ),
    ("pull up A-2210", [("show_assist", {"assist": "A-2210"})]),
    ("A-77?", [("show_assist", {"assist": "A-77"})]),
    (
        "why are so many customers escalating lately",
        [("analyze_patterns", {"focus": "escalations"})],
    ),
    (
        "show me pending training suggestions",
        [("list_training_suggestions", {"status": "pending"})],
    ),
    ("what tone is the bot using", [("get_agent_config", {"field": "tone"})]),
    ("who are our admins", [("list_team", {"role": "admin"})]),
    ("show my scheduled briefings", [("list_schedules", {})]),
    (
        "export this month's assists to csv",
        [("run_report", {"report": "assists", "period": "this_month", "format": "csv"})],
    ),
    ("show me the audit log", [("show_history", {})]),
    ("is zendesk connected?", [("list_integrations", {"integration": "zendesk"})]),
    ("help", [("help", {})]),
]

WRITES: list[tuple[str, list[Call]]] = [
    ("reassign A-88 to Ken", [("assign_assist", {"assist": "A-88", "member": "Ken"})]),
    ("let Priya handle A-300", [("assign_assist", {"assist": "A-300", "member": "Priya"})]),
    ("I'll take A-451", [("assign_assist", {"assist": "A-451", "member": "me"})]),
    (
        "resolve A-9001 as a duplicate",
        [("close_assist", {"assist": "A-9001", "reason": "duplicate"})],
    ),
    (
        "close A-1, A-2 and A-3",
        [
            ("close_assist", {"assist": "A-1"}),
            ("close_assist", {"assist": "A-2"}),
            ("close_assist", {"assist": "A-3"}),
        ],
    ),
    (
        "set the priority of A-640 to low",
        [("set_assist_priority", {"assist": "A-640", "priority": "low"})],
    ),
    ("escalate A-12", [("set_assist_priority", {"assist": "A-12", "priority": "urgent"})]),
    (
        "respond to A-515: your replacement ships Monday",
        [("reply_to_assist", {"assist": "A-515", "message": "your replacement ships Monday"})],
    ),
    (
        "tell the customer on A-515 that we're looking into it",
        [("reply_to_assist", {"assist": "A-515", "message": "we're looking into it"})],
    ),
    (
        "leave an internal note on A-77 saying VIP, handle with care",
        [("add_internal_note", {"assist": "A-77", "note": "VIP, handle with care"})],
    ),
    (
        "reassign all of Maria's open assists to Tom",
        [
            (
                "bulk_update_assists",
                {
                    "action": "assign",
                    "filter": {"status": "open", "assignee": "Maria"},
                    "set": {"assignee": "Tom"},
                },
            ),
        ],
    ),
    (
        "mark every pending assist older than 2 weeks as urgent",
        [
            (
                "bulk_update_assists",
                {
                    "action": "set_priority",
                    "filter": {"status": "pending", "older_than_days": 14},
                    "set": {"priority": "urgent"},
                },
            ),
        ],
    ),
    (
        "close all assists older than a month",
        [
            (
                "bulk_update_assists",
                {"action": "close", "filter": {"older_than_days": 30}, "set": {"status": "closed"}},
            ),
        ],
    ),
    ("accept suggestion #4", [("approve_training_suggestion", {"suggestion_id": 4})]),
    (
        "use https://help.acme.com/shipping for training",
        [("add_training_source", {"url": "https://help.acme.com/shipping"})],
    ),
    ("delete qa 15", [("remove_qa_pair", {"qa_id": 15})]),
    (
        'update Q&A pair 3 answer to "Returns are free within 30 days"',
        [("edit_qa_pair", {"qa_id": 3, "answer": "Returns are free within 30 days"})],
    ),
    ("use A-2020 as training data", [("promote_assist_to_training", {"assist": "A-2020"})]),
    (
        "set the tone to friendly and concise",
        [("update_agent_config", {"field": "tone", "value": "friendly and concise"})],
    ),
    ("rename the bot to Ava", [("update_agent_config", {"field": "name", "value": "Ava"})]),
    (
        "invite lee@shop.io as a manager",
        [("invite_member", {"email": "lee@shop.io", "role": "manager"})],
    ),
    ("promote Dana to owner", [("update_member", {"member": "Dana", "role": "owner"})]),
    ("change Raj's role to support", [("update_member", {"member": "Raj", "role": "support"})]),
    ("deactivate Omar's account", [("update_member", {"member": "Omar", "active": False})]),
    ("set Maria to offline", [("update_member", {"member": "Maria", "availability": "offline"})]),
    ("mark Priya available", [("update_member", {"member": "Priya", "availability": "available"})]),
    ("put Tom offline", [("update_member", {"member": "Tom", "availability": "offline"})]),
    (
        "switch Raj to away for now",
        [("update_member", {"member": "Raj", "availability": "offline"})],
    ),
    (
        "make Dana available again",
        [("update_member", {"member": "Dana", "availability": "available"})],
    ),
    (
        "set Maria's schedule to weekdays 9 to 5",
        [("update_member", {"member": "Maria", "work_schedule": {"tz": None, "days": WEEKDAYS}})],
    ),
    (
        "change Sam's hours to Mon-Thu 8:30am to 4:30pm",
        [
            (
                "update_member",
                {
                    "member": "Sam",
                    "work_schedule": {
                        "tz": None,
                        "days": {d: [["08:30", "16:30"]] for d in ("mon", "tue", "wed", "thu")},
                    },
                },
            )
        ],
    ),
    (
        "update Omar's shifts to weekends 10-18",
        [
            (
                "update_member",
                {
                    "member": "Omar",
                    "work_schedule": {
                        "tz": None,
                        "days": {d: [["10:00", "18:00"]] for d in ("sat", "sun")},
                    },
                },
            )
        ],
    ),
    ("withdraw the invite to kim@acme.com", [("cancel_invitation", {"email": "kim@acme.com"})]),
    ("generate an API key named hubspot-sync", [("create_api_key", {"name": "hubspot-sync"})]),
    ("delete the old-crm key", [("revoke_api_key", {"name": "old-crm"})]),
    (
        "send me the monthly ROI report on the 15th at 10am by email",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "monthly_roi",
                    "channel": "email",
                    "time": "10:00",
                    "frequency": "monthly",
                    "day_of_month": 15,
                },
            ),
        ],
    ),
    (
        "every weekday at 7:30 send me the inbox summary",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "daily_inbox_summary",
                    "time": "07:30",
                    "frequency": "weekdays",
                    "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                },
            ),
        ],
    ),
    (
        "send the daily inbox summary for Max at 8 on Slack",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "daily_inbox_summary",
                    "channel": "slack",
                    "time": "08:00",
                    "frequency": "daily",
                    "agent": "Max",
                },
            ),
        ],
    ),
    (
        "move my ROI report to the 20th",
        [
            (
                "update_schedule",
                {"briefing_type": "monthly_roi", "frequency": "monthly", "day_of_month": 20},
            ),
        ],
    ),
    (
        "email me the monthly ROI report on the first of every month at 7:30",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "monthly_roi",
                    "channel": "email",
                    "time": "07:30",
                    "frequency": "monthly",
                    "day_of_month": 1,
                },
            ),
        ],
    ),
    (
        "whatsapp me the daily inbox summary every weekday at 6:45am",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "daily_inbox_summary",
                    "channel": "whatsapp",
                    "time": "06:45",
                    "frequency": "weekdays",
                    "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                },
            ),
        ],
    ),
    (
        "change the weekly digest to Telegram",
        [
            (
                "update_schedule",
                {"briefing_type": "weekly_performance_digest", "channel": "telegram"},
            ),
        ],
    ),
    (
        "unsubscribe me from the knowledge gaps briefing",
        [("cancel_schedule", {"briefing_type": "weekly_knowledge_gaps"})],
    ),
    (
        "disable the Slack integration",
        [("toggle_integration", {"integration": "slack", "enabled": False})],
    ),
    (
        "switch whatsapp back on",
        [("toggle_integration", {"integration": "whatsapp", "enabled": True})],
    ),
    (
        "pull in closed conversations from Intercom",
        [
            ("run_import", {"source": "intercom", "records": "conversations", "status": "closed"}),
        ],
    ),
    (
        "let all customers know the store is closed on Monday",
        [
            (
                "send_broadcast",
                {"audience": "all_customers", "message": "the store is closed on Monday"},
            ),
        ],
    ),
    ("roll back to snapshot 7", [("restore_snapshot", {"snapshot_id": 7})]),
]

CONTROL: list[tuple[str, list[Call]]] = [
    ("approve 5512", [("approve_proposal", {"code": "5512"})]),
    ("Yes, go ahead", [("approve_proposal", {})]),
    ("reject 5512", [("reject_proposal", {"code": "5512"})]),
    ("nope", [("reject_proposal", {})]),
    ("oops, revert that", [("undo_last", {})]),
    (
        "forward this to ana@acme.com",
        [("send_to", {"channel": "email", "address": "ana@acme.com"})],
    ),
    ("text it to +1 415 555 0100", [("send_to", {"channel": "sms", "address": "+14155550100"})]),
    ("share that on slack", [("send_to", {"channel": "slack"})]),
]

TYPOS_AND_SHORTHAND: list[tuple[str, list[Call]]] = [
    ("resolutoin rate tdy", [("get_metrics", {"metric": "resolution_rate", "period": "today"})]),
    ("assing A-1042 to maria", [("assign_assist", {"assist": "A-1042", "member": "maria"})]),
    (
        "mark a-1050 as urgnet",
        [("set_assist_priority", {"assist": "A-1050", "priority": "urgent"})],
    ),
    (
        "shcedule the weekly perfromance digest on slakc mondays 9am",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "weekly_performance_digest",
                    "channel": "slack",
                    "time": "09:00",
                    "frequency": "weekly",
                    "days": ["monday"],
                },
            ),
        ],
    ),
    ("show hi-pri tix", [("list_assists", {"priority": "high"})]),
    ("csat wk to date pls", [("get_metrics", {"metric": "csat", "period": "this_week"})]),
    ("frt yday", [("get_metrics", {"metric": "first_response_time", "period": "yesterday"})]),
    ("knowlege gaps", [("get_knowledge_gaps", {})]),
]

SPOKEN: list[tuple[str, list[Call]]] = [
    ("assign a 1042 to maria", [("assign_assist", {"assist": "A-1042", "member": "maria"})]),
    ("close assist ten forty three", [("close_assist", {"assist": "A-1043"})]),
    ("show me a one oh four two", [("show_assist", {"assist": "A-1042"})]),
    (
        "send me the daily inbox summary on telegram at eight am",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "daily_inbox_summary",
                    "channel": "telegram",
                    "time": "08:00",
                    "frequency": "daily",
                },
            ),
        ],
    ),
    (
        "move my daily summary to half past seven",
        [
            ("update_schedule", {"briefing_type": "daily_inbox_summary", "time": "07:30"}),
        ],
    ),
    (
        "uh what is our see sat for the last seven days",
        [("get_metrics", {"metric": "csat", "period": "last_7_days"})],
    ),
    (
        "approve training suggestion number twelve",
        [("approve_training_suggestion", {"suggestion_id": 12})],
    ),
    ("yes four eight two one", [("approve_proposal", {"code": "4821"})]),
]

EMAILS: list[tuple[str, list[Call]]] = [
    (
        "Hi Switchboard,\n\nCould you please assign A-3301 to Jordan when you get a chance?\n\n"
        "Thanks,\nPriya Shah\nHead of Support, Acme Inc\npriya@acme.com",
        [("assign_assist", {"assist": "A-3301", "member": "Jordan"})],
    ),
    (
        "Subject: CSAT\n\nHello team, how is our CSAT looking this month? Best regards, Tom",
        [("get_metrics", {"metric": "csat", "period": "this_month"})],
    ),
    (
        "Dear Switchboard, please invite new.hire@acme.com as support. Kind regards, Lee Park",
        [("invite_member", {"email": "new.hire@acme.com", "role": "support"})],
    ),
    (
        "Good morning! Reply to A-610 saying the refund was processed today. Thank you! - Sam",
        [("reply_to_assist", {"assist": "A-610", "message": "the refund was processed today"})],
    ),
]

COMPOUND: list[tuple[str, list[Call]]] = [
    (
        "close A-10 then assign A-11 to Bea",
        [
            ("close_assist", {"assist": "A-10"}),
            ("assign_assist", {"assist": "A-11", "member": "Bea"}),
        ],
    ),
    (
        "show open assists; also what's the volume today?",
        [
            ("list_assists", {"status": "open"}),
            ("get_metrics", {"metric": "volume", "period": "today"}),
        ],
    ),
    (
        "reply to A-5 saying we shipped it and tracking will follow, and close it",
        [
            (
                "reply_to_assist",
                {"assist": "A-5", "message": "we shipped it and tracking will follow"},
            ),
            ("close_assist", {"assist": "A-5"}),
        ],
    ),
    (
        "how is resolution rate this week and send that to my email",
        [
            ("get_metrics", {"metric": "resolution_rate", "period": "this_week"}),
            ("send_to", {"channel": "email"}),
        ],
    ),
    (
        "Assign A-42 to Maria. Also mark it urgent.",
        [
            ("assign_assist", {"assist": "A-42", "member": "Maria"}),
            ("set_assist_priority", {"assist": "A-42", "priority": "urgent"}),
        ],
    ),
    (
        "tell all website visitors that chat is down and we are fixing it",
        [
            (
                "send_broadcast",
                {"audience": "website_visitors", "message": "chat is down and we are fixing it"},
            ),
        ],
    ),
]

EDGES: list[tuple[str, list[Call]]] = [
    (
        "how many chats got handed off to humans today",
        [("get_metrics", {"metric": "escalation_rate", "period": "today"})],
    ),
    (
        "what's the csat on whatsapp this week",
        [("get_metrics", {"metric": "csat", "period": "this_week", "channel": "whatsapp"})],
    ),
    ("what topics does the bot not have answers for", [("get_knowledge_gaps", {})]),
    ("A-811 goes to Omar", [("assign_assist", {"assist": "A-811", "member": "Omar"})]),
    (
        "A-816 needs to be urgent",
        [("set_assist_priority", {"assist": "A-816", "priority": "urgent"})],
    ),
    (
        "send the customer in A-819 a reply saying the item is back in stock",
        [("reply_to_assist", {"assist": "A-819", "message": "the item is back in stock"})],
    ),
    (
        "new welcome message: Hello and thanks for visiting",
        [
            (
                "update_agent_config",
                {"field": "welcome_message", "value": "Hello and thanks for visiting"},
            )
        ],
    ),
    (
        "make the tone more playful",
        [("update_agent_config", {"field": "tone", "value": "more playful"})],
    ),
    (
        "invite pat@acme.com to be an admin",
        [("invite_member", {"email": "pat@acme.com", "role": "admin"})],
    ),
    ("create an API key and call it analytics", [("create_api_key", {"name": "analytics"})]),
    ("delete api key zendesk-bridge", [("revoke_api_key", {"name": "zendesk-bridge"})]),
    ("roll everything back to snapshot 19", [("restore_snapshot", {"snapshot_id": 19})]),
    ("remove question and answer pair 6", [("remove_qa_pair", {"qa_id": 6})]),
    ("go ahead and close A-77", [("close_assist", {"assist": "A-77"})]),
    (
        "reopen A-300",
        [
            (
                "bulk_update_assists",
                {"action": "reopen", "filter": {"assists": ["A-300"]}, "set": {"status": "open"}},
            )
        ],
    ),
    (
        "mark A-301 as pending",
        [
            (
                "bulk_update_assists",
                {
                    "action": "set_status",
                    "filter": {"assists": ["A-301"]},
                    "set": {"status": "pending"},
                },
            )
        ],
    ),
    (
        "set every open assist assigned to Tom to high priority",
        [
            (
                "bulk_update_assists",
                {
                    "action": "set_priority",
                    "filter": {"status": "open", "assignee": "Tom"},
                    "set": {"priority": "high"},
                },
            ),
        ],
    ),
    ("what is sam working on", [("get_agent_workload", {"member": "sam"})]),
    (
        "how is Maria doing this week",
        [("get_inbox_performance", {"period": "this_week", "member": "Maria"})],
    ),
    ("list my open assists", [("list_assists", {"status": "open", "assignee": "me"})]),
    (
        "show me open assists older than 3 days",
        [("list_assists", {"status": "open", "older_than_days": 3})],
    ),
    (
        "give me the top 5 topics this month",
        [("get_topic_breakdown", {"period": "this_month", "limit": 5})],
    ),
    ("any trends in complaints lately?", [("analyze_patterns", {"focus": "feedback"})]),
    ("cancel schedule 3", [("cancel_schedule", {"schedule_id": 3})]),
    ("change schedule 3 to 7am", [("update_schedule", {"schedule_id": 3, "time": "07:00"})]),
    (
        "I want the weekly performance digest on telegram every sunday evening at 6",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "weekly_performance_digest",
                    "channel": "telegram",
                    "time": "18:00",
                    "frequency": "weekly",
                    "days": ["sunday"],
                },
            ),
        ],
    ),
    (
        "i want my inbox summary texted to me at 7 every morning",
        [
            (
                "schedule_briefing",
                {
                    "briefing_type": "daily_inbox_summary",
                    "channel": "sms",
                    "time": "07:00",
                    "frequency": "daily",
                },
            ),
        ],
    ),
    (
        "turn the slack integration off",
        [("toggle_integration", {"integration": "slack", "enabled": False})],
    ),
    ("is the twilio line on", [("list_integrations", {"integration": "twilio"})]),
    (
        "sync our help scout conversations",
        [("run_import", {"source": "helpscout", "records": "conversations"})],
    ),
    ("import our happyfox tickets", [("run_import", {"source": "happyfox", "records": "tickets"})]),
    # A question about an import reads; it does not start another one.
    ("how did the Zendesk import go?", [("list_integrations", {"integration": "zendesk"})]),
    ("did the freshdesk import finish?", [("list_integrations", {"integration": "freshdesk"})]),
    (
        "send a broadcast to all customers: new hours start Monday",
        [("send_broadcast", {"audience": "all_customers", "message": "new hours start Monday"})],
    ),
    ("post that in #support on slack", [("send_to", {"channel": "slack", "address": "#support"})]),
    (
        "assign a 1042 to maria lopez",
        [("assign_assist", {"assist": "A-1042", "member": "maria lopez"})],
    ),
    (
        "assign A-61 to Ken and A-62 to Sue",
        [
            ("assign_assist", {"assist": "A-61", "member": "Ken"}),
            ("assign_assist", {"assist": "A-62", "member": "Sue"}),
        ],
    ),
    (
        "assign A-1 to maria, it's urgent",
        [
            ("assign_assist", {"assist": "A-1", "member": "maria"}),
            ("set_assist_priority", {"assist": "A-1", "priority": "urgent"}),
        ],
    ),
    (
        "revoke the zapier key and create a new one called zapier2",
        [
            ("revoke_api_key", {"name": "zapier"}),
            ("create_api_key", {"name": "zapier2"}),
        ],
    ),
    (
        "Hi, thanks for yesterday's report! Can you show me pending assists? Cheers, Al",
        [("list_assists", {"status": "pending"})],
    ),
    (
        "Hello Switchboard team,\nPlease close A-4410 - the customer confirmed it's fixed.\n"
        "Best,\nNina\nnina@acme.com | +1 555 010 2200",
        [("close_assist", {"assist": "A-4410"})],
    ),
]


# Live presence: "go live", "go offline", "take me offline", "stop live" are the member's own
# live presence (set_live); "set/put/mark me (or Maria) offline" stays availability.
LIVE: list[tuple[str, list[Call]]] = [
    ("who is live", [("list_live_operators", {})]),
    ("who's live right now", [("list_live_operators", {})]),
    ("is anyone live?", [("list_live_operators", {})]),
    ("which operators are live", [("list_live_operators", {})]),
    ("show me the live operators", [("list_live_operators", {})]),
    ("go live on billing", [("set_live", {"live": True, "workflows": ["billing"]})]),
    ("go live", [("set_live", {"live": True})]),
    (
        "put me live on billing and sales",
        [("set_live", {"live": True, "workflows": ["billing", "sales"]})],
    ),
    (
        "I'm going live on the Billing workflow, please",
        [("set_live", {"live": True, "workflows": ["Billing"]})],
    ),
    (
        "go live on Billing, Sales & Support",
        [("set_live", {"live": True, "workflows": ["Billing", "Sales", "Support"]})],
    ),
    ("go live on all of them", [("set_live", {"live": True})]),
    ("take me offline", [("set_live", {"live": False})]),
    ("go offline", [("set_live", {"live": False})]),
    ("stop live", [("set_live", {"live": False})]),
    ("please take me off live", [("set_live", {"live": False})]),
    # Availability keeps its phrasings, for oneself as for others.
    ("set me offline", [("update_member", {"member": "me", "availability": "offline"})]),
    ("put me offline", [("update_member", {"member": "me", "availability": "offline"})]),
    ("set Maria offline", [("update_member", {"member": "Maria", "availability": "offline"})]),
    ("mark me unavailable", [("update_member", {"member": "me", "availability": "offline"})]),
    # "live" about an integration is not presence.
    ("is the slack integration live", [("list_integrations", {"integration": "slack"})]),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    READS + WRITES + CONTROL + TYPOS_AND_SHORTHAND + SPOKEN + EMAILS + COMPOUND + EDGES + LIVE,
)
def test_request_becomes_exact_calls(
    classifier: OfflineClassifier, text: str, expected: list[Call]
) -> None:
    check(classifier, text, expected)


@pytest.mark.parametrize(
    ("text", "asks_about"),
    [
        ("assign it to Maria", "Which assist"),
        ("close the assist", "Which assist"),
        ("assign A-1042", "Who should I assign"),
        ("set Maria's schedule to whenever she likes", "What hours should Maria work"),
        ("reply to A-1042", "What should the reply"),
        ("schedule a briefing", "Which briefing"),
        ("invite Sam as an admin", "email address"),
        ("restore the snapshot", "Which snapshot"),
        ("change the welcome message", "welcome message"),
        ("revoke the api key", "Which API key"),
        ("remove a Q&A pair", "Which Q&A pair"),
    ],
)
def test_missing_argument_asks_instead_of_guessing(
    classifier: OfflineClassifier, text: str, asks_about: str
) -> None:
    result = classifier.classify(text)
    assert result.calls == ()
    assert result.reply is not None and asks_about in result.reply


@pytest.mark.parametrize(
    "text", ["thanks!", "Hi there", "good morning :)", "cheers, that's great", "ok cool thank you"]
)
def test_small_talk_gets_a_reply_and_no_call(classifier: OfflineClassifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.calls == ()
    assert result.reply


def test_unknown_request_gets_a_reply_and_no_call(classifier: OfflineClassifier) -> None:
    result = classifier.classify("the quick brown fox jumps over the lazy dog")
    assert result.calls == ()
    assert result.reply and "help" in result.reply


def test_a_valid_call_is_kept_beside_a_question(classifier: OfflineClassifier) -> None:
    result = classifier.classify("what's our csat today and assign it to Tom")
    assert calls_of(result) == [("get_metrics", {"metric": "csat", "period": "today"})]
    assert result.reply and "Which assist" in result.reply


def test_quoted_text_is_never_split(classifier: OfflineClassifier) -> None:
    check(
        classifier,
        "change the away message to 'We're closed. Back at 9am and happy to help!'",
        [
            (
                "update_agent_config",
                {"field": "away_message", "value": "We're closed. Back at 9am and happy to help!"},
            )
        ],
    )


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("send me the daily summary on slack at 7pm", "19:00"),
        ("send me the daily summary on slack at 16:15", "16:15"),
        ("send me the daily summary on slack at noon", "12:00"),
        ("send me the daily summary on slack at quarter to nine", "08:45"),
        ("send me the daily summary on slack at 8.30 in the evening", "20:30"),
        ("send me the daily summary on slack at twelve thirty a.m.", "00:30"),
    ],
)
def test_times_become_24_hour_clock(classifier: OfflineClassifier, text: str, time: str) -> None:
    (call,) = classifier.classify(text).calls
    assert call.tool == "schedule_briefing" and call.args["time"] == time


def test_every_catalogue_tool_has_a_model_and_description() -> None:
    from core.tools.args import TOOL_DESCRIPTIONS

    assert set(TOOL_ARGS) == READ_TOOLS | WRITE_TOOLS | CONTROL_TOOLS == set(TOOL_DESCRIPTIONS)
    assert not (READ_TOOLS & WRITE_TOOLS or WRITE_TOOLS & CONTROL_TOOLS)
    for model in TOOL_ARGS.values():
        assert model.model_json_schema().get("additionalProperties") is False


def test_classification_is_deterministic_and_fast(classifier: OfflineClassifier) -> None:
    texts = [t for t, _ in READS + WRITES + COMPOUND + EMAILS]
    first = [classifier.classify(t) for t in texts]
    started = time.perf_counter()
    second = [classifier.classify(t) for t in texts]
    elapsed = time.perf_counter() - started
    assert first == second
    # Generous bound (the benchmark measures p99 properly); catches pathological backtracking.
    assert elapsed / len(texts) < 0.02
