#!/usr/bin/env bash
# Print the path of a Python 3.12 interpreter, or explain how to get one.
set -euo pipefail
for candidate in "${PYTHON312:-}" python3.12 \
    "$(command -v pyenv >/dev/null 2>&1 && echo "$(pyenv root)/versions/3.12"*/bin/python3.12)" \
    "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
  [ -n "$candidate" ] || continue
  for path in $candidate; do
    if "$path" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
      command -v "$path" || echo "$path"
      exit 0
    fi
  done
done
echo "config-sync needs Python 3.12 (the AWS SDK behind Nova Sonic requires it)." >&2
echo "Install it (e.g. 'pyenv install 3.12' or your distribution's python3.12) or set PYTHON312=/path/to/python3.12." >&2
exit 1
