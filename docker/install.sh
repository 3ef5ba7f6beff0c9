#!/usr/bin/env bash
# The one install script shared by users, CI and the docker images: it installs everything the
# test suite needs on a fresh Debian machine, then prefetches the pinned Go modules.
# Safe to run twice. Needs root (or sudo) only for apt packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
	echo "install.sh: Go ${need_go}+ is required (https://go.dev/dl/); it is the only prerequisite of the core" >&2
	exit 1
fi
echo "install.sh: $(go version)"

# apt packages: none are needed by the core (pure-Go backend, pure-Go tasks). The MuJoCo,
# rendering and notebook packages are added here by the issues that need them.
APT_PACKAGES=()
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}"
fi

# Pinned modules (go.mod); the proxy here refuses version listings, so never @latest.
go mod download
echo "install.sh: done"
