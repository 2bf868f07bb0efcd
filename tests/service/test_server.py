"""How the service is served: uvicorn's settings, the loop and parser, the frozen heap."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from vigia.service.server import freeze_heap, server_config, server_stack


def test_served_on_uvloop_and_httptools_with_client_addresses_as_connected() -> None:
    config = server_config(FastAPI(), host="127.0.0.1", port=8123, log_level="WARNING")
    assert server_stack(config) == ("uvloop", "httptools")
    assert (config.access_log, config.proxy_headers, config.server_header) == (False, False, False)


def test_what_lives_before_serving_is_left_out_of_the_collectors_passes() -> None:
    marker: list[object] = [{"built": "before serving"}]
    try:
        frozen = freeze_heap()
        # Frozen objects that die leave the count (other threads of the test session free
        # some between the two reads); none join it unless frozen again.
        assert frozen > 0 and 0 < gc.get_freeze_count() <= frozen
        assert not any(o is marker for o in gc.get_objects())
        later: list[object] = [{"made": "while serving"}]
        assert any(o is later for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is marker for o in gc.get_objects())
