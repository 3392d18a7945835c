"""The daemon's parts, assembled once per process: pools, Pipecat client, engine, listener."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from config_sync_service.core import metrics
from config_sync_service.core.config import Settings
from config_sync_service.core.logging import get_logger
from config_sync_service.db.session import SessionFactory, create_db_engine, create_session_factory
from config_sync_service.mq.dead_letter import DeadLetterQueue
from config_sync_service.mq.listener import Listener
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.pipecat_client.pacing import Pacer, observation_pacer, pacer_for
from config_sync_service.processing.config import EngineConfig, ProcessorConfig
from config_sync_service.processing.engine import SyncEngine
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.notify import Notifier
from config_sync_service.processing.observer import Observer, ObserverConfig

log = get_logger("config_sync.runtime")
OBSERVER_AGENT = "config-sync-observer"  # the User-Agent of observation's requests


@dataclass
class Runtime:
    settings: Settings
    db: AsyncEngine
    sessions: SessionFactory
    redis: aioredis.Redis
    client: PipecatCloudClient
    dead_letters: DeadLetterQueue
    engine: SyncEngine
    listener: Listener
    observer: Observer
    notifier: Notifier | None = None
    started_at: float = field(default_factory=time.time)
    listener_task: asyncio.Task[None] | None = None
    observer_task: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = create_db_engine(settings)
        sessions = create_session_factory(db)
        redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        rate = settings.pipecat_max_requests_per_s
        key = settings.pipecat_api_key.get_secret_value() if settings.pipecat_api_key else ""
        pacer = pacer_for(redis, rate_per_s=rate, api_base=settings.pipecat_api_base, api_key=key)
        client = PipecatCloudClient.from_settings(settings, on_call=metrics.observe_pipecat_call, pacer=pacer)
        dead_letters = DeadLetterQueue(redis, key=settings.dlq_key, max_len=settings.dlq_max)
        notifier = _notifier(settings, redis, dead_letters)
        engine = SyncEngine(
            config=EngineConfig.from_settings(settings),
            sessions=sessions,
            client=client,
            dead_letters=dead_letters,
            notifier=notifier,
        )
        listener = Listener(
            redis_url=settings.redis_url,
            channel=settings.updates_channel,
            on_payload=engine.handle_payload,
            on_subscribed=engine.sweeper.request_sweep,
        )
        return cls(
            settings,
            db,
            sessions,
            redis,
            client,
            dead_letters,
            engine,
            listener,
            _observer(settings, redis, engine, pacer, notifier),
            notifier,
        )

    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        self.engine.start()
        self.listener_task = asyncio.create_task(self.listener.run(), name="listener")
        self.observer_task = asyncio.create_task(self.observer.run(), name="observer")
        log.info(
            "daemon.started",
            owner=self.engine.owner,
            concurrency=self.settings.max_concurrency,
            channel=self.settings.updates_channel,
        )

    @property
    def alive(self) -> bool:
        return self.listener_task is not None and not self.listener_task.done() and self.engine.alive

    async def stop(self) -> None:
        """Stop taking messages, let in-flight syncs finish (SHUTDOWN_GRACE_S), close everything."""
        log.info("daemon.stopping", in_flight=self.engine.queue.in_flight, grace_s=self.settings.shutdown_grace_s)
        self.listener.stop()
        if self.observer_task is not None:
            self.observer_task.cancel()
            await asyncio.gather(self.observer_task, return_exceptions=True)
        await self.engine.stop(self.settings.shutdown_grace_s)
        if self.listener_task is not None:
            try:
                await asyncio.wait_for(self.listener_task, timeout=3)
            except (TimeoutError, asyncio.CancelledError):
                self.listener_task.cancel()
        if self.notifier is not None:
            await self.notifier.stop()
        await self.client.aclose()
        await self.observer.client.aclose()
        await self.redis.aclose()
        await self.db.dispose()
        log.info("daemon.stopped")


def _observer(
    settings: Settings, redis: aioredis.Redis, engine: SyncEngine, shared: Pacer, notifier: Notifier | None
) -> Observer:
    """The observer, with a client of its own: observation calls are paced apart (a tenth of the rate) and carry
    their own User-Agent and operation names (`observe.*` in the calls metric), so they can be counted apart."""
    key = settings.pipecat_api_key.get_secret_value() if settings.pipecat_api_key else ""
    pacer = observation_pacer(
        redis,
        shared,
        rate_per_s=settings.pipecat_max_requests_per_s,
        api_base=settings.pipecat_api_base,
        api_key=key,
    )

    def on_call(operation: str, status: str, seconds: float) -> None:
        metrics.observe_pipecat_call(f"observe.{operation}", status, seconds)

    client = PipecatCloudClient.from_settings(settings, on_call=on_call, pacer=pacer, user_agent=OBSERVER_AGENT)
    config = ObserverConfig(settings.observe_interval_s, settings.self_heal, ProcessorConfig.from_settings(settings))
    return Observer(
        config=config,
        sessions=engine.processor.sessions,
        client=client,
        enqueue=lambda agent_id: engine.submit(agent_id, Hint()),
        owner=engine.owner,
        on_health=None if notifier is None else notifier.live_health,
    )


def _notifier(settings: Settings, redis: aioredis.Redis, dead_letters: DeadLetterQueue) -> Notifier | None:
    """The webhook notifier when NOTIFY_WEBHOOK_URL is set (its secret is then required by the settings)."""
    if settings.notify_webhook_url is None or settings.notify_webhook_secret is None:
        return None
    return Notifier(
        redis=redis,
        url=str(settings.notify_webhook_url),
        signer=Webhook(settings.notify_webhook_secret.get_secret_value()),
        dead_letters=dead_letters,
        dlq_threshold=settings.notify_dlq_threshold,
        key_prefix=f"{settings.dlq_key}:incident",
    )
