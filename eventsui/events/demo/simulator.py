"""Realistic Prefect 3 event traffic, for demos, backfills and benchmarks.

A small fleet (work pools and their queues, workers of several types, flows, deployments, a
couple of `flow.serve()` runners) runs flows; every step emits the event Prefect 3 would emit,
in the shapes of Prefect's event reference (worker and runner events, task-run states)
and, for flow-run states, of Prefect's server (`prefect/server/models/events.py`).

Two details follow what a server really *receives* rather than what one call site builds:

* Task-run state events are built with only their tag resources
  (`emit_task_run_state_change_event`), but Prefect's `EventsWorker` attaches the run context
  before sending (`attach_related_resources_from_context`): flow-run, flow, deployment,
  work-queue and work-pool, plus the tags of those objects.
* Flow-run state events use the new state's id as the event id and `follows` the previous
  state's event, so a run's states form a chain.

The simulation runs on its own clock; the caller decides when each event occurred.
`generate()` spreads a fixed number of events evenly over a time range (backfill), and
`LiveSource.take()` stamps them "now" (live emission). Both are deterministic for a seed.
Every event is validated through `schemas.Event`, like any other event entering the store.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsui.events import schemas, states

__all__ = ["Simulator", "LiveSource", "generate", "size_stats", "TASK_RUN_STATES"]

PREFECT_VERSIONS = ("3.4.11", "3.6.2", "3.8.8")

# State name -> state type (as label text). Task runs and flow runs share Prefect's state names.
TASK_RUN_STATES: dict[str, str] = {name: kind.value for name, kind in states.STATE_TYPES.items()}
FLOW_RUN_STATES = TASK_RUN_STATES

WORKER_EVENTS = (
    "prefect.worker.started",
    "prefect.worker.submitted-flow-run",
    "prefect.worker.executed-flow-run",
    "prefect.worker.stopped",
)
RUNNER_EVENTS = ("prefect.runner.cancelled-flow-run",)

_ADJECTIVES = (
    "amber", "bold", "brave", "crimson", "daring", "eager", "fancy", "gentle", "glowing",
    "hungry", "icy", "jolly", "keen", "lively", "mellow", "nimble", "olive", "proud", "quiet",
    "rapid", "silky", "tidy", "urban", "vivid", "witty", "zealous", "cerulean", "dashing",
)  # fmt: skip
_ANIMALS = (
    "okapi", "otter", "heron", "lynx", "marmot", "ibis", "jackal", "koala", "lemur", "moose",
    "narwhal", "ocelot", "panda", "quail", "raccoon", "seal", "tapir", "urchin", "vole",
    "walrus", "yak", "zebra", "bison", "caracal", "dingo", "egret", "ferret", "gecko",
)  # fmt: skip

# (flow name, its tasks with their tags, parameter names)
_FLOWS: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]], ...] = (
    ("etl-orders", (("extract-orders", ("postgres",)), ("transform-orders", ("pandas",)),
                    ("load-warehouse", ("snowflake",))), ("start_date", "end_date")),
    ("sync-salesforce", (("fetch-accounts", ("api", "salesforce")),
                         ("fetch-opportunities", ("api", "salesforce")),
                         ("upsert-crm", ("db",))), ("full_refresh",)),
    ("train-churn-model", (("load-features", ("s3", "parquet")), ("fit-model", ("gpu", "ml")),
                           ("evaluate-model", ("ml",)), ("register-model", ("mlflow",))),
     ("model_name", "epochs")),
    ("dbt-nightly", (("dbt-deps", ("dbt",)), ("dbt-run", ("dbt",)),
                     ("dbt-test", ("dbt",))), ("target", "select")),
    ("ingest-s3-logs", (("list-objects", ("s3",)), ("parse-logs", ("cpu-heavy",)),
                        ("write-partitions", ("s3", "parquet"))), ("bucket", "prefix")),
    ("backup-postgres", (("pg-dump", ("postgres",)), ("upload-dump", ("s3",)),
                         ("prune-backups", ("s3",))), ("database",)),
    ("refresh-dashboards", (("query-metrics", ("db",)), ("render-charts", ()),
                            ("publish-dashboard", ("api",))), ("dashboard_ids",)),
    ("send-weekly-report", (("collect-kpis", ("db",)), ("build-pdf", ()),
                            ("email-report", ("smtp",))), ("recipients",)),
)  # fmt: skip

_FAILURES = (
    "ValueError: invalid literal for int() with base 10: 'N/A'",
    "ConnectionError: HTTPSConnectionPool(host='api.example.com', port=443): Read timed out.",
    "KeyError: 'customer_id'",
    'psycopg.OperationalError: connection to server at "10.0.3.17", port 5432 failed: '
    "timeout expired",
    "botocore.exceptions.ClientError: An error occurred (SlowDown) when calling the PutObject "
    "operation: Please reduce your request rate.",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
)


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _iso(value: datetime) -> str:
    return value.isoformat()


# -- the fleet ----------------------------------------------------------------------------------


@dataclass(eq=False)
class WorkPool:
    id: UUID
    name: str
    type: str
    queues: list[WorkQueue] = field(default_factory=list)


@dataclass(eq=False)
class WorkQueue:
    id: UUID
    name: str
    pool: WorkPool


@dataclass(eq=False)
class Worker:
    name: str
    type: str
    pool: WorkPool
    version: str
    started_event: UUID | None = None

    def resource(self) -> dict[str, str]:
        return {
            "prefect.resource.id": f"prefect.worker.{self.type}.{_slugify(self.name)}",
            "prefect.resource.name": self.name,
            "prefect.version": self.version,
            "prefect.worker-type": self.type,
        }


@dataclass(eq=False)
class Runner:
    name: str
    version: str

    def resource(self) -> dict[str, str]:
        return {
            "prefect.resource.id": f"prefect.runner.{_slugify(self.name)}",
            "prefect.resource.name": self.name,
            "prefect.version": self.version,
        }


@dataclass(eq=False)
class Flow:
    id: UUID
    name: str
    tasks: tuple[tuple[str, tuple[str, ...]], ...]
    parameters: tuple[str, ...]
    tags: list[str]


@dataclass(eq=False)
class Deployment:
    id: UUID
    name: str
    flow: Flow
    tags: list[str]
    queue: WorkQueue | None = None  # None: served by a runner
    runner: Runner | None = None
    version_id: UUID | None = None


@dataclass
class Fleet:
    pools: list[WorkPool]
    workers: list[Worker]
    runners: list[Runner]
    flows: list[Flow]
    deployments: list[Deployment]

    @classmethod
    def build(cls, rng: random.Random) -> Fleet:
        def uid() -> UUID:
            return UUID(int=rng.getrandbits(128), version=4)

        pools = [
            WorkPool(uid(), "k8s-prod", "kubernetes"),
            WorkPool(uid(), "docker-staging", "docker"),
            WorkPool(uid(), "local-process", "process"),
        ]
        for pool, queue_names in zip(
            pools,
            (("default", "high-priority", "backfills"), ("default", "nightly"), ("default",)),
            strict=True,
        ):
            pool.queues = [WorkQueue(uid(), name, pool) for name in queue_names]

        workers: list[Worker] = []
        for pool, count in zip(pools, (3, 2, 2), strict=True):
            for n in range(count):
                if pool.type == "process" and n == 0:
                    # Prefect's default worker name: "<WorkerClass> <uuid>".
                    name = f"ProcessWorker {uid()}"
                else:
                    name = f"{pool.name}-worker-{rng.getrandbits(16):04x}"
                workers.append(Worker(name, pool.type, pool, rng.choice(PREFECT_VERSIONS)))

        runners = [
            Runner("ml-box-serve", rng.choice(PREFECT_VERSIONS)),
            Runner("reports-serve", rng.choice(PREFECT_VERSIONS)),
        ]

        flows = [
            Flow(uid(), name, tasks, params, rng.choice([[], [], [], ["critical"]]))
            for name, tasks, params in _FLOWS
        ]

        team_tags = ["team:data", "team:ml", "team:platform", "team:finance"]
        deployments: list[Deployment] = []
        for flow in flows:
            envs = ["prod", "staging"] if rng.random() < 0.5 else ["prod"]
            for env in envs:
                tag_set = {env, rng.choice(team_tags)}
                if rng.random() < 0.25:
                    tag_set.add(rng.choice(["etl", "reporting", "sla:hourly", "pii"]))
                tags = sorted(tag_set)
                if flow.name in {"train-churn-model", "send-weekly-report"} and env == "prod":
                    runner = runners[0] if flow.name == "train-churn-model" else runners[1]
                    deployments.append(
                        Deployment(uid(), f"{flow.name}-served", flow, tags, runner=runner)
                    )
                    continue
                pool = pools[0] if env == "prod" else rng.choice(pools[1:])
                deployments.append(
                    Deployment(
                        uid(),
                        f"{flow.name}-{env}",
                        flow,
                        tags,
                        queue=rng.choice(pool.queues),
                        version_id=uid() if rng.random() < 0.5 else None,
                    )
                )
        return cls(pools, workers, runners, flows, deployments)


# -- related resources, as Prefect builds them ---------------------------------------------------


def _tag_resources(tags: Iterable[str], exclude: Collection[str] = ()) -> list[dict[str, str]]:
    return [
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in sorted(set(tags))
        if f"prefect.tag.{tag}" not in exclude
    ]


def _named(kind: str, id: UUID, name: str, role: str | None = None) -> dict[str, str]:
    return {
        "prefect.resource.id": f"prefect.{kind}.{id}",
        "prefect.resource.role": role or kind,
        "prefect.resource.name": name,
    }


def _deployment_resource(deployment: Deployment) -> dict[str, str]:
    labels = _named("deployment", deployment.id, deployment.name)
    if deployment.version_id:
        labels["prefect.deployment.version-id"] = str(deployment.version_id)
        labels["prefect.deployment.version-type"] = "vcs:git"
    return labels


# -- a run in flight ------------------------------------------------------------------------------


@dataclass(eq=False)
class _State:
    """The last state of a run: what the next state event names as its initial state."""

    id: UUID
    type: str
    name: str
    message: str
    timestamp: datetime
    details: dict


@dataclass(eq=False)
class FlowRun:
    id: UUID
    name: str
    flow: Flow
    deployment: Deployment | None  # None: an ad-hoc run (`python my_flow.py`)
    tags: list[str]
    parameters: dict
    worker: Worker | None = None
    run_count: int = 0
    state: _State | None = None
    submitted_event: UUID | None = None


@dataclass(eq=False)
class TaskRun:
    id: UUID
    name: str
    task_key: str
    dynamic_key: str
    tags: list[str]
    flow_run: FlowRun
    max_retries: int
    inputs: dict
    run_count: int = 0
    start_time: datetime | None = None
    state: _State | None = None


# A scenario is a generator of (delay in simulated seconds, build); build(occurred) returns the
# event (a dict, as a client would send it) or None for a step that only changes the simulation.
Build = Callable[[datetime], dict | None]
Scenario = Iterator[tuple[float, Build]]


FLEET_SEED = 20261201


class Simulator:
    """Runs the fleet on a simulated clock and hands out events in the order they happen."""

    ARRIVAL_MEAN_SECONDS = 15.0  # a new flow run every ~15 simulated seconds
    WORKER_SESSION_MEAN_SECONDS = 1200.0
    AD_HOC_SHARE = 0.3  # flow runs started by hand, outside any deployment

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        # One fleet for every run of the demo, whatever the seed: the same work pools, queues,
        # workers, flows and deployments keep their ids, so pickers never list k8s-prod twice.
        self.fleet = Fleet.build(random.Random(FLEET_SEED))
        self._heap: list[tuple[float, int, Scenario, Build]] = []
        self._seq = itertools.count()
        self._clock = 0.0
        for worker in self.fleet.workers:
            self._start(self._worker_life(worker), delay=self.rng.uniform(0, 5))
        self._start(self._arrivals(), delay=1.0)

    # -- plumbing --------------------------------------------------------------------------------

    def uid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def _start(self, scenario: Scenario, delay: float = 0.0) -> None:
        self._schedule(scenario, self._clock + delay)

    def _schedule(self, scenario: Scenario, at: float) -> None:
        try:
            delay, build = next(scenario)
        except StopIteration:
            return
        heapq.heappush(self._heap, (at + delay, next(self._seq), scenario, build))

    def next_event(self, occurred: datetime) -> dict:
        """The next event of the simulation, as having occurred at `occurred`."""
        while True:
            at, _, scenario, build = heapq.heappop(self._heap)
            self._clock = at
            event = build(occurred)
            self._schedule(scenario, at)
            if event is not None:
                return event

    def _event(
        self,
        name: str,
        occurred: datetime,
        resource: dict[str, str],
        related: list[dict[str, str]],
        payload: dict | None = None,
        *,
        id: UUID | None = None,
        follows: UUID | None = None,
    ) -> dict:
        return {
            "id": str(id or self.uid()),
            "occurred": occurred,
            "event": name,
            "resource": resource,
            "related": related,
            "payload": payload or {},
            "follows": str(follows) if follows else None,
        }

    # -- scenarios -------------------------------------------------------------------------------

    def _arrivals(self) -> Scenario:
        def spawn(occurred: datetime) -> None:
            if self.rng.random() < self.AD_HOC_SHARE:
                self._start(self._flow_run(self.rng.choice(self.fleet.flows), None))
            else:
                deployment = self.rng.choice(self.fleet.deployments)
                self._start(self._flow_run(deployment.flow, deployment))

        while True:
            yield self.rng.expovariate(1 / self.ARRIVAL_MEAN_SECONDS), spawn

    def _worker_life(self, worker: Worker) -> Scenario:
        def related() -> list[dict]:
            return [_named("work-pool", worker.pool.id, worker.pool.name)]

        def started(occurred: datetime) -> dict:
            event = self._event("prefect.worker.started", occurred, worker.resource(), related())
            worker.started_event = UUID(event["id"])
            return event

        def stopped(occurred: datetime) -> dict:
            follows, worker.started_event = worker.started_event, None
            return self._event(
                "prefect.worker.stopped", occurred, worker.resource(), related(), follows=follows
            )

        while True:
            yield 0.0, started
            yield self.rng.expovariate(1 / self.WORKER_SESSION_MEAN_SECONDS), stopped
            yield self.rng.uniform(5, 90), lambda occurred: None  # a restart takes a moment

    def _flow_run(self, flow: Flow, deployment: Deployment | None) -> Scenario:
        rng = self.rng
        tags: set[str] = set()
        if deployment is not None:
            tags.update(deployment.tags)
            if rng.random() < 0.7:
                tags.add("auto-scheduled")  # created by the scheduler, not by hand
        run = FlowRun(
            id=self.uid(),
            name=f"{rng.choice(_ADJECTIVES)}-{rng.choice(_ANIMALS)}",
            flow=flow,
            deployment=deployment,
            tags=sorted(tags),
            parameters={p: self._parameter_value(p) for p in flow.parameters},
        )
        served = deployment is not None and deployment.runner is not None
        if deployment is not None and deployment.queue is not None:
            pool = deployment.queue.pool
            run.worker = rng.choice([w for w in self.fleet.workers if w.pool is pool])

        outcomes = ["Completed", "Failed", "Crashed", "Cancelled", "Paused", "Retried"]
        if deployment is None:
            weights = [85, 8, 4, 0, 0, 3]
        elif served:
            weights = [62, 5, 2, 25, 3, 3]
        else:
            weights = [78, 8, 3, 5, 3, 3]
        outcome = rng.choices(outcomes, weights=weights)[0]

        if deployment is not None:
            yield 0.0, self._flow_state(run, "Scheduled")
            if rng.random() < 0.06:
                yield rng.uniform(20, 60), self._flow_state(run, "Late")
        yield rng.uniform(1, 15), self._flow_state(run, "Pending")
        if run.worker is not None:
            yield rng.uniform(0.2, 2), self._submitted(run)
        yield rng.uniform(3, 40), self._flow_state(run, "Running")

        tasks = flow.tasks
        last = len(tasks) - 1
        for index, (task_name, task_tags) in enumerate(tasks):
            # Some tasks map over inputs: several runs of the same task.
            fanout = rng.choice((1, 1, 1, 1, 2, 3))
            for dynamic in range(fanout):
                final = index == last and dynamic == fanout - 1
                ending = outcome if final else None
                yield from self._task_run(run, task_name, task_tags, str(dynamic), ending)
            if outcome == "Paused" and index == 0:
                yield rng.uniform(1, 5), self._flow_state(run, "Paused")
                yield rng.uniform(30, 300), self._flow_state(run, "Running")
            if outcome == "Retried" and index == 1:
                yield rng.uniform(0.5, 2), self._flow_state(run, "AwaitingRetry")
                yield rng.uniform(10, 60), self._flow_state(run, "Retrying")

        if outcome in {"Completed", "Paused", "Retried"}:
            yield rng.uniform(0.2, 2), self._flow_state(run, "Completed")
            code = 0
        elif outcome == "Failed":
            yield rng.uniform(0.2, 2), self._flow_state(run, "Failed")
            code = 1
        elif outcome == "Crashed":
            yield rng.uniform(0.2, 5), self._flow_state(run, "Crashed")
            code = 137 if run.worker and run.worker.type != "process" else -9
        else:  # Cancelled
            yield rng.uniform(0.2, 5), self._flow_state(run, "Cancelling")
            if served:
                yield rng.uniform(0.5, 5), self._runner_cancelled(run)
            yield rng.uniform(0.5, 10), self._flow_state(run, "Cancelled")
            code = -15 if not run.worker or run.worker.type == "process" else 143
        if run.worker is not None:
            yield rng.uniform(0.5, 5), self._executed(run, code)

    def _task_run(
        self,
        run: FlowRun,
        task_name: str,
        task_tags: tuple[str, ...],
        dynamic: str,
        ending: str | None,
    ) -> Scenario:
        rng = self.rng
        task = TaskRun(
            id=self.uid(),
            name=f"{task_name}-{rng.getrandbits(12):03x}",
            task_key=f"{task_name}-{rng.getrandbits(32):08x}",
            dynamic_key=dynamic,
            tags=list(task_tags),
            flow_run=run,
            max_retries=rng.choice((0, 0, 2, 3)),
            inputs={},
        )
        path = rng.choices(
            ["plain", "retry", "concurrency", "deferred", "late", "paused", "suspended", "failed"],
            weights=[70, 8, 6, 5, 3, 3, 2, 3],
        )[0]
        if ending in {"Failed", "Crashed", "Cancelled"}:
            path = "plain"

        if path in {"deferred", "late"}:
            yield rng.uniform(0.1, 1), self._task_state(task, "Scheduled")
            if path == "late":
                yield rng.uniform(15, 60), self._task_state(task, "Late")
        yield rng.uniform(0.05, 2), self._task_state(task, "Pending")
        if path == "concurrency":
            yield rng.uniform(0.05, 0.5), self._task_state(task, "AwaitingConcurrencySlot")
        yield rng.uniform(0.05, 10), self._task_state(task, "Running")
        work = rng.uniform(0.5, 45)

        if ending == "Failed":
            yield work, self._task_state(task, "Failed")
            return
        if ending == "Crashed":
            yield work, self._task_state(task, "Crashed")
            return
        if ending == "Cancelled":
            yield work, self._task_state(task, "Cancelling")
            yield rng.uniform(0.1, 3), self._task_state(task, "Cancelled")
            return
        if path == "retry":
            yield work, self._task_state(task, "AwaitingRetry")
            yield rng.uniform(5, 30), self._task_state(task, "Retrying")
            final = "Completed" if rng.random() < 0.75 else "Failed"
            yield rng.uniform(0.5, 30), self._task_state(task, final)
            return
        if path in {"paused", "suspended"}:
            yield work / 2, self._task_state(task, "Paused" if path == "paused" else "Suspended")
            yield rng.uniform(10, 120), self._task_state(task, "Running")
            work /= 2
        yield work, self._task_state(task, "Failed" if path == "failed" else "Completed")

    # -- event builders --------------------------------------------------------------------------

    def _parameter_value(self, name: str) -> object:
        rng = self.rng
        if "date" in name:
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if name in {"full_refresh"}:
            return rng.random() < 0.2
        if name == "epochs":
            return rng.choice((10, 20, 50))
        if name.endswith("ids") or name == "recipients":
            return [f"{name[:-1]}-{rng.randint(1, 999)}" for _ in range(rng.randint(1, 3))]
        return rng.choice(("main", "analytics", "s3://acme-data/raw", "orders", "default"))

    def _message(self, name: str, kind: str, run: FlowRun | TaskRun) -> str:
        rng = self.rng
        if name == "Completed":
            return "All states completed." if kind == "flow" else ""
        if name == "Failed":
            subject = "Flow" if kind == "flow" else "Task"
            return f"{subject} run encountered an exception: {rng.choice(_FAILURES)}"
        if name == "Crashed":
            return rng.choice(
                (
                    "Execution was cancelled by the runtime environment.",
                    "Flow run infrastructure exited with non-zero status code 137.",
                    "Crash detected! Execution was interrupted by an unexpected exception: "
                    "KeyboardInterrupt",
                )
            )
        if name == "Cancelling":
            return "The flow run was cancelled by a user from the UI."
        if name == "Cancelled":
            if kind == "flow":
                return "Flow run was cancelled successfully."
            return "The parent flow run was cancelled."
        if name == "AwaitingRetry":
            return f"Retry {max(run.run_count, 1)}/3 will start 10 second(s) from now"
        if name == "AwaitingConcurrencySlot":
            return "Concurrency limit 'database' has no available slots; waiting."
        if name == "Paused":
            return "Paused for input: approve the model before publishing."
        if name == "Suspended":
            return "Suspended until input is received."
        if name == "Late":
            return ""
        return ""

    def _details(self, name: str, occurred: datetime) -> dict:
        if name in {"Scheduled", "Late", "AwaitingRetry", "AwaitingConcurrencySlot"}:
            delay = 10 if name == "AwaitingRetry" else 0
            return {"scheduled_time": _iso(occurred + timedelta(seconds=delay))}
        if name in {"Paused", "Suspended"}:
            return {
                "pause_timeout": _iso(occurred + timedelta(hours=1)),
                "pause_reschedule": name == "Suspended",
                "pause_key": str(self.rng.getrandbits(32)),
            }
        if name == "Failed":
            return {"retriable": False}
        return {}

    def _new_state(
        self, run: FlowRun | TaskRun, name: str, kind: str, occurred: datetime
    ) -> _State:
        return _State(
            id=self.uid(),
            type=FLOW_RUN_STATES[name],
            name=name,
            message=self._message(name, kind, run),
            timestamp=occurred,
            details=self._details(name, occurred),
        )

    def _run_resource(self, kind: str, run: FlowRun | TaskRun, state: _State) -> dict[str, str]:
        return {
            "prefect.resource.id": f"prefect.{kind}.{run.id}",
            "prefect.resource.name": run.name,
            "prefect.run-count": str(run.run_count),
            "prefect.state-message": state.message,
            "prefect.state-name": state.name,
            "prefect.state-timestamp": _iso(state.timestamp),
            "prefect.state-type": state.type,
        }

    def _flow_related(self, run: FlowRun) -> list[dict[str, str]]:
        """What Prefect's server relates to a flow-run state event."""
        deployment = run.deployment
        flow = run.flow
        related = [_named("flow", flow.id, flow.name)]
        if deployment is not None:
            related.append(_named("deployment", deployment.id, deployment.name))
        if deployment is not None and deployment.queue is not None:
            pool = deployment.queue.pool
            related.append(_named("work-queue", deployment.queue.id, deployment.queue.name))
            related.append(
                {**_named("work-pool", pool.id, pool.name), "prefect.work-pool.type": pool.type}
            )
        deployment_tags = deployment.tags if deployment is not None else []
        return related + _tag_resources({*run.tags, *flow.tags, *deployment_tags})

    def _flow_state(self, run: FlowRun, name: str) -> Build:
        def build(occurred: datetime) -> dict:
            initial = run.state
            if name in {"Running", "Retrying"}:
                run.run_count += 1
            state = run.state = self._new_state(run, name, "flow", occurred)
            validated = {"type": state.type, "name": state.name}
            if state.message:
                validated["message"] = state.message
            if state.type == "PAUSED":
                validated["pause_reschedule"] = str(name == "Suspended").lower()
            initial_payload = None
            if initial is not None:
                initial_payload = {"type": initial.type, "name": initial.name}
                if initial.message:
                    initial_payload["message"] = initial.message
            return self._event(
                f"prefect.flow-run.{name}",
                occurred,
                self._run_resource("flow-run", run, state),
                self._flow_related(run),
                {
                    "intended": {"from": initial.type if initial else None, "to": state.type},
                    "initial_state": initial_payload,
                    "validated_state": validated,
                },
                id=state.id,
                follows=initial.id if initial else None,
            )

        return build

    def _task_state(self, task: TaskRun, name: str) -> Build:
        def build(occurred: datetime) -> dict:
            initial = task.state
            if name in {"Running", "Retrying"} and (initial is None or initial.type != "PAUSED"):
                task.run_count += 1
                task.start_time = task.start_time or occurred
            state = task.state = self._new_state(task, name, "task", occurred)
            run = task.flow_run
            deployment = run.deployment
            resource = self._run_resource("task-run", task, state)
            resource["prefect.orchestration"] = "client"

            # The task engine relates the task's tags; the events worker adds the run context.
            related = _tag_resources(task.tags)
            related.append(_named("flow-run", run.id, run.name))
            related.append(_named("flow", run.flow.id, run.flow.name))
            if deployment is not None:
                related.append(_deployment_resource(deployment))
            if deployment is not None and deployment.queue is not None:
                related.append(_named("work-queue", deployment.queue.id, deployment.queue.name))
                pool = deployment.queue.pool
                related.append(_named("work-pool", pool.id, pool.name))
            related += _tag_resources(
                {*run.tags, *run.flow.tags, *(deployment.tags if deployment else [])},
                exclude={r["prefect.resource.id"] for r in related},
            )

            data = None
            if name == "Completed" and self.rng.random() < 0.3:
                data = {
                    "storage_key": f"/root/.prefect/storage/{self.rng.getrandbits(128):032x}",
                    "expiration": None,
                    "serializer": {"type": "pickle"},
                    "prefect_version": run.worker.version if run.worker else "3.8.8",
                    "storage_block_id": None,
                }
            # Prefect dumps the task run with exclude_none: unset policy fields are absent.
            policy: dict[str, float] = {"max_retries": task.max_retries, "retry_delay_seconds": 0.0}
            if task.max_retries:
                policy.update(retry_delay_seconds=10.0, retries=task.max_retries, retry_delay=10)
            task_run = {
                "name": task.name,
                "flow_run_id": str(run.id),
                "task_key": task.task_key,
                "dynamic_key": task.dynamic_key,
                "empirical_policy": policy,
                "tags": task.tags,
                "task_inputs": {
                    param: [] for param in run.flow.parameters[: 1 + int(task.dynamic_key)]
                },
                "run_count": task.run_count,
            }
            if task.start_time is not None:
                task_run["start_time"] = _iso(task.start_time)
                if state.type in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                    task_run["end_time"] = _iso(occurred)
                    task_run["total_run_time"] = round(
                        (occurred - task.start_time).total_seconds(), 6
                    )
            return self._event(
                f"prefect.task-run.{name}",
                occurred,
                resource,
                related,
                {
                    "intended": {"from": initial.type if initial else None, "to": state.type},
                    "initial_state": (
                        {
                            "type": initial.type,
                            "name": initial.name,
                            "message": initial.message,
                            "state_details": initial.details,
                        }
                        if initial
                        else None
                    ),
                    "validated_state": {
                        "type": state.type,
                        "name": state.name,
                        "message": state.message,
                        "state_details": state.details,
                        "data": data,
                    },
                    "task_run": task_run,
                },
                id=state.id,
                follows=initial.id if initial else None,
            )

        return build

    def _worker_run_related(self, run: FlowRun) -> list[dict[str, str]]:
        """A worker's job configuration relates deployment, flow and flow run, their tags,
        then the worker's work pool."""
        deployment = run.deployment
        flow = run.flow
        assert deployment is not None
        related = [
            _deployment_resource(deployment),
            _named("flow", flow.id, flow.name),
            _named("flow-run", run.id, run.name),
        ]
        related += _tag_resources({*deployment.tags, *flow.tags, *run.tags})
        assert run.worker is not None
        related.append(_named("work-pool", run.worker.pool.id, run.worker.pool.name))
        return related

    def _submitted(self, run: FlowRun) -> Build:
        def build(occurred: datetime) -> dict:
            assert run.worker is not None
            event = self._event(
                "prefect.worker.submitted-flow-run",
                occurred,
                run.worker.resource(),
                self._worker_run_related(run),
            )
            run.submitted_event = UUID(event["id"])
            return event

        return build

    def _executed(self, run: FlowRun, status_code: int) -> Build:
        def build(occurred: datetime) -> dict:
            assert run.worker is not None
            related = self._worker_run_related(run)
            pool_type = run.worker.pool.type
            if pool_type == "kubernetes":
                identifier = f"prefect:{run.name}-{self.rng.getrandbits(20):05x}"
            elif pool_type == "docker":
                identifier = f"{self.rng.getrandbits(256):064x}"
            else:
                identifier = str(self.rng.randint(1000, 65000))
            for resource in related:
                if resource["prefect.resource.role"] == "flow-run":
                    resource["prefect.infrastructure.identifier"] = identifier
                    resource["prefect.infrastructure.status-code"] = str(status_code)
            return self._event(
                "prefect.worker.executed-flow-run",
                occurred,
                run.worker.resource(),
                related,
                follows=run.submitted_event,
            )

        return build

    def _runner_cancelled(self, run: FlowRun) -> Build:
        def build(occurred: datetime) -> dict:
            deployment = run.deployment
            flow = run.flow
            assert deployment is not None and deployment.runner is not None
            related = [
                _deployment_resource(deployment),
                _named("flow", flow.id, flow.name),
                _named("flow-run", run.id, run.name),
                *_tag_resources({*deployment.tags, *run.tags}),
            ]
            return self._event(
                "prefect.runner.cancelled-flow-run",
                occurred,
                deployment.runner.resource(),
                related,
            )

        return build


# -- public API ----------------------------------------------------------------------------------


def generate(
    count: int, start: datetime, end: datetime, seed: int | None = None
) -> Iterator[schemas.Event]:
    """`count` validated events in occurred order, spread evenly over [start, end).

    The simulation decides the order of events; each event gets its own slot of the range,
    so the events fill it exactly whatever the count.
    """
    if end <= start:
        raise ValueError("end must be after start")
    simulator = Simulator(seed)
    jitter = random.Random(None if seed is None else seed + 1)
    slot = (end - start) / max(count, 1)
    for index in range(count):
        occurred = start + slot * (index + jitter.random() * 0.999)
        yield schemas.Event.model_validate(simulator.next_event(occurred))


class LiveSource:
    """Events happening now: each `take(n)` continues the same simulation."""

    def __init__(self, seed: int | None = None) -> None:
        self.simulator = Simulator(seed)
        self._last: datetime | None = None

    def take(self, count: int, now: datetime | None = None) -> list[schemas.Event]:
        now = now or datetime.now(UTC)
        events = []
        for _ in range(count):
            # Strictly increasing, even within one batch stamped at the same instant.
            if self._last is not None and now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            events.append(schemas.Event.model_validate(self.simulator.next_event(now)))
        return events


@dataclass(frozen=True)
class SizeStats:
    events: int
    average_bytes: float
    average_related: float

    def __str__(self) -> str:
        return (
            f"on average {self.average_bytes / 1024:.2f} KB of JSON and "
            f"{self.average_related:.1f} related resources an event, from a sample of "
            f"{self.events:,}"
        )


def size_stats(events: Sequence[schemas.Event]) -> SizeStats:
    """Average JSON size and related-resource count: benchmarks assume ~1.6 KB and ~7."""
    if not events:
        return SizeStats(0, 0.0, 0.0)
    total = sum(len(event.model_dump_json()) for event in events)
    related = sum(len(event.related) for event in events)
    return SizeStats(len(events), total / len(events), related / len(events))


def to_json(events: Sequence[schemas.Event]) -> bytes:
    """A batch as the JSON body of POST /api/events."""
    return json.dumps([event.model_dump(mode="json") for event in events]).encode()
