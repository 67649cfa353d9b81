"""Drives `countersign mcp` over stdio with the official MCP Python SDK (`pip install mcp`).

Usage: COUNTERSIGN_AGENT_KEY=csk_... python3 stdio_client.py COUNTERSIGN_BINARY SERVER_URL
Exits non-zero on the first thing that is not as expected (see checks.py).
"""

import asyncio
import os
import sys

from checks import check_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(binary: str, server: str) -> None:
    parameters = StdioServerParameters(
        command=binary,
        args=["mcp", "--server", server, "--on-behalf-of", "ana@acme.test", "--max-wait", "2"],
        env={"COUNTERSIGN_AGENT_KEY": os.environ["COUNTERSIGN_AGENT_KEY"], "PATH": os.environ.get("PATH", "")},
    )
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await check_session(session, "stdio")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
