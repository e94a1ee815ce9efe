#!/usr/bin/env bash
# The system tools the tests run besides Python: promtool (Debian's prometheus) for the alert
# rules and the dashboard's queries, docker-compose (Debian's, v1.29: `config` needs no engine)
# for the compose file, chromium (headless) for the operators' page. Installed with apt where missing and we are root; otherwise says what
# to install (the tests that need a tool fail, naming it).
set -euo pipefail
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (apt) for the tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d: the prometheus package must not try to start its service here (one the machine
  # already has is left as it is)
  ours=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    ours=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$ours" ]; then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "the tests need: ${missing[*]} (Debian packages); install them and rerun" >&2
fi
