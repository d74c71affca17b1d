"""The pipeline: workers claim committed tasks, classify them, run tools, write replies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Update

from config.failures import RepeatedFailure, pause
from config.logging import task_context
from config.metrics import Metrics
from core.approvals.proposals import Draft, proposal_payload, propose, render_proposal
from core.assists.csat import Links
from core.assists.desk import CustomerDesk
from core.classify.backend import Classifier
from core.live import chat as live_chat
from core.schedules import briefings
from core.team.identity import Principal, resolve
from core.team.linking import AccountLinking
from core.tools import control, learning
from core.tools.catalogue import unavailable_reason
from core.tools.registry import ToolContext, ToolRegistry
from delivery.live import notify
from delivery.outbox.claims import OUTBOX, Reservation
from delivery.outbox.queue import enqueue, insert_rows, reply_rows
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Approval, Attachment, Briefing, Route, Sender, Task
from storage import statements
from storage.db import Database
from storage.models import TaskRow
from storage.sqlite_driver import inline
from storage.statements import Statement
from storage.types import new_id, short_reference, utcnow

if TYPE_CHECKING:
    from core.llm.memory import SessionMemory

log = logging.getLogger(__name__)
_tasks = cast(Table, TaskRow.__table__)

# Nobody is paged about a failed task (it is logged and listed as failed), and its work was
# rolled back: the reply says exactly that much.
FAILURE_REPLY = (
    "Sorry, something went wrong while handling your request (reference {ref}), so nothing "
    "was done. Please try again in a moment."
)


# How many times a task's transaction is run when the database refuses it for a concurrent
# writer before the task fails, and the longest pause between two runs. On SQLite a write
# that follows reads in the same transaction (a savepoint's, say) is refused at once whenever
# another connection committed since those reads, however long the busy timeout; with the
# outbox recording receipts beside it, three runs 50 and 100 ms apart were sometimes all
# refused. The pauses double (with jitter) so a burst of commits is waited out.
TRANSIENT_RETRIES = 6
TRANSIENT_PAUSE_MAX = 1.0
_TRANSIENT_SQLSTATES = ("40001", "40P01")  # serialization failure, deadlock detected


def transient(exc: DBAPIError) -> bool:
    """Whether the same transaction can simply be run again after EXC: the database refused
    it for a concurrent writer (SQLite's "database is locked": a read transaction that another
    connection's commit overtook cannot become a write one, whatever the busy timeout;
    PostgreSQL's serialization failure or deadlock), or its connection was found cut (a
    database restart or failover; the pool has discarded its connections and opens new ones)."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if "database is locked" in str(orig):
        return True
    state = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return state in _TRANSIENT_SQLSTATES


class LostClaim(Exception):
    """Another node reclaimed the task after this node's lease ran out; its work is discarded."""


@dataclass(frozen=True)
class Outcome:
    route: Route
    deliverables: list[Deliverable]
    member_id: str | None
    classification: Classification | None = None


def usage_columns(result: Classification | None) -> dict[str, Any]:
    """The task row's record of which classifier answered and what the model call cost."""
    if result is None:
        return {}
    if result.usage is None:
        return {"llm_backend": result.backend}
    return {
        "llm_backend": f"llm:{result.usage.endpoint}",
        "llm_prompt_tokens": result.usage.prompt_tokens,
        "llm_completion_tokens": result.usage.completion_tokens,
        "llm_cost_usd": result.usage.cost_usd,
    }


class TaskProcessor:
    """Turns one task into replies: identity, classification, tools. Pure of claiming concerns."""

    def __init__(
        self,
        classifier: Classifier,
        tools: ToolRegistry,
        memory: SessionMemory | None = None,
        customers: CustomerDesk | None = None,
        linking: AccountLinking | None = None,
    ) -> None:
        self._classifier = classifier
        self._tools = tools
        self._memory = memory
        self._charts = briefings.ChartCache()
        # Customers always reach a desk: the settings' one, else one on the defaults (no
        # emails, no LLM), so no customer is ever told something nothing recorded.
        self._customers = customers if customers is not None else CustomerDesk()
        self._mailer = customers.mailer if customers is not None else None
        self._llm = customers.llm if customers is not None else None
        self._links = customers.links if customers is not None else Links()
        self._linking = linking if linking is not None else AccountLinking()

    def _context(
        self, session: AsyncSession, principal: Principal, task: Task, now: datetime
    ) -> ToolContext:
        return ToolContext(
            session,
            principal,
            task,
            now,
            self._tools,
            self._mailer,
            self._llm,
            self._links,
            self._customers.live,
        )

    async def process(self, session: AsyncSession, task: Task, now: datetime) -> Outcome:
        with inline():  # one statement, by the sender's identity
            principal = await resolve(session, task)
        # "link 123456" links the sender's chat identity (customers' included: that is its
        # point) and is the request's one reply; an unknown Slack user may be a member by
        # their verified email (core.team.linking).
        linked = await self._linking.answer(session, task, principal, now)
        if linked is not None:
            return Outcome(task.reply_route, [linked], principal.member_id)
        principal = await self._linking.principal(session, task, principal)
        if task.kind == "briefing":
            return await self._brief(session, task, principal)
        if task.kind == "approval" and task.approval is not None:
            return await self._decide(session, task, task.approval, principal, now)
        # An operator's answer to a live offer, or their reply in a live session's Slack
        # thread: for the customer, never for the classifier (core.live.chat).
        relayed = await live_chat.relay(session, task, principal, now, self._customers.live)
        if relayed is not None:
            return Outcome(task.reply_route, relayed, principal.member_id)
        if principal.is_customer:
            # Customer text is data: it never reaches the operator tools. The AI agent answers
            # it (and escalates to the team) where one serves the channel; else it goes to the
            # team as an assist.
            replies = await self._customers.reply(session, task, principal, now)
            return Outcome(task.reply_route, replies, None)
        ctx = self._context(session, principal, task, now)
        # A plain yes or no right after a learning-mode offer answers it, not the classifier.
        answered = await learning.answer(ctx)
        if answered is not None:
            replies = (
                answered if isinstance(answered, list) else await self._settle(ctx, [answered])
            )
            return Outcome(task.reply_route, replies, principal.member_id)
        result = await self._classifier.classify(task.text, principal, now)
        deliverables: list[Deliverable] = []
        if result.reply:
            deliverables.append(Deliverable(text=result.reply))
        deliverables.extend(await self._run_calls(ctx, result.calls))
        deliverables.extend(await learning.offers_for_calls(ctx, result.calls))
        if not deliverables:
            deliverables.append(
                Deliverable(text='I\'m not sure what you need. Say "help" to see what I can do.')
            )
        if self._memory is not None:
            # Same transaction as the replies: the exchange is kept exactly when they are.
            await self._memory.remember(session, principal, task.text, result, now)
        return Outcome(task.reply_route, deliverables, principal.member_id, result)

    async def _run_calls(self, ctx: ToolContext, calls: Sequence[ToolCall]) -> list[Deliverable]:
        """Run CALLS: reads answer at once, every write of the request joins one proposal."""
        deliverables: list[Deliverable] = []
        drafts: list[Draft] = []
        for call in calls:
            produced = await self._run_tool(ctx, ctx.principal, call.tool, call.args)
            if isinstance(produced, Draft):
                drafts.append(produced)
            else:
                deliverables.extend(produced)
        return deliverables + await self._settle(ctx, drafts)

    async def _settle(self, ctx: ToolContext, drafts: Sequence[Draft]) -> list[Deliverable]:
        """Every draft of one request as one proposal, approved (and executed) at once."""
        if not drafts:
            return []
        proposal = await propose(
            ctx.session, ctx.principal, drafts, now=ctx.now, task_id=ctx.task.id
        )
        notices = [d.notice for d in drafts if d.notice]
        return [
            Deliverable(
                kind="proposal",
                title="Approval needed",
                text=render_proposal(proposal, notices),
                # The notices ("the email is sent at once") apart too, for renderers that
                # show the changes as a table rather than the text.
                data={"proposal": proposal_payload(proposal), "notices": notices},
            )
        ]

    async def _brief(self, session: AsyncSession, task: Task, principal: Principal) -> Outcome:
        """A schedule fired: build its briefing, or run the call it repeats (learning mode).
        The figures are as of the scheduled time, whenever the task is processed."""
        if principal.is_customer:
            log.info("briefing %s skipped: its member is no longer active", task.external_id)
            return Outcome(task.reply_route, [], None)
        now = task.received_at
        ctx = self._context(session, principal, task, now)
        if task.briefing is None:
            raise LookupError(f"briefing task {task.external_id} carries no briefing")
        params, kind = task.briefing.params, task.briefing.type
        if kind in ("report", "bulk_action"):
            call = params.get("call") or {}
            replies = await self._run_calls(
                ctx, [ToolCall(tool=str(call.get("tool")), args=call.get("args") or {})]
            )
        else:
            replies = await briefings.deliverables(ctx, kind, params, self._charts)
        return Outcome(task.reply_route, replies, principal.member_id)

    async def _decide(
        self,
        session: AsyncSession,
        task: Task,
        approval: Approval,
        principal: Principal,
        now: datetime,
    ) -> Outcome:
        """An approval by button or by "YES 1234": decided without the classifier. The reply
        carries the channel's `edit` handle (APPROVAL's prompt) once the proposal is decided,
        so the channel updates the prompt in place with the outcome."""
        if principal.is_customer:
            text = (
                f"This {task.channel} account is not linked to a member of the team, "
                "so it cannot approve or reject anything."
            )
            return Outcome(task.reply_route, [Deliverable(kind="error", text=text)], None)
        approve = approval.decision == "approve"
        ctx = self._context(session, principal, task, now)
        if approval.proposal_id is not None:
            produced = await control.decide_by_id(ctx, approval.proposal_id, approve=approve)
        else:
            name = "approve_proposal" if approve else "reject_proposal"
            result = await self._run_tool(ctx, principal, name, {"code": approval.code})
            produced = result if isinstance(result, list) else []
        edit = approval.prompt
        deliverables = []
        for deliverable in produced:
            status = deliverable.data.get("proposal", {}).get("status")
            if edit and status not in (None, "pending"):
                deliverable = deliverable.model_copy(
                    update={"data": {**deliverable.data, "edit": edit}}
                )
            deliverables.append(deliverable)
        return Outcome(task.reply_route, deliverables, principal.member_id)

    async def _run_tool(
        self, ctx: ToolContext, principal: Principal, name: str, args: dict[str, Any]
    ) -> list[Deliverable] | Draft:
        spec = self._tools.get(name)
        if spec is None:
            return [Deliverable(text=f"I understood that as {name}, which I can't do yet.")]
        if not spec.allows(principal):
            reason = unavailable_reason(principal.plan, principal.role, ctx.links)
            return [Deliverable(text=f"I can't do that for you. {reason}")]
        try:
            parsed = spec.args.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            return [Deliverable(kind="error", text=f"I couldn't run {name}: {problems}.")]
        produced = await spec.handler(ctx, parsed)
        if isinstance(produced, Draft):
            # Kept with the proposal, so an approved request can be repeated on a schedule.
            return produced.model_copy(
                update={"call_args": parsed.model_dump(mode="json", exclude_none=True)}
            )
        return produced


def row_to_task(row: Any) -> Task:
    """The Task a claimed row holds. Built without validating again: every row was
    journaled from a validated Task (the fields' limits and NUL stripping applied then)."""
    route = row.reply_route
    return Task.model_construct(
        id=row.id,
        workspace_id=row.workspace_id,
        channel=row.channel,
        external_id=row.external_id,
        sender=Sender.model_construct(channel=row.sender_channel, address=row.sender_address),
        conversation=row.conversation,
        text=row.text,
        attachments=tuple(Attachment.model_construct(**a) for a in row.attachments or ()),
        received_at=row.received_at,
        reply_route=Route.model_construct(
            channel=route["channel"], address=route["address"], thread=route.get("thread")
        ),
        kind=row.kind,
        approval=Approval.model_construct(**row.approval) if row.approval else None,
        briefing=Briefing.model_construct(**row.briefing) if row.briefing else None,
        sender_name=row.sender_name,
        email_record=row.email_record,
        raw=row.raw or {},
    )


@functools.cache
def _claim_statement(limit: int) -> Statement:
    """The claim: up to LIMIT queued tasks, or running ones whose lease expired, oldest
    first, marked running under a new token in one statement (SKIP LOCKED on PostgreSQL).
    Built once per limit; each claim only binds the time, node, token and lease."""
    claimable = (
        select(_tasks.c.id)
        .where(
            or_(
                _tasks.c.status == "queued",
                and_(_tasks.c.status == "running", _tasks.c.lease_until < bindparam("claim_now")),
            )
        )
        .order_by(_tasks.c.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return Statement(
        update(_tasks)
        .where(_tasks.c.id.in_(claimable.scalar_subquery()))
        .values(
            status="running",
            claimed_by=bindparam("claim_node"),
            claim_token=bindparam("claim_token"),
            lease_until=bindparam("claim_lease"),
            attempts=_tasks.c.attempts + 1,
        )
        .returning(*_tasks.c)
    )


def _mark_update(columns: frozenset[str]) -> Update:
    """The fenced update that ends a claim, setting COLUMNS (bound by name) as well as
    `finished_at` and `lease_until`."""
    return (
        update(_tasks)
        .where(
            _tasks.c.id == bindparam("mark_id"),
            _tasks.c.claim_token == bindparam("mark_token"),
            _tasks.c.status == "running",
        )
        .values({name: bindparam(name) for name in {"finished_at", "lease_until", *columns}})
    )


@functools.cache
def _mark_statement(columns: frozenset[str]) -> Statement:
    """`_mark_update`, one statement per set of columns, built once."""
    return Statement(_mark_update(columns))


_REPLY_PREFIX = "reply_"


@functools.cache
def _finish_statement(columns: frozenset[str], reply: tuple[str, ...]) -> Statement:
    """The fenced update of `_mark_update` and the insert of the task's one reply (its columns
    REPLY, bound as `reply_<column>`) as one statement (PostgreSQL): the reply is selected
    from the update's RETURNING, so it is written only if the update took the task, and a
    node whose claim was taken over writes neither."""
    finished = _mark_update(columns).returning(_tasks.c.id).cte("finished")
    values = select(
        *(bindparam(_REPLY_PREFIX + key, type_=OUTBOX.c[key].type) for key in reply)
    ).select_from(finished)
    return Statement(
        insert(OUTBOX).from_select(list(reply), values, include_defaults=False).add_cte(finished)
    )


def _with_defaults(reply: dict[str, Any]) -> dict[str, Any]:
    """REPLY with the outbox columns' Python defaults for those it does not give, as the
    driver's INSERT fills them in (an INSERT from a SELECT has no VALUES to fill)."""
    filled = dict(reply)
    for column in OUTBOX.c:
        default: Any = column.default
        if column.key in filled or default is None:
            continue
        if default.is_scalar:
            filled[column.key] = default.arg
        elif default.is_callable:
            filled[column.key] = default.arg(None)
    return filled


def _done_columns(outcome: Outcome) -> dict[str, Any]:
    """The columns a finished task's row is given (besides the fence's own)."""
    return {
        "status": "done",
        "member_id": outcome.member_id,
        **usage_columns(outcome.classification),
    }


def _mark_params(task_id: str, token: str, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `_mark_update` setting VALUES on TASK_ID under TOKEN."""
    return {
        "mark_id": task_id,
        "mark_token": token,
        "finished_at": utcnow(),
        "lease_until": None,
        **values,
    }


def _reply_rows(task: Task, outcome: Outcome) -> list[dict[str, Any]]:
    return reply_rows(
        workspace_id=task.workspace_id,
        task_id=task.id,
        route=outcome.route,
        deliverables=outcome.deliverables,
        dedupe_prefix=f"task:{task.id}",
    )


class TaskHandoff:
    """Room in a node's pipeline for a journal batch about to be committed (the journal's
    `Handoff`): its rows are written already claimed by the node under one token, so no
    claim is made for them, and `adopt` starts the ones inserted once they are committed;
    `cancel` if the commit failed. A node that dies in between leaves them to the lease, as
    it would a claim."""

    __slots__ = ("_count", "_open", "_token", "_worker", "columns")

    def __init__(self, worker: PipelineWorker, count: int, token: str, lease: timedelta) -> None:
        self._worker = worker
        self._count = count
        self._token = token
        self._open = True
        self.columns: dict[str, Any] = {
            "status": "running",
            "claimed_by": worker.node_id,
            "claim_token": token,
            "lease_until": utcnow() + lease,
            "attempts": 1,
        }

    def adopt(self, tasks: Sequence[Task]) -> None:
        if self._open:
            self._open = False
            self._worker._adopt(tasks, self._token, self._count)

    def cancel(self) -> None:
        if self._open:
            self._open = False
            self._worker._unreserve(self._count)


class PipelineWorker:
    """Claims queued tasks (SKIP LOCKED on PostgreSQL), processes them, fences on the claim.

    Up to CONCURRENCY tasks are processed at once, each as soon as a place is free. The
    tasks this node journals while it has room are handed over already claimed (`reserve`);
    the others are claimed, oldest first. Once a batch was written queued (no room), handing
    over stops until a claim finds the queue drained, so no task overtakes one queued before
    it on this node; at each poll the queue is looked at again (other nodes' tasks, leases
    that ran out)."""

    def __init__(
        self,
        db: Database,
        processor: TaskProcessor,
        *,
        node_id: str,
        metrics: Metrics,
        lease_seconds: float = 60.0,
        concurrency: int = 4,
        max_attempts: int = 5,
        poll_interval: float = 0.5,
        on_replies: Callable[[list[str]], None] | None = None,
        reserve: Callable[[int], Reservation | None] | None = None,
    ) -> None:
        self._db = db
        self._processor = processor
        self._node_id = node_id
        self._metrics = metrics
        self._lease = timedelta(seconds=lease_seconds)
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._poll_interval = poll_interval
        self._on_replies = on_replies
        # The node's outbox, where it has room: a task's replies are written already claimed
        # by it and handed over after the commit (no claim transaction of their own);
        # otherwise they are written waiting and named to ON_REPLIES.
        self._reserve = reserve
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()
        self._reserved = 0  # places promised to journal batches being committed
        # Whether queued tasks may be waiting: set at start, when a batch is written queued
        # and at each poll; cleared when a claim finds fewer than it asked for.
        self._backlog = True
        # Batches written queued so far: one written while a claim is under way may have been
        # committed after the claim looked, whatever the claim found (see `run`).
        self._queued_batches = 0
        self._polled_at = -math.inf  # when the queue was last looked at (monotonic)

    @property
    def node_id(self) -> str:
        return self._node_id

    def wake(self, queued: int = 0) -> None:
        """QUEUED tasks were journaled (not handed over): claim them."""
        if queued:
            self._backlog = True
            self._queued_batches += 1
        self._wakeup.set()

    def _room(self) -> int:
        return self._concurrency - len(self._running) - self._reserved

    def reserve(self, count: int) -> TaskHandoff | None:
        """Places for COUNT tasks about to be journaled, to be written already claimed by this
        node (see `TaskHandoff`); None when it is stopping, has not the room, or tasks may be
        queued before them."""
        if self._stopping or self._backlog or count <= 0 or count > self._room():
            return None
        self._reserved += count
        return TaskHandoff(self, count, new_id(), self._lease)

    def _unreserve(self, count: int) -> None:
        self._reserved -= count
        self._wakeup.set()

    def _adopt(self, tasks: Sequence[Task], token: str, reserved: int) -> None:
        self._reserved -= reserved
        for task in tasks:
            self._start(self._handle_claimed(task, 1, token), task.id)
        if len(tasks) < reserved:
            self._wakeup.set()  # places a duplicate did not take

    def _start(self, work: Coroutine[Any, Any, None], task_id: str) -> None:
        with task_context(task_id):  # every line logged while processing it names the task
            running = asyncio.create_task(work)
        self._running.add(running)
        running.add_done_callback(self._finished)

    def _finished(self, running: asyncio.Task[None]) -> None:
        self._running.discard(running)
        if self._backlog or time.monotonic() >= self._polled_at + self._poll_interval:
            # A place is free for a claim the loop would make now. Otherwise it would only
            # wait again until its next poll: with the node's own tasks handed over (nearly
            # every one under a steady load), that was a wasted turn of the loop a task.
            self._wakeup.set()
        if not running.cancelled() and (error := running.exception()) is not None:
            # Recording a task's failure failed too (the database away): its lease gives it
            # to a claim later, here or on another node.
            log.error("a task could not be finished", exc_info=error)

    def stop(self) -> None:
        """Stop claiming; tasks in flight finish."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        failures = RepeatedFailure(log, "claiming tasks")
        try:
            while not self._stopping:
                self._wakeup.clear()
                if time.monotonic() >= self._polled_at + self._poll_interval:
                    # Other nodes' tasks and leases that ran out are looked for at every poll,
                    # however busy the node is with its own.
                    self._backlog = True
                room = self._room()
                if self._backlog and room > 0:
                    batches = self._queued_batches
                    try:
                        claimed = await self.claim(room)
                    except Exception as exc:  # the database is away: what is queued waits
                        await pause(failures.failed(exc), self._wakeup, lambda: self._stopping)
                        continue
                    failures.succeeded()
                    self._polled_at = time.monotonic()
                    # Fewer than asked for: the queue was empty then. What this node journals
                    # since is handed over, or wakes it; claiming again right away would be a
                    # write transaction that finds nothing. A full claim: more may be queued,
                    # claimed as places come free. A batch written queued while the claim was
                    # under way may not have been seen by it: the backlog stays, or that batch
                    # would wait for the next poll.
                    self._backlog = len(claimed) == room or self._queued_batches != batches
                    for row, token in claimed:
                        self._start(self._handle_task(row, token), row.id)
                # Until the next poll, or a place coming free when the poll is due already.
                due = self._polled_at + self._poll_interval - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due if due > 0 else self._poll_interval):
                        await self._wakeup.wait()
        finally:
            # Stopping: the tasks in flight finish (or are cancelled with this).
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    async def claim(self, limit: int | None = None) -> list[tuple[Any, str]]:
        """Claim up to LIMIT (the worker's concurrency) queued tasks, or running ones whose
        lease expired (their node died)."""
        now = utcnow()
        token = new_id()
        params = {
            "claim_now": now,
            "claim_node": self._node_id,
            "claim_token": token,
            "claim_lease": now + self._lease,
        }
        limit = limit or self._concurrency
        with inline(limit):  # the statement and its commit
            async with self._db.write() as conn:
                rows = await _claim_statement(limit).rows_alone(conn, params)
        return [(row, token) for row in rows]

    async def _handle(self, row: Any, token: str) -> None:
        with task_context(row.id):  # every line logged while processing it names the task
            await self._handle_task(row, token)

    async def _handle_task(self, row: Any, token: str) -> None:
        await self._handle_claimed(row_to_task(row), row.attempts, token)

    async def _handle_claimed(self, task: Task, attempts: int, token: str) -> None:
        started = time.perf_counter()
        self._metrics.workers_busy.inc()
        try:
            if attempts > self._max_attempts:
                await self._fail(task, token, "gave up after repeated crashes")
                return
            try:
                replies = await self._process(task, token)
                self._metrics.tasks_processed.labels("done").inc()
                if self._on_replies is not None and replies is not None:
                    self._on_replies(replies)
            except LostClaim:
                log.warning("task %s was reclaimed by another node; discarding", task.id)
                self._metrics.tasks_processed.labels("lost").inc()
            except Exception as exc:  # the one error boundary per task
                log.exception("task %s failed", task.id)
                await self._fail(task, token, f"{type(exc).__name__}: {exc}")
        finally:
            self._metrics.workers_busy.dec()
            self._metrics.task_seconds.observe(time.perf_counter() - started)

    async def _process(self, task: Task, token: str) -> list[str] | None:
        """Process TASK and commit its outcome; returns the outbox ids of its replies to
        claim, or None when the outbox took them all as they were committed. A transaction
        the database refused for a concurrent writer (SQLite's lock, a PostgreSQL serialization
        failure or deadlock) was rolled back whole, so it is simply run again, a few times,
        before the task fails. On SQLite the runs after the first hold this node's write turn
        from the start: a tool that reads and then writes in one transaction (undo's
        savepoint, say) is refused at once whenever another connection commits in between,
        and this node's other writers (the outbox's records, the journal) commit often; with
        the turn held, none of them can."""
        held = False
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                async with (
                    self._db.writing() if held else contextlib.nullcontext(),
                    self._db.kept_session() as session,
                ):
                    with statements.reads_before_writes(session):
                        outcome = await self._processor.process(session, task, utcnow())
                    if not held and await self._only_read(session, task, outcome):
                        rows, reservation = await self._finish_apart(session, task, token, outcome)
                    else:
                        rows, reservation = await self._finish_in(
                            session, task, token, outcome, held
                        )
                if reservation is None:
                    return [row["id"] for row in rows]
                reservation.adopt(rows)
                return None
            except DBAPIError as exc:
                if attempt == TRANSIENT_RETRIES or not transient(exc):
                    raise
                log.info("task %s: the database refused a concurrent write; again", task.id)
                held = True
                pause = min(TRANSIENT_PAUSE_MAX, 0.05 * 2 ** (attempt - 1))
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _finish_in(
        self, session: AsyncSession, task: Task, token: str, outcome: Outcome, held: bool
    ) -> tuple[list[dict[str, Any]], Reservation | None]:
        """The outcome written in the task's transaction, and committed."""
        # The reads ran beside other writers; the writes and their commit take this node's
        # turn at the write lock (SQLite) in one go. A task that already wrote holds SQLite's
        # lock: waiting for a turn then would deadlock.
        turn = (
            contextlib.nullcontext() if held or await self._writing(session) else self._db.writing()
        )
        async with turn:
            with inline(len(outcome.deliverables)):  # the writes and the commit
                rows, reservation = await self._finish(session, task, token, outcome)
                try:
                    await session.commit()
                except BaseException:
                    if reservation is not None:
                        reservation.cancel()
                    raise
        return rows, reservation

    async def _writing(self, session: AsyncSession) -> bool:
        """Whether SESSION's SQLite connection is inside a write transaction already (the
        driver begins one at the first write); always False elsewhere."""
        if not self._db.is_sqlite:
            return False
        _connection, adapted = await statements.driver(session)
        return bool(getattr(adapted.driver_connection, "in_transaction", False))

    async def _only_read(self, session: AsyncSession, task: Task, outcome: Outcome) -> bool:
        """Whether the task's outcome can be written apart from its session, which has only
        read (`statements.nothing_begun`): with its replies for a channel the console does
        not watch, and on PostgreSQL only one (`_finish_statement`)."""
        if not outcome.deliverables or (task.channel == "web" and outcome.route.channel == "web"):
            return False
        if not self._db.is_sqlite and len(outcome.deliverables) != 1:
            return False
        return await statements.nothing_begun(session)

    async def _finish_apart(
        self, session: AsyncSession, task: Task, token: str, outcome: Outcome
    ) -> tuple[list[dict[str, Any]], Reservation | None]:
        """The outcome of a task that only read, written and committed without its session's
        transaction, which is then closed with nothing to commit: its rows as written, and
        the outbox's reservation for them if it had room. On PostgreSQL the fenced update and
        the one reply's insert are one statement the server commits as it runs it
        (`_finish_statement`): no BEGIN, no COMMIT, one round trip of four. On SQLite they
        are a short write transaction on the writer connection, begun and committed by the
        driver (`Database.write`), where the session's commit through SQLAlchemy cost some
        70 µs of CPU more."""
        values = _done_columns(outcome)
        rows = _reply_rows(task, outcome)
        reservation = self._reserve(len(rows)) if self._reserve is not None else None
        try:
            if reservation is not None:
                for row in rows:
                    row.update(reservation.columns)
            if self._db.is_sqlite:
                with inline(len(rows)):  # the statements and their commit
                    async with self._db.write() as conn:
                        await self._mark(conn, task.id, token, **values)
                        await insert_rows(conn, rows)
            else:
                await self._finish_alone(session, task.id, token, values, rows[0])
        except BaseException:
            if reservation is not None:
                reservation.cancel()
            raise
        return rows, reservation

    async def _finish(
        self, session: AsyncSession, task: Task, token: str, outcome: Outcome
    ) -> tuple[list[dict[str, Any]], Reservation | None]:
        """The task's outcome written (not committed): its reply rows as written, and the
        outbox's reservation for them if it had room."""
        # Fence first: a node whose claim was taken over must not write a second reply.
        await self._mark(session, task.id, token, **_done_columns(outcome))
        rows = _reply_rows(task, outcome)
        reservation = self._reserve(len(rows)) if self._reserve is not None and rows else None
        try:
            if reservation is not None:
                for row in rows:
                    row.update(reservation.columns)
            await insert_rows(session, rows)
            if task.channel == "web" and outcome.route.channel == "web":
                # An open console of the member shows the answer as soon as it commits.
                await notify(
                    session,
                    task.workspace_id,
                    task.sender.address,
                    "operator_answer",
                    {"task_id": task.id},
                )
        except BaseException:
            if reservation is not None:
                reservation.cancel()
            raise
        return rows, reservation

    async def _finish_alone(
        self,
        session: AsyncSession,
        task_id: str,
        token: str,
        values: dict[str, Any],
        reply: dict[str, Any],
    ) -> None:
        params = _mark_params(task_id, token, values)
        reply = _with_defaults(reply)
        params.update((_REPLY_PREFIX + key, value) for key, value in reply.items())
        statement = _finish_statement(frozenset(values), tuple(reply))
        if await statement.run_alone(session, params) != 1:
            raise LostClaim(task_id)

    async def _mark(
        self, on: AsyncSession | AsyncConnection, task_id: str, token: str, **values: Any
    ) -> None:
        changed = await _mark_statement(frozenset(values)).run(
            on, _mark_params(task_id, token, values)
        )
        if changed != 1:
            raise LostClaim(task_id)

    async def _fail(self, task: Task, token: str, error: str) -> None:
        try:
            async with self._db.writing(), self._db.session() as session:
                await self._mark(session, task.id, token, status="failed", error=error[:2000])
                replies = enqueue(
                    session,
                    workspace_id=task.workspace_id,
                    task_id=task.id,
                    route=task.reply_route,
                    deliverables=[
                        Deliverable(
                            kind="error", text=FAILURE_REPLY.format(ref=short_reference(task.id))
                        )
                    ],
                    dedupe_prefix=f"task:{task.id}",
                )
        except LostClaim:
            return
        self._metrics.tasks_processed.labels("failed").inc()
        if self._on_replies is not None:
            self._on_replies(replies)

    async def release(self) -> None:
        """On shutdown: put tasks this node still holds back in the queue for another node."""
        async with self._db.session() as session:
            await session.execute(
                update(_tasks)
                .where(_tasks.c.status == "running", _tasks.c.claimed_by == self._node_id)
                .values(status="queued", lease_until=None, claim_token=None)
            )
