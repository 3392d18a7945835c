"""The publisher for backend services: `from config_sync_service import publisher`.

It lives beside the listener, in `mq/publisher.py`; this module keeps the import path backends use.
"""

from config_sync_service.mq.publisher import publish_change, save_configuration_and_publish
from config_sync_service.schemas.agent_config import InvalidConfigurationError

__all__ = ["InvalidConfigurationError", "publish_change", "save_configuration_and_publish"]
