#!/usr/bin/env bash
# Packs the local Deno binary into bench/gpu/deno.xz, and the project's npm packages (node_modules, which the
# forecast's device tests import through the maps) into bench/gpu/node_modules.tar.xz, for the GPU machine, which has
# no network and no Deno (bench/gpu/run.sh unpacks both; about 31 + 8 MB). Both files are git-ignored; pass them to
# the device run as carried paths.
# Usage: bench/gpu/pack.sh [PATH_TO_DENO]   (default: $DENO, else the binary npx cached for deno@2.9.6)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
want="2.9.6"
deno="${1:-${DENO:-}}"
if [ -z "$deno" ]; then
  for c in "$HOME"/.npm/_npx/*/node_modules/deno/deno "$HOME"/.npm/_npx/*/node_modules/@deno/linux-x64-glibc/deno; do
    if [ -x "$c" ] && "$c" --version 2>/dev/null | head -1 | grep -q "deno $want"; then deno="$c"; break; fi
  done
fi
if [ -z "$deno" ] || [ ! -x "$deno" ]; then
  echo "pack.sh: no Deno $want binary found (looked in \$DENO and ~/.npm/_npx/*/node_modules); run npx -y deno@$want --version first, or pass its path" >&2
  exit 1
fi
"$deno" --version | head -1
xz -6 -T2 -c "$deno" > "$here/deno.xz.partial"
mv "$here/deno.xz.partial" "$here/deno.xz"
root="$(cd "$here/../.." && pwd)"
[ -d "$root/node_modules" ] || (cd "$root" && "$deno" install --frozen)
tar -C "$root" -cf - node_modules | xz -6 -T2 > "$here/node_modules.tar.xz.partial"
mv "$here/node_modules.tar.xz.partial" "$here/node_modules.tar.xz"
ls -l "$here/deno.xz" "$here/node_modules.tar.xz"
