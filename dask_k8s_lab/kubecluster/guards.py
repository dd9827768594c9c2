"""Refusing what would fail before asking: RBAC permissions and the namespace's quota."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .. import quota
from ..kube import list_raw
from ..permissions import Permissions, kr8s_reviewer

logger = logging.getLogger(__name__)


class GuardsMixin:
    """KubeCluster's permission and quota checks (see :class:`.cluster.KubeCluster`)."""

    namespace: str | None
    _api: Any
    _permissions: Permissions | None

    async def _require(self, action: str, what: str, hint: str = "") -> None:
        """Refuse ``action`` before trying it when the account may not take it (asked of the
        API server, cached briefly), with the same reason the sidebar shows."""
        if self._permissions is None:
            api = self._api

            async def get_api() -> Any:
                return api

            self._permissions = Permissions(kr8s_reviewer(get_api))
        reason = await self._permissions.refusal(action, str(self.namespace))
        if reason is not None:
            raise PermissionError(f"Cannot {what}: {reason}. {hint}".rstrip())

    async def _check_quota(self, why_not: Callable[[list[dict], list[dict]], str | None]) -> None:
        """Raise ``QuotaExceeded`` with ``why_not(quotas, limit_ranges)`` when the namespace's
        ResourceQuota would refuse what is about to be asked (an account that may not read
        quotas skips this: Kubernetes still enforces them)."""
        from kr8s.asyncio.objects import LimitRange, ResourceQuota

        try:
            quotas, ranges = await asyncio.wait_for(asyncio.gather(
                list_raw(self._api, ResourceQuota, self.namespace), list_raw(self._api, LimitRange, self.namespace)
            ), 30)
        except Exception as e:
            logger.debug("cannot read the quota of %s: %s", self.namespace, e)
            return
        message = why_not(quotas, ranges)
        if message:
            raise quota.QuotaExceeded(message)
