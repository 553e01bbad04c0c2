#!/usr/bin/env bash
# Installs the Debian packages GradScope builds against, when they are missing.
# Prints what it installs; does nothing when everything is present.
set -euo pipefail

packages=(
    libdnnl-dev          # oneDNN: convolution, matmul, pooling, batch norm kernels
    libjpeg62-turbo-dev  # JPEG decoding for image folders
    libpng-dev           # PNG decoding
    libcairo2-dev        # PNG, SVG and PDF charts
    zlib1g-dev           # gzip data sets and deflated checkpoints
    fonts-dejavu-core    # the charts' font
    python3-venv         # virtual environments for the PyTorch and TensorBoard cross-checks
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-dependencies: all Debian packages are present"
    exit 0
fi

echo "install-dependencies: installing ${missing[*]}"
sudo_prefix=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_prefix=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_prefix[@]}" apt-get update -qq
"${sudo_prefix[@]}" apt-get install -y -qq "${missing[@]}"
