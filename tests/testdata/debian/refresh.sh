#!/usr/bin/env bash
# Refreshes the cached package index that DockerfileTests checks the images' apt packages against, so the tests
# never reach the network. Run when a Dockerfile names a new package or moves to another Debian release.
set -euo pipefail
cd "$(dirname "$0")"
for release in trixie; do
  curl -fsSL "http://deb.debian.org/debian/dists/${release}/main/binary-amd64/Packages.xz" \
    | xz -dc \
    | awk '/^Package: /{p=$2} /^Version: /{print p, $2}' \
    | LC_ALL=C sort -u \
    | gzip -9n > "${release}-main-amd64.txt.gz"
  echo "${release}: $(zcat "${release}-main-amd64.txt.gz" | wc -l) packages, $(date -u +%F)"
done
