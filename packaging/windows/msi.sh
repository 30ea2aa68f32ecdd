#!/bin/sh
# Builds fluxrelay's Windows installer with wixl (Debian's msitools):
#     packaging/windows/msi.sh VERSION FLUXRELAY.EXE OUT.msi
# run from the repository's root. VERSION is the MSI's product version: numbers only (0.1.0),
# higher for each release, or an upgrade will not replace the installed one.
set -eu
if [ $# -ne 3 ]; then
  echo "usage: packaging/windows/msi.sh VERSION FLUXRELAY.EXE OUT.msi" >&2
  exit 2
fi
version=$1 exe=$2 out=$3
case $version in
  ''|*[!0-9.]*) echo "msi.sh: the MSI's version must be numbers like 0.1.0, not $version" >&2; exit 2 ;;
esac
command -v wixl >/dev/null 2>&1 || { echo "msi.sh: wixl is not installed (apt-get install wixl)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# wixl finds a File's Source from the folder it runs in.
cp "$exe" "$stage/fluxrelay.exe"
cp packaging/fluxrelay.example.toml docs/windows.md packaging/windows/fluxrelay.wxs "$stage/"
(cd "$stage" && wixl -a x64 -D Version="$version" -D Exe=fluxrelay.exe -D Example=fluxrelay.example.toml \
  -D Guide=windows.md -o fluxrelay.msi fluxrelay.wxs)
mkdir -p "$(dirname "$out")"
mv "$stage/fluxrelay.msi" "$out"
