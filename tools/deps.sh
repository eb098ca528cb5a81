#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet; silent when all are.
set -e
missing=""
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in *"ok installed"*) ;; *) missing="$missing $pkg" ;; esac
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "make deps: installing$missing" >&2
# A machine that has never fetched package lists cannot install anything: update first.
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
