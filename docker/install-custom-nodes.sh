#!/usr/bin/env bash
# install-custom-nodes DIR [URL[@REF] ...]: clones each custom node (pinned when @REF is given) and installs its
# Python requirements. Used at image build time only.
set -euo pipefail
dir="$1"
shift
mkdir -p "$dir"
for spec in "$@"; do
  url="${spec%@*}"
  ref=""
  [ "$url" != "$spec" ] && ref="${spec##*@}"
  name="$(basename "$url" .git)"
  git clone --quiet "$url" "$dir/$name"
  if [ -n "$ref" ]; then git -C "$dir/$name" checkout --quiet "$ref"; fi
  if [ -f "$dir/$name/requirements.txt" ]; then pip install -r "$dir/$name/requirements.txt"; fi
  if [ -f "$dir/$name/install.py" ]; then (cd "$dir/$name" && python3 install.py); fi
done
