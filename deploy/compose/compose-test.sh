#!/usr/bin/env bash
# make compose-test: the demo scenario against the compose stack, deployed the
# way the README tells a user to (no host networking, no test-only compose file):
#
#   copy deploy/compose to a scratch directory, cp .env.example .env, set the
#   addresses in .env, ./secrets.sh, docker compose up -d
#
# NATS and the three services run as containers built locally by `make images`
# on the stack's own network. The Jira and Teleport emulators run on the host
# (in the demo driver, which plays the scenario through them); they listen on
# the address of Docker's default bridge (docker0, host-internal), which the
# containers reach as any host address. The ingress and NATS are published on
# 127.0.0.1 as .env.example does.
#
#   compose-test.sh          run the whole test (starts dockerd if needed)
#   compose-test.sh up|down  used by the demo driver (-up/-down)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
project=accessbridge-compose-test
# Published host ports of the stack under test (not the demo's, so that both can run).
ingress_publish=${COMPOSE_TEST_INGRESS:-127.0.0.1:18081}
nats_publish=${COMPOSE_TEST_NATS:-127.0.0.1:14222}

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

# The host's address on Docker's default bridge: reachable from every container.
bridge_ip() {
  local ip
  ip=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
  if [ -z "$ip" ]; then
    ip=$(ip -4 -o addr show docker0 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  fi
  [ -n "$ip" ] || { echo "cannot find the address of docker0" >&2; exit 1; }
  echo "$ip"
}

# set_env KEY VALUE: edit .env as a user would (replace the line, or append).
set_env() {
  local key=$1 value=$2
  if grep -q "^#\{0,1\} *$key=" .env; then
    sed -i "s|^#\{0,1\} *$key=.*|$key=$value|" .env
  else
    echo "$key=$value" >> .env
  fi
}

up() {
  : "${DEMO_DIR:?DEMO_DIR is set by the demo driver}"
  # The driver wrote the product's settings (emulator addresses, secret files)
  # as KEY=value lines whose values may hold spaces (a Mattermost channel's
  # display name), so they are read line by line, not sourced. Not exported:
  # compose reads its values from .env only.
  while IFS= read -r line; do
    case "$line" in
    [A-Z]*=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
    esac
  done < "$DEMO_DIR/product.env"
  work="$DEMO_DIR/compose"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$here/docker-compose.yml" "$here/docker-compose.ports.yml" "$here/.env.example" "$here/secrets.sh" "$work/"
  cd "$work"
  echo "+ cp .env.example .env; edit .env"
  cp .env.example .env
  set_env TELEPORT_ADDR "$TELEPORT_BRIDGE_ADDR"
  set_env JIRA_URL "$JIRA_BRIDGE_URL"
  set_env JIRA_USER "$JIRA_BRIDGE_USER"
  set_env JIRA_PROJECT "$JIRA_BRIDGE_PROJECT"
  set_env WEBHOOK_PUBLISH "$ingress_publish"
  set_env WEBHOOK_INSECURE_NO_TLS true
  set_env NATS_PUBLISH "$nats_publish"
  echo "+ ./secrets.sh"
  ./secrets.sh --identity "$TELEPORT_BRIDGE_IDENTITY_FILE" --jira-token-file "$JIRA_BRIDGE_API_TOKEN_FILE" \
    --webhook-secret-file "$WEBHOOK_INGRESS_HMAC_SECRETS_FILE"
  echo "+ docker compose up -d"
  compose -p "$project" up -d
  wait_healthy
  # The documented network, not the host's: every container on the stack's
  # own network, where the services found NATS by its service name.
  local id mode
  for id in $(compose -p "$project" ps -q); do
    mode=$(docker inspect -f '{{.HostConfig.NetworkMode}}' "$id")
    if [ "$mode" != "${project}_accessbridge" ]; then
      echo "container $id runs in network mode $mode, want ${project}_accessbridge" >&2
      return 1
    fi
  done
}

# wait_healthy: every container of the project reports healthy (its /readyz
# answered 200: NATS, Jira and Teleport reached).
wait_healthy() {
  local deadline=$((SECONDS + 120)) ids id state pending
  ids=$(compose -p "$project" ps -q)
  [ -n "$ids" ] || { echo "no containers" >&2; return 1; }
  while :; do
    pending=""
    for id in $ids; do
      state=$(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
      case "$state" in *" healthy") ;; *) pending="$pending ${state#/}" ;; esac
    done
    if [ -z "$pending" ]; then
      echo "all $(echo "$ids" | wc -w) containers healthy after ${SECONDS}s"
      compose -p "$project" ps
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "containers not healthy after 120s:$pending" >&2
      return 1
    fi
    sleep 1
  done
}

down() {
  : "${DEMO_DIR:?}"
  cd "$DEMO_DIR/compose" 2>/dev/null || return 0
  echo "--- container logs (last lines) ---"
  compose -p "$project" logs --tail 15 --no-color || true
  compose -p "$project" down -v
}

case "${1:-test}" in
  up) up ;;
  down) down ;;
  test)
    start=$SECONDS
    ensure_dockerd
    make -C "$root" --no-print-directory images
    echo "images built in $((SECONDS - start))s"
    gw=$(bridge_ip)
    # The stack runs without the mattermost profile: no Mattermost steps.
    DEMO_EXIT=1 "$root/bin/demo" -dir "$root/tmp/compose-test" \
      -jira-addr "$gw:0" -teleport-addr "$gw:0" -teleport-admin-addr 127.0.0.1:0 \
      -ingress-addr "$ingress_publish" -nats-addr "$nats_publish" \
      -mattermost-addr "" \
      -up "bash $here/compose-test.sh up" -down "bash $here/compose-test.sh down" \
      -ready "http://$ingress_publish/readyz"
    echo "compose test passed in $((SECONDS - start))s"
    ;;
  *) echo "usage: $0 [test|up|down]" >&2; exit 2 ;;
esac
