#!/usr/bin/env bash
# Makes sure podman has every base image the given Dockerfiles start FROM: already here, pulled from its registry,
# or, where no registry answers (a machine that reaches only Debian's and NuGet's mirrors), made here:
#   debian:RELEASE-slim          debootstrap --variant=minbase RELEASE from this machine's Debian mirror, slimmed
#   mcr.microsoft.com/dotnet/sdk this machine's .NET SDK (same major.minor) in that Debian root, with this machine's
#                                CA certificates, which NuGet inside the build needs to reach its registry
# Each is tagged with exactly the name its FROM line uses, so `podman build --pull=never` finds it.
#
#   images/base-images.sh DOCKERFILE...        (as root; CONTAINERS_CONF as build.cake sets it)
set -euo pipefail
say() { echo "== base images: $*" >&2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# docker.io/library/NAME:TAG for Docker Hub's short names, as Docker itself reads them.
qualify() {
  case "$1" in
    */*.*/*|*.*/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

mirror() {
  awk -v RS= '/Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ && match($0, /URIs:[ \t]*[^ \t\n]+/) {
    u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
    || true
}

# A minimal Debian root of RELEASE in $work/RELEASE, made once per run.
debian_root() {
  local release="$1" root="$work/$1" url
  [ -d "$root" ] && { echo "$root"; return; }
  url="$(mirror)"; url="${url:-http://deb.debian.org/debian}"
  say "debootstrap --variant=minbase $release from $url"
  debootstrap --variant=minbase "$release" "$root" "$url" >"$work/debootstrap-$release.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap-$release.log" >&2; exit 1; }
  # What a -slim image leaves out, now and in every package installed on top of it: documentation, manuals and
  # translations; then the package lists and the downloaded packages debootstrap leaves behind.
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  # As the registry's Debian images do: apt deletes the packages it downloaded once they are installed.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  echo "$root"
}

make_debian() { # make_debian IMAGE RELEASE
  local root
  root="$(debian_root "$2")"
  say "import $1"
  tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$1" >/dev/null
}

make_sdk() { # make_sdk IMAGE VERSION
  local sdk version root="$work/sdk"
  version="$(dotnet --version)"
  [[ "$version" == "$2".* ]] || { echo "base images: $1 needs a .NET $2 SDK, and this machine has $version" >&2; exit 1; }
  sdk="$(dirname "$(readlink -f "$(command -v dotnet)")")"
  cp -a "$(debian_root trixie)" "$root"
  say "$1: this machine's SDK $version from $sdk"
  mkdir -p "$root/usr/share/dotnet" "$root/etc/ssl/certs"
  cp -a "$sdk/." "$root/usr/share/dotnet/"
  ln -sf /usr/share/dotnet/dotnet "$root/usr/bin/dotnet"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  # As the real SDK image: dotnet on PATH, no telemetry; no ICU in a minimal root, so invariant globalization.
  tar -C "$root" -c . | podman import \
    --change 'ENV DOTNET_CLI_TELEMETRY_OPTOUT=1' --change 'ENV DOTNET_NOLOGO=1' \
    --change 'ENV DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "ENV NUGET_CERT_REVOCATION_MODE=${NUGET_CERT_REVOCATION_MODE:-online}" \
    --change 'CMD ["bash"]' - "$1" >/dev/null
}

for dockerfile in "$@"; do
  for from in $(awk 'toupper($1) == "FROM" { print $2 }' "$dockerfile"); do
    image="$(qualify "$from")"
    if podman image exists "$image"; then continue; fi
    if podman pull -q "$image" >/dev/null 2>&1; then say "pulled $image"; continue; fi
    case "$image" in
      docker.io/library/debian:*-slim) release="${image#docker.io/library/debian:}"; make_debian "$image" "${release%-slim}" ;;
      mcr.microsoft.com/dotnet/sdk:*) make_sdk "$image" "${image#mcr.microsoft.com/dotnet/sdk:}" ;;
      *) echo "base images: no registry answered for $image, and it cannot be made here" >&2; exit 1 ;;
    esac
  done
done
