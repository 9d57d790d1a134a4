#!/bin/sh
# Install trunks and its git remote helper, without sudo.
#
#   curl -fsSL <release URL>/install.sh | sh
#   curl -fsSL <release URL>/install.sh | sh -s -- --version v0.2.0
#   sh install.sh [--version vX.Y.Z] [--dir DIR]
#
# Environment:
#   TRUNKS_RELEASE_URL  where the releases live (assets under <url>/latest/download/ and
#                       <url>/download/<version>/); default below
#   TRUNKS_INSTALL_DIR  where to install (default ~/.local/bin)
#   TRUNKS_VERSION      same as --version
#
# It downloads trunks-<target> and SHA256SUMS, refuses anything whose checksum does not
# match, then installs `trunks` and `git-remote-trunks` (a two-line shim that runs
# `trunks remote-helper`) by writing temp files and renaming them into place.
#
# Everything runs from main() on the last line, so a download cut short never runs half a
# script.
set -eu

TRUNKS_DEFAULT_RELEASE_URL="https://github.com/trunks-dev/trunks/releases"

say() { printf '%s\n' "$*"; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

usage() {
  say "usage: sh install.sh [--version vX.Y.Z] [--dir DIR]"
  say "  env: TRUNKS_RELEASE_URL (default $TRUNKS_DEFAULT_RELEASE_URL),"
  say "       TRUNKS_INSTALL_DIR (default ~/.local/bin), TRUNKS_VERSION"
}

# The release target triple for this machine, or a one-line refusal.
detect_target() {
  os=$(uname -s 2>/dev/null || echo unknown)
  arch=$(uname -m 2>/dev/null || echo unknown)
  case "$arch" in
    x86_64 | amd64 | x64) arch=x86_64 ;;
    aarch64 | arm64 | armv8*) arch=aarch64 ;;
    *) die "unsupported architecture '$arch' ($os); release binaries exist for x86_64 and aarch64 only (build from source: deno task compile)" ;;
  esac
  case "$os" in
    Linux)
      if have ldd && ldd --version 2>&1 | grep -qi musl; then
        die "this Linux uses musl libc; the release binaries need glibc (build from source: deno task compile)"
      fi
      target="$arch-unknown-linux-gnu"
      ;;
    Darwin)
      # A shell under Rosetta reports x86_64 on Apple silicon; the native build is faster.
      if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
        arch=aarch64
      fi
      target="$arch-apple-darwin"
      ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      [ "$arch" = x86_64 ] || die "unsupported architecture '$arch' on Windows; release binaries exist for x86_64 only"
      target="x86_64-pc-windows-msvc"
      ;;
    *) die "unsupported operating system '$os'; release binaries exist for Linux, macOS and Windows" ;;
  esac
  exe=""
  case "$target" in *windows*) exe=".exe" ;; esac
}

# download URL FILE: curl, or wget when curl is absent.
# Their own error text is kept (last line only) so a failure stays one line.
download() {
  if have curl; then
    err=$(curl -fsSL --retry 2 -o "$2" "$1" 2>&1) && return 0
  elif have wget; then
    err=$(wget -nv -O "$2" "$1" 2>&1) && return 0
  else
    die "neither curl nor wget is installed; install one of them and run this again"
  fi
  err=$(printf '%s\n' "$err" | sed -e '/^[[:space:]]*$/d' -e 's/^[0-9-]* [0-9:]* //' | tail -n 1)
  die "download failed: $1 (${err:-no response}); check the version and TRUNKS_RELEASE_URL"
}

# Pick the checksum tool up front: a die() inside $(...) would only end the subshell.
pick_sha256() {
  if have sha256sum; then
    sha_tool=sha256sum
  elif have shasum; then
    sha_tool=shasum
  elif have openssl; then
    sha_tool=openssl
  else
    die "no sha256sum, shasum or openssl to verify the download; install one of them and run this again"
  fi
}

# sha256 FILE: the lowercase hex digest.
sha256() {
  case "$sha_tool" in
    sha256sum) sha256sum "$1" ;;
    shasum) shasum -a 256 "$1" ;;
    openssl) openssl dgst -sha256 -r "$1" ;;
  esac | awk '{print tolower($1)}'
}

# The helper shim, byte for byte what `trunks install-helper` writes (src/cli/install_helper.ts).
shim_text() {
  quoted=$(printf '%s' "$1" | sed "s/'/'\\\\''/g")
  printf '#!/bin/sh\nexec '\''%s'\'' remote-helper "$@"\n' "$quoted"
}

# put SRC DEST MODE: copy into DEST's directory under a temp name, then rename over DEST.
put() {
  tmp_dest="$(dirname "$2")/.$(basename "$2").tmp.$$"
  cp "$1" "$tmp_dest" || die "cannot write to $(dirname "$2"); set TRUNKS_INSTALL_DIR to a writable directory"
  chmod "$3" "$tmp_dest"
  mv -f "$tmp_dest" "$2" || {
    rm -f "$tmp_dest"
    die "cannot replace $2; is it in use or read-only?"
  }
}

main() {
  version="${TRUNKS_VERSION:-}"
  install_dir="${TRUNKS_INSTALL_DIR:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --version)
        [ $# -ge 2 ] || die "--version needs a value, e.g. --version v0.2.0"
        version=$2
        shift 2
        ;;
      --version=*)
        version=${1#--version=}
        shift
        ;;
      --dir)
        [ $# -ge 2 ] || die "--dir needs a value"
        install_dir=$2
        shift 2
        ;;
      --dir=*)
        install_dir=${1#--dir=}
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown argument '$1' (try --help)" ;;
    esac
  done

  base="${TRUNKS_RELEASE_URL:-$TRUNKS_DEFAULT_RELEASE_URL}"
  base=${base%/}
  if [ -n "$version" ]; then
    case "$version" in
      v*) ;;
      [0-9]*) version="v$version" ;;
      *) die "bad --version '$version'; expected a release tag such as v0.2.0" ;;
    esac
    assets="$base/download/$version"
  else
    assets="$base/latest/download"
  fi

  if [ -z "$install_dir" ]; then
    [ -n "${HOME:-}" ] || die "HOME is not set; set TRUNKS_INSTALL_DIR to where trunks should go"
    install_dir="$HOME/.local/bin"
  fi

  detect_target
  pick_sha256
  asset="trunks-$target$exe"

  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t trunks-install)
  trap 'rm -rf "$tmp"' EXIT
  trap 'rm -rf "$tmp"; exit 130' INT TERM

  say "trunks: downloading $asset (${version:-latest}) from $assets"
  download "$assets/SHA256SUMS" "$tmp/SHA256SUMS"
  download "$assets/$asset" "$tmp/$asset"

  expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$tmp/SHA256SUMS")
  [ -n "$expected" ] || die "SHA256SUMS at $assets lists no $asset; nothing was installed"
  actual=$(sha256 "$tmp/$asset")
  if [ -z "$actual" ] || [ "$actual" != "$expected" ]; then
    die "checksum mismatch for $asset (expected $expected, got ${actual:-nothing}); nothing was installed"
  fi

  mkdir -p "$install_dir" || die "cannot create $install_dir; set TRUNKS_INSTALL_DIR to a writable directory"
  install_dir=$(cd "$install_dir" && pwd -P)
  bin="$install_dir/trunks$exe"
  helper="$install_dir/git-remote-trunks"

  # Same bytes already there (a re-run): leave the file alone, it may be running.
  if [ -f "$bin" ] && [ -x "$bin" ] && [ "$(sha256 "$bin")" = "$actual" ]; then
    say "trunks: $bin is already this build"
  else
    put "$tmp/$asset" "$bin" 755
  fi

  target_path="$bin"
  if [ -n "$exe" ] && have cygpath; then target_path=$(cygpath -m "$bin"); fi
  shim_text "$target_path" >"$tmp/helper"
  put "$tmp/helper" "$helper" 755
  if [ -n "$exe" ]; then
    win_bin="$bin"
    if have cygpath; then win_bin=$(cygpath -w "$bin"); fi
    printf '@echo off\r\n"%s" remote-helper %%*\r\n' "$win_bin" >"$tmp/helper.cmd"
    put "$tmp/helper.cmd" "$helper.cmd" 755
  fi

  installed=$("$bin" --version 2>/dev/null | head -n 1 || true)
  say "trunks: installed ${installed:-$asset} to $bin"
  say "trunks: installed the git remote helper $helper"

  case ":${PATH:-}:" in
    *":$install_dir:"*) ;;
    *)
      say ""
      say "$install_dir is not on your PATH. Add it (e.g. to ~/.profile or ~/.bashrc):"
      say "  export PATH=\"$install_dir:\$PATH\""
      ;;
  esac
}

main "$@"
