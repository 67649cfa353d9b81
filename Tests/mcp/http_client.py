"""Drives Countersign's MCP endpoint (streamable HTTP at /mcp) with the official MCP Python SDK.

Usage: COUNTERSIGN_AGENT_KEY=csk_... python3 http_client.py SERVER_URL
Checks first that a request without the agent's key is refused, then what checks.py checks.
"""

import asyncio
import os
import sys
import urllib.error
import urllib.request

from checks import check_session
from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


def refused_without_key(url: str) -> None:
    request = urllib.request.Request(
        url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}',
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request)
    except urllib.error.HTTPError as error:
        assert error.code == 401, error.code
        return
    raise AssertionError("an MCP request without a key was accepted")


async def main(server: str) -> None:
    url = f"{server}/mcp?onBehalfOf=ana@acme.test&maxWait=2"
    refused_without_key(url)
    headers = {"Authorization": f"Bearer {os.environ['COUNTERSIGN_AGENT_KEY']}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await check_session(session, "streamable HTTP")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
