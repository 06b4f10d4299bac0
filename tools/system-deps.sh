#!/usr/bin/env bash
# The system tools the test suite runs for real: promtool and the Prometheus server (Debian
# package `prometheus`), amtool and Alertmanager (`prometheus-alertmanager`). Where one is
# missing and apt-get is available, install it (as root, or through sudo); elsewhere stop with
# one line naming what to install.
set -euo pipefail

declare -A package=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [amtool]=prometheus-alertmanager
  [prometheus-alertmanager]=prometheus-alertmanager
)
missing=()
for tool in promtool prometheus amtool prometheus-alertmanager; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing system tools; install the Debian/Ubuntu packages: ${packages}(or promtool, prometheus, amtool and alertmanager from prometheus.io onto PATH)" >&2
  exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "error: missing system tools and no root to install them: apt-get install ${packages}" >&2
  exit 2
fi
echo "installing system tools: ${packages}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >&2
# shellcheck disable=SC2086  # word splitting of the package list is intended
"${as_root[@]}" apt-get install -y -q --no-install-recommends ${packages} >&2
