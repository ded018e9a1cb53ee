#!/usr/bin/env bash
# Installs, with apt, the Debian packages latchkey's test suites use as real components and
# independent peers. Idempotent: installs only what is missing. Each issue that adds a suite
# adds its packages here, with the suite that needs them.
set -euo pipefail

packages=(
  # native addons (better-sqlite3, later pkcs11js, node-hid) build with node-gyp
  python3 make g++
  # store: an independent sqlite3 checks the files latchkey writes
  sqlite3
  # delegation: independent macaroon peers (python with /usr/bin/python3, and a C harness)
  python3-pymacaroons libmacaroons-dev pkg-config
  # password: independent argon2, bcrypt, scrypt and pbkdf2 implementations
  argon2 python3-argon2 python3-passlib python3-bcrypt php-cli
  # webauthn: Debian's headless Chromium, driven by playwright-core with a CDP virtual authenticator
  chromium
  # fob: independent CTAP2 clients (python-fido2, libfido2 and its tools)
  python3-fido2 libfido2-dev fido2-tools
  # pkcs11: SoftHSM2 tokens and OpenSC's pkcs11-tool
  softhsm2 opensc
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-system: all ${#packages[@]} Debian packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup-system: missing ${missing[*]} and not root (no sudo): install them with apt" >&2
  exit 1
fi

echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
