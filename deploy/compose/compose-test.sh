#!/usr/bin/env bash
# make compose-test: the demo scenario against the compose stack.
#
# The emulators run on the host (in the demo driver); NATS and the three
# services run as containers built locally by `make images`. Everything uses
# the host's network (NETWORK_MODE=host) and listens on 127.0.0.1 only.
#
#   compose-test.sh          run the whole test (starts dockerd if needed)
#   compose-test.sh up|down  used by the demo driver (-up/-down)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
project=accessbridge-compose-test

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

ensure_dockerd() {
  if docker info >/dev/null 2>&1; then return; fi
  command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io docker-compose)" >&2; exit 1; }
  echo "starting dockerd"
  (dockerd >/tmp/accessbridge-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return; sleep 0.5; done
  echo "dockerd did not start; see /tmp/accessbridge-dockerd.log" >&2
  tail -20 /tmp/accessbridge-dockerd.log >&2
  exit 1
}

up() {
  : "${DEMO_DIR:?DEMO_DIR is set by the demo driver}"
  # The driver wrote the product's settings; map them onto the compose file.
  # Sourced, not exported: compose takes its values from compose.env only.
  source "$DEMO_DIR/product.env"
  secrets="$DEMO_DIR/compose-secrets"
  mkdir -p "$secrets"
  cp "$TELEPORT_BRIDGE_IDENTITY_FILE" "$secrets/teleport-identity"
  cp "$JIRA_BRIDGE_API_TOKEN_FILE" "$secrets/jira-api-token"
  cp "$WEBHOOK_INGRESS_HMAC_SECRETS_FILE" "$secrets/webhook-secret"
  # Bind-mounted compose secrets keep host permissions; the containers run as
  # uid 65532. This is a throw-away test directory.
  chmod 0755 "$secrets"; chmod 0644 "$secrets"/*
  cat > "$DEMO_DIR/compose.env" <<ENV
NETWORK_MODE=host
SECRETS_DIR=$secrets
NATS_BIND=127.0.0.1
NATS_URL=nats://127.0.0.1:4222
TELEPORT_ADDR=$TELEPORT_BRIDGE_ADDR
JIRA_URL=$JIRA_BRIDGE_URL
JIRA_USER=$JIRA_BRIDGE_USER
JIRA_PROJECT=$JIRA_BRIDGE_PROJECT
TELEPORT_BRIDGE_HTTP_ADDR=127.0.0.1:8091
JIRA_BRIDGE_HTTP_ADDR=127.0.0.1:8092
WEBHOOK_INGRESS_ADDR=127.0.0.1:8081
WEBHOOK_INSECURE_NO_TLS=true
ENV
  compose -p "$project" -f "$here/docker-compose.yml" --env-file "$DEMO_DIR/compose.env" up -d
}

down() {
  : "${DEMO_DIR:?}"
  echo "--- container logs (last lines) ---"
  compose -p "$project" -f "$here/docker-compose.yml" --env-file "$DEMO_DIR/compose.env" logs --tail 15 --no-color || true
  compose -p "$project" -f "$here/docker-compose.yml" --env-file "$DEMO_DIR/compose.env" down -v
}

case "${1:-test}" in
  up) up ;;
  down) down ;;
  test)
    ensure_dockerd
    make -C "$root" --no-print-directory images
    DEMO_EXIT=1 "$root/bin/demo" -dir "$root/tmp/compose-test" \
      -up "bash $here/compose-test.sh up" -down "bash $here/compose-test.sh down" \
      -ready "http://127.0.0.1:8091/readyz,http://127.0.0.1:8092/readyz,http://127.0.0.1:8081/readyz"
    ;;
  *) echo "usage: $0 [test|up|down]" >&2; exit 2 ;;
esac
