"""A realistic demo workspace: a team, an AI agent, 60 days of conversations, assists, training
data and knowledge gaps. Deterministic for a given seed, so tests can recompute its figures."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import directory
from storage.domain import (
    AiAgent,
    Assist,
    AssistEvent,
    Conversation,
    Customer,
    Integration,
    KnowledgeGap,
    QaPair,
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
    ws = await directory.create_workspace(session, name, plan=plan, timezone=timezone)
    ids: dict[str, str] = {}
    for member_name, role, email, links in TEAM:
        member = await directory.add_member(
            session, ws.id, name=member_name, role=role, email=email, identities=links
        )
        ids[email] = member.id
    agent = AiAgent(
        workspace_id=ws.id,
        name="Ava",
        config={
            "welcome_message": "Hi! I'm Ava from Demo Co. How can I help?",
            "tone": "friendly",
            "language": "en",
            "business_hours": "Mon-Fri 9:00-17:00",
            "handoff_message": "Let me bring in a teammate.",
        },
        channels=["email", "sms", "web"],
    )
    session.add(agent)
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
    await session.flush()
    return Seeded(workspace_id=ws.id, member_ids=ids, agent_id=agent.id)
