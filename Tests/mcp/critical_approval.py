"""A Critical tool call stays open while a second process approves it with step-up through the CLI;
a call nobody decides ends in expiry (the server's policy gives files.append a 3-second wait).

Usage: COUNTERSIGN_AGENT_KEY=csk_... COUNTERSIGN_TOKEN=cst_... TOTP_SECRET=BASE32 \
       python3 critical_approval.py COUNTERSIGN_BINARY SERVER_URL

The call (over stdio, through `countersign mcp`) waits with progress notifications; the approver
finds the request with `countersign approvals list`, is refused without a TOTP code, approves with
a fresh one, and the result arrives on the call that was still open.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import re
import struct
import subprocess
import sys
import time

from checks import text
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def totp(secret: str) -> str:
    """RFC 6238: HMAC-SHA1, 30-second steps, six digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def approver(binary: str, server: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, COUNTERSIGN_SERVER=server)
    return subprocess.run([binary, "approvals", *arguments], env=environment, capture_output=True, text=True)


async def approve_when_pending(binary: str, server: str) -> str:
    for _ in range(100):
        listed = approver(binary, server, "list").stdout
        match = re.search(r"^([0-9a-f-]{36}) .*critical .*shell\.run", listed, re.MULTILINE)
        if match:
            request = match.group(1)
            refused = approver(binary, server, "approve", request)
            assert refused.returncode != 0 and "step_up_required" in refused.stderr, refused
            approved = approver(binary, server, "approve", request, "--otp", totp(os.environ["TOTP_SECRET"]))
            assert approved.returncode == 0, approved
            return request
        await asyncio.sleep(0.2)
    raise AssertionError("the Critical request never showed up in `approvals list`")


async def main(binary: str, server: str) -> None:
    parameters = StdioServerParameters(
        command=binary,
        args=["mcp", "--server", server, "--on-behalf-of", "ana@acme.test", "--max-wait", "60"],
        env={"COUNTERSIGN_AGENT_KEY": os.environ["COUNTERSIGN_AGENT_KEY"], "PATH": os.environ.get("PATH", "")},
    )
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            progress = []

            async def on_progress(value, total, message):
                progress.append(message)

            call = asyncio.create_task(
                session.call_tool(
                    "shell.run",
                    {"program": "tar", "arguments": ["-czf", "backup.tar.gz", "notes.txt"]},
                    progress_callback=on_progress,
                )
            )
            request = await approve_when_pending(binary, server)
            result = await asyncio.wait_for(call, 60)
            assert not result.is_error, text(result)
            assert '"exitCode":0' in text(result), text(result)
            assert any(m and m.startswith("waiting for approval by a human, Critical") for m in progress), progress
            print(f"MCP: Critical call {request} approved with step-up by another process; result on the open call: OK")

            # The server's policy gives files.append a 3-second wait for a decision: nobody decides.
            expired = await session.call_tool("files.append", {"path": "log.txt", "content": "x"})
            assert expired.is_error and "expired" in text(expired), text(expired)
            print("MCP: an undecided call ends in expiry: OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
