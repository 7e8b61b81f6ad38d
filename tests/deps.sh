#!/usr/bin/env bash
# Install the Debian packages vlkv needs to build and test (DESIGN.md §7). Skips apt entirely when
# everything is present. Nothing else is downloaded. Usage: bash tests/deps.sh [--python]
#   --python  also the offline tools' packages (PyTorch reference, model training)
set -euo pipefail
pkgs=(cmake make gcc libc6-dev git libopenblas-dev libstb-dev
      libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-tools
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
if [ "${1:-}" = "--python" ]; then pkgs+=(python3 python3-torch python3-numpy python3-pil gnuplot-nox); fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
