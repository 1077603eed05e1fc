#!/usr/bin/env bash
# The laptop half of the pipeline, one stage per process, stopping cleanly on errors.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
request=${1:-"add JWT authentication to the Express API"}
echo "$request" | dmc intent | dmc extract --repo "$here/demo-app" --pretty
