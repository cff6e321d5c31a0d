"""The compose example's client: a back end that talks to the mock by its service name.

It takes a client-credentials token from the mock and calls the mock's account API with it,
using only the standard library (it runs in a bare python image). Exit 0 when both worked.
Settings come from the environment: OP_AUTH_URL (default http://op-auth:8080), CLIENT_ID,
CLIENT_SECRET, API_KEY.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.parse
import urllib.request


def main() -> int:
    base = os.environ.get("OP_AUTH_URL", "http://op-auth:8080").rstrip("/")
    client_id = os.environ.get("CLIENT_ID", "sandbox-backend")
    secret = os.environ.get("CLIENT_SECRET", "sandbox-backend-secret")
    api_key = os.environ.get("API_KEY", client_id)
    with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=10) as response:
        discovery = json.load(response)
    print(f"issuer seen from this container: {discovery['issuer']}")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "accounts"}).encode()
    request = urllib.request.Request(f"{base}/token", data=form, headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(f"{base}/accounts/v3/accounts",
                                     headers={"Authorization": f"Bearer {token}", "x-api-key": api_key})
    with urllib.request.urlopen(request, timeout=10) as response:
        accounts = json.load(response)["accounts"]
    print(f"accounts: {', '.join(a['accountId'] for a in accounts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
