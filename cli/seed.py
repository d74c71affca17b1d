"""A realistic demo workspace: a team, an AI agent, 60 days of conversations, assists, training
data and knowledge gaps. Deterministic for a given seed, so tests can recompute its figures."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import Change
from core.team import agents, directory
from storage.domain import (
    Assist,
    AssistEvent,
    Conversation,
    Customer,
    Integration,
    KnowledgeGap,
    QaPair,
    Schedule,
    Snapshot,
    TrainingSource,
    TrainingSuggestion,
)

TEAM = [
    ("Olivia Owner", "owner", "olivia@demo.example", {"sms": "+15550100001", "slack": "U0DEMO001"}),
    ("Adam Admin", "admin", "adam@demo.example", {"telegram": "100200300"}),
    ("Maria Lopez", "manager", "maria@demo.example", {"sms": "+15550100003"}),
    ("Tom Baker", "manager", "tom@demo.example", {}),
    ("Sam Support", "support", "sam@demo.example", {}),
]
TOPICS = [
    ("billing", 0.24, 0.70),  # topic, share of traffic, chance the AI resolves it
    ("refunds", 0.16, 0.45),
    ("shipping", 0.22, 0.85),
    ("login", 0.14, 0.60),
    ("product questions", 0.16, 0.90),
    ("cancellations", 0.08, 0.35),
]
ASSISTS = [
    ("Refund not received for order #48213", "refund", "urgent"),
    ("Charged twice this month", "billing", "high"),
    ("Cannot log in after password reset", "technical", "high"),
    ("Package marked delivered but missing", "shipping", "normal"),
    ("Wants to cancel annual plan", "billing", "normal"),
    ("Invoice needs company VAT number", "billing", "low"),
    ("App crashes on export", "technical", "urgent"),
    ("Change delivery address", "shipping", "low"),
    ("Discount code not applied", "billing", "normal"),
    ("Two-factor codes not arriving", "technical", "high"),
    ("Damaged item, wants replacement", "refund", "normal"),
    ("Question about data retention", "other", "low"),
]
QA = [
    (
        "How do I reset my password?",
        "Use 'Forgot password' on the sign-in page; the link lasts 1 hour.",
    ),
    ("When will my order ship?", "Orders ship within 2 business days; you get a tracking email."),
    ("How do refunds work?", "Refunds go back to the original payment method within 5-7 days."),
    ("Can I change my plan?", "Yes, under Settings → Billing; changes apply next cycle."),
]
# Resolved assists, numbered after ASSISTS: subject, category, priority, assignee (the part of
# their email before the @), days before now it was opened, minutes to the first response,
# hours from opening to close.
CLOSED_ASSISTS = [
    ("Order arrived late, wants shipping refund", "shipping", "normal", "maria", 1.5, 25, 5),
    ("Promo code expired at checkout", "billing", "low", "tom", 2.2, 40, 24),
    ("Refund for a duplicate order", "refund", "high", "maria", 6, 10, 2),
    ("Cannot update card details", "billing", "normal", "tom", 8, 90, 48),
    ("Password reset link expired", "technical", "high", "maria", 10, 15, 3),
    ("Wrong size delivered", "shipping", "normal", "tom", 20, 120, 24),
]
# Briefings: whose (as above), type, frequency, days, time, channel, address, active.
SCHEDULES = [
    ("olivia", "daily_inbox_summary", "weekdays", "mon-fri", "08:00", "slack", "U0DEMO001", True),
    ("olivia", "weekly_performance_digest", "weekly", "monday", "09:00", "email", None, True),
    ("olivia", "monthly_roi", "monthly", "", "09:00", "email", None, False),
    ("maria", "daily_inbox_summary", "daily", "", "08:30", "sms", "+15550100003", True),
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
GAPS = [
    ("Do you ship to Canada?", "shipping", 9),
    ("Can I pay with PayPal?", "billing", 7),
    ("Is there a student discount?", "billing", 4),
    ("How do I export my data?", "product questions", 3),
]


@dataclass(frozen=True)
class Seeded:
    workspace_id: str
    member_ids: dict[str, str]  # email -> id
    agent_id: str


async def seed_workspace(
    session: AsyncSession,
    *,
    name: str = "Demo Co",
    plan: str = "enterprise",
    now: datetime,
    seed: int = 7,
    conversations: int = 360,
    timezone: str = "UTC",
) -> Seeded:
    rng = random.Random(seed)
    # Made as every workspace is, with its default agent, which the demo shapes into Ava.
    made = await agents.create_workspace_with_agent(session, name, plan=plan, timezone=timezone)
    ws = made.workspace
    ids: dict[str, str] = {}
    for member_name, role, email, links in TEAM:
        member = await directory.add_member(
            session, ws.id, name=member_name, role=role, email=email, identities=links
        )
        ids[email] = member.id
    agent = await agents.update_agent(
        session,
        ws.id,
        made.agent.id,
        agents.AgentFields(
            name="Ava",
            channels=["email", "sms", "web"],
            welcome_message="Hi! I'm Ava from Demo Co. How can I help?",
            personality="friendly",
        ),
    )
    agent.config = {
        **agent.config,
        agents.LANGUAGE: "en",
        agents.BUSINESS_HOURS: "Mon-Fri 9:00-17:00",
        agents.HANDOFF_MESSAGE: "Let me bring in a teammate.",
    }
    customers = []
    for i in range(40):
        customer = Customer(
            workspace_id=ws.id, name=f"Customer {i + 1}", email=f"customer{i + 1}@mail.example"
        )
        session.add(customer)
        customers.append(customer)
    await session.flush()
    weights = [share for _, share, _ in TOPICS]
    for _ in range(conversations):
        topic, _, solve = rng.choices(TOPICS, weights)[0]
        started = now - timedelta(days=rng.uniform(0, 60))
        resolved = rng.random() < solve
        escalated = not resolved and rng.random() < 0.7
        csat = rng.choice([4, 5, 5, 5, 4, 3]) if resolved else rng.choice([1, 2, 3, 3, 4])
        session.add(
            Conversation(
                workspace_id=ws.id,
                agent_id=agent.id,
                customer_id=rng.choice(customers).id,
                channel=rng.choice(["email", "sms", "web", "whatsapp"]),
                topic=topic,
                resolved_by_ai=resolved,
                escalated=escalated,
                csat=csat if rng.random() < 0.6 else None,
                first_response_seconds=round(rng.uniform(2, 40), 1),
                started_at=started,
                ended_at=started + timedelta(minutes=rng.uniform(2, 30)),
            )
        )
    managers = [ids["maria@demo.example"], ids["tom@demo.example"], None]
    for n, (subject, category, priority) in enumerate(ASSISTS):
        customer = customers[n]
        created = now - timedelta(days=rng.choice([0.2, 1, 2, 4, 8, 9, 12, 15]))
        status = "pending" if n % 5 == 3 else "open"
        assist = Assist(
            workspace_id=ws.id,
            number=1040 + n,
            status=status,
            priority=priority,
            category=category,
            subject=subject,
            summary=f"{customer.name} wrote about: {subject.lower()}. The AI could not resolve it.",
            customer_id=customer.id,
            customer_details={"name": customer.name, "email": customer.email},
            suggested_reply=f"Hi {customer.name}, thanks for your patience: we are on it.",
            escalation_reason="customer asked for a person",
            tags=[category],
            labels=["vip"] if n % 4 == 0 else [],
            assignee_id=managers[n % 3],
            transcript=[{"from": "customer", "text": subject}],
            unread=n % 2 == 0,
            created_at=created,
            updated_at=created,
        )
        session.add(assist)
        await session.flush()
        session.add(
            AssistEvent(
                workspace_id=ws.id,
                assist_id=assist.id,
                kind="note",
                author="Ava",
                body="Customer verified by email.",
                created_at=created,
            )
        )
    for question, answer in QA:
        session.add(QaPair(workspace_id=ws.id, question=question, answer=answer, source="manual"))
    session.add(
        TrainingSource(
            workspace_id=ws.id, kind="url", title="Help center", url="https://help.demo.example"
        )
    )
    session.add(
        TrainingSource(
            workspace_id=ws.id,
            kind="text",
            title="Returns policy",
            content="Items can be returned within 30 days in original packaging.",
        )
    )
    for question, answer, quality in (
        ("Do you ship to Canada?", "Yes, to Canada in 5-8 business days.", 0.86),
        ("How do refunds work?", "Refunds take 10 days.", 0.41),
        ("Can I pay with PayPal?", "Yes, PayPal is accepted at checkout.", 0.78),
    ):
        session.add(
            TrainingSuggestion(
                workspace_id=ws.id,
                question=question,
                answer=answer,
                quality=quality,
                origin="escalations",
            )
        )
    for question, topic, count in GAPS:
        session.add(
            KnowledgeGap(
                workspace_id=ws.id,
                question=question,
                topic=topic,
                occurrences=count,
                first_seen=now - timedelta(days=20),
                last_seen=now - timedelta(days=1),
            )
        )
    for integration, enabled in (("slack", True), ("zendesk", False), ("shopify", True)):
        session.add(Integration(workspace_id=ws.id, name=integration, enabled=enabled))
    await _seed_history(session, ws.id, ids, customers, now=now, timezone=timezone)
    await session.flush()
    return Seeded(workspace_id=ws.id, member_ids=ids, agent_id=agent.id)


async def _seed_history(
    session: AsyncSession,
    workspace_id: str,
    ids: dict[str, str],
    customers: list[Customer],
    *,
    now: datetime,
    timezone: str,
) -> None:
    """What a workspace accumulates by being used: resolved assists, briefings, reviewed
    training suggestions and past writes.

    Fixed values (no random draws), so the rows above stay exactly as they were."""
    member = {email.split("@")[0]: member_id for email, member_id in ids.items()}
    for n, (subject, category, priority, who, days, respond, close) in enumerate(
        CLOSED_ASSISTS, start=len(ASSISTS)
    ):
        customer = customers[n]
        created = now - timedelta(days=days)
        closed = created + timedelta(hours=close)
        session.add(
            Assist(
                workspace_id=workspace_id,
                number=1040 + n,
                status="closed",
                priority=priority,
                category=category,
                subject=subject,
                summary=f"{customer.name} wrote about: {subject.lower()}.",
                customer_id=customer.id,
                customer_details={"name": customer.name, "email": customer.email},
                escalation_reason="customer asked for a person",
                tags=[category],
                assignee_id=member[who],
                transcript=[{"from": "customer", "text": subject}],
                unread=False,
                resolution=f"Sorted out by {who.title()}.",
                created_at=created,
                updated_at=closed,
                first_response_at=created + timedelta(minutes=respond),
                closed_at=closed,
            )
        )
    for who, kind, frequency, on, at, channel, address, active in SCHEDULES:
        session.add(
            Schedule(
                workspace_id=workspace_id,
                member_id=member[who],
                briefing_type=kind,
                frequency=frequency,
                days=WEEKDAYS if on == "mon-fri" else [on] if on else [],
                time=at,
                timezone=timezone,
                channel=channel,
                address=address or f"{who}@demo.example",
                active=active,
                created_at=now - timedelta(days=30),
            )
        )
    await session.flush()
    # A suggestion that contradicts an existing answer, and one a member already turned down.
    shipping = await session.scalar(
        select(QaPair).where(
            QaPair.workspace_id == workspace_id, QaPair.question == "When will my order ship?"
        )
    )
    assert shipping is not None
    session.add(
        TrainingSuggestion(
            workspace_id=workspace_id,
            question="How fast do orders ship?",
            answer="Orders ship the same day.",
            quality=0.64,
            conflicts_with=shipping.id,
            origin="conversations",
        )
    )
    session.add(
        TrainingSuggestion(
            workspace_id=workspace_id,
            question="Can I return opened items?",
            answer="Opened items cannot be returned.",
            quality=0.52,
            status="rejected",
            origin="escalations",
        )
    )
    # Two executed writes: one still in force, one undone right away.
    rows = await session.scalars(
        select(Assist).where(Assist.workspace_id == workspace_id, Assist.number.in_([1047, 1048]))
    )
    by_number = {row.number: row for row in rows}
    lowered, reassigned = by_number[1047], by_number[1048]
    session.add(
        Snapshot(
            workspace_id=workspace_id,
            member_id=member["olivia"],
            summary=f"set {lowered.ref} to low priority",
            before=[
                Change(
                    entity="assist",
                    key=lowered.id,
                    field="priority",
                    before="normal",
                    after="low",
                    label=f"{lowered.ref} priority",
                ).model_dump(mode="json")
            ],
            created_at=now - timedelta(days=2, hours=3),
        )
    )
    session.add(
        Snapshot(
            workspace_id=workspace_id,
            member_id=member["adam"],
            summary=f"assign {reassigned.ref} to Tom Baker",
            before=[
                Change(
                    entity="assist",
                    key=reassigned.id,
                    field="assignee_id",
                    before=None,
                    after=member["tom"],
                    label=f"{reassigned.ref} assignee",
                    shown_before="unassigned",
                    shown_after="Tom Baker",
                ).model_dump(mode="json")
            ],
            created_at=now - timedelta(days=5, hours=1),
            undone_at=now - timedelta(days=5, hours=1) + timedelta(seconds=12),
        )
    )
