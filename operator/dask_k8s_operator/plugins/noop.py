"""A plugin that does nothing but say it ran: an example for plugin authors and a smoke test."""

import kopf


@kopf.on.startup()
async def noop_startup(logger, **kwargs):
    logger.info("Plugin 'noop' running.")
