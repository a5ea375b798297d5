#!/usr/bin/env bash
# Debian packages the project needs: a CJK font, pango and harfbuzz's subsetter (without it WeasyPrint
# subsets CJK fonts ten times slower) for PDF rendering; poppler (pdftotext, pdftoppm, pdfsig), NSS's certutil
# and openssl for the document and signature checks; chromium for the browser tests (Playwright drives it;
# `playwright install` is never used); haproxy, the load balancer of `make cluster` (scripts/cluster). Installs only
# what is missing, so a second run is instant.
set -euo pipefail
packages=(fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libnss3-tools openssl
          chromium haproxy "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
