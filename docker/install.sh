#!/usr/bin/env bash
# The one install script shared by users, CI and the docker images. On a fresh Debian (bookworm)
# machine it installs everything the whole test suite needs, then prefetches the pinned Go modules:
#   - MuJoCo 2.2.2 from Debian (libmujoco-dev, libmujoco-samples for the shipped humanoid.xml) and
#     EGL + Mesa llvmpipe for offscreen rendering (envs/mujoco, build tag `mujoco`);
#   - Jupyter from Debian, GoNB v0.11.5 with goimports and gopls, Chromium (notebooks, browser tests);
#   - playwright-core and echarts from npm into $POMPC_CACHE/node (browser tests, offline echarts);
#   - slurm-wlm and munge (Debian's SLURM 22.05): the SLURM launcher's tests start a one-node
#     cluster on loopback (pompc/sweep/slurm_test.go).
# Safe to run twice. Needs root (or sudo) only for apt packages.
# POMPC_INSTALL=core installs nothing but the Go modules (the core needs Go alone).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

# go.mod needs Go 1.27: any installed go command (1.21+) fetches the approved 1.27.3 toolchain
# from the module proxy when GOTOOLCHAIN names it, so every go command here carries it.
export GOTOOLCHAIN=go1.27.3
if ! command -v go >/dev/null 2>&1; then
	echo "install.sh: a go command is required (https://go.dev/dl/; it fetches Go 1.27.3 itself); it is the only prerequisite of the core" >&2
	exit 1
fi
echo "install.sh: $(go version)"
MODE="${POMPC_INSTALL:-all}"

if [ "$MODE" != "core" ]; then
	APT_PACKAGES=(
		# MuJoCo 2.2.2 and the models Debian ships (humanoid.xml)
		libmujoco-dev libmujoco-samples
		# offscreen rendering: EGL (glvnd) + Mesa llvmpipe, no GPU, no X
		libegl-dev libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1
		# cgo
		gcc libc6-dev pkg-config
		# notebooks: Jupyter from Debian (headless execution and a notebook server)
		jupyter-core jupyter-client jupyter-nbconvert python3-nbclient python3-nbformat python3-notebook
		# browser tests
		chromium nodejs npm
		# a single-node SLURM cluster for the SLURM launcher's tests (slurmctld, slurmd, munge)
		slurm-wlm munge
		ca-certificates git
	)
	missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	# nodejs from another source may provide npm itself
	if command -v npm >/dev/null 2>&1; then
		tmp=(); for p in "${missing[@]}"; do [ "$p" = npm ] || [ "$p" = nodejs ] || tmp+=("$p"); done; missing=("${tmp[@]}")
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
		echo "install.sh: apt-get install ${missing[*]}"
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi

	# GoNB v0.11.5 and its helpers. The proxy refuses version listings for gonb, so install it
	# from inside a throwaway module with the version pinned.
	GOBIN_DIR="$(go env GOPATH)/bin"
	if ! [ -x "$GOBIN_DIR/gonb" ] || ! "$GOBIN_DIR/gonb" --version 2>/dev/null | grep -q v0.11.5; then
		tools="$(mktemp -d)"
		(cd "$tools" && go mod init tools >/dev/null 2>&1 &&
			go get github.com/janpfeifer/gonb@v0.11.5 >/dev/null 2>&1 &&
			go install github.com/janpfeifer/gonb)
		rm -rf "$tools"
	fi
	[ -x "$GOBIN_DIR/goimports" ] || go install golang.org/x/tools/cmd/goimports@v0.52.0
	[ -x "$GOBIN_DIR/gopls" ] || go install golang.org/x/tools/gopls@v0.23.0
	PATH="$GOBIN_DIR:$PATH" "$GOBIN_DIR/gonb" --install >/dev/null

	# npm packages, outside the repository: playwright-core drives Debian's Chromium; echarts'
	# dist/echarts.min.js is inlined into the interactive figures so they render offline.
	CACHE="${POMPC_CACHE:-$HOME/.cache/pompc}"
	if ! [ -f "$CACHE/node/node_modules/echarts/dist/echarts.min.js" ] || ! [ -d "$CACHE/node/node_modules/playwright-core" ]; then
		mkdir -p "$CACHE/node"
		npm install --silent --no-audit --no-fund --prefix "$CACHE/node" playwright-core@1.49.1 echarts@5.5.1 >/dev/null
	fi
fi

# Pinned modules (go.mod); the proxy here refuses version listings, so never @latest.
go mod download
echo "install.sh: done"
