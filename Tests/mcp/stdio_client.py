"""Drives `countersign mcp` over stdio with the official MCP Python SDK (`pip install mcp`).

Usage: COUNTERSIGN_AGENT_KEY=csk_... python3 stdio_client.py COUNTERSIGN_BINARY SERVER_URL

Lists the tools, calls a Low one (the result comes back), a denied one (an error that says not to
retry), and a held one with a short wait (progress notifications, then the request id), then asks
countersign_status for it. Exits non-zero on the first thing that is not as expected.
"""

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def text(result):
    return "".join(getattr(part, "text", "") for part in result.content)


async def main(binary: str, server: str) -> None:
    parameters = StdioServerParameters(
        command=binary,
        args=["mcp", "--server", server, "--on-behalf-of", "ana@acme.test", "--max-wait", "2"],
        env={"COUNTERSIGN_AGENT_KEY": os.environ["COUNTERSIGN_AGENT_KEY"], "PATH": os.environ.get("PATH", "")},
    )
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            print("negotiated protocol", initialized.protocol_version)
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert {"files.read", "files.write", "shell.run", "countersign_status"} <= names, names

            low = await session.call_tool("files.read", {"path": "notes.txt"})
            assert not low.is_error and "hello" in text(low), text(low)

            denied = await session.call_tool("shell.run", {"program": "sudo", "arguments": ["ls"]})
            assert denied.is_error and "do not retry" in text(denied), text(denied)

            progress = []

            async def on_progress(value, total, message):
                progress.append(message)

            held = await session.call_tool(
                "files.write", {"path": "mcp.txt", "content": "hi"}, progress_callback=on_progress
            )
            assert not held.is_error and "countersign_status" in text(held), text(held)
            assert any(m and m.startswith("waiting for approval by a human, Medium") for m in progress), progress
            request_id = held.structured_content["id"]
            status = await session.call_tool("countersign_status", {"id": request_id})
            assert "Waiting for a human" in text(status), text(status)
            print("MCP over stdio: OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
