#!/usr/bin/env bash
# NDJSON batch: every request in requests.txt classified in one process, in order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dmc intent --batch < "$here/requests.txt" | dmc extract --batch --repo "$here/demo-app"
