#!/usr/bin/env bash
# Creates the secret files docker-compose.yml mounts, readable by the images'
# non-root user (uid 65532) and by nobody else on the host:
#
#   ./secrets.sh --identity ~/identity --jira-token-file ~/jira-token [--dir ./secrets]
#   ./secrets.sh --identity ~/identity --jira-token-file - < token     (token on stdin)
#   make secrets IDENTITY=~/identity JIRA_TOKEN=~/jira-token             (the same, from the repository root)
#
# The directory is 0700 and yours: no other host user can reach the files.
# The files are 0444: the containers open them through a bind mount of the
# file itself, which does not pass through the directory, so uid 65532 can
# read them without root. The stricter alternative (needs root):
#   sudo chown 65532:65532 secrets/* && sudo chmod 0400 secrets/*
#
# The webhook secret is generated (64 hex characters) unless --webhook-secret-file
# gives one; put the same value in the Jira webhook's Secret field.
# --mattermost-token-file FILE adds the Mattermost bot's token. Existing
# files are kept unless --force.
set -euo pipefail
dir=./secrets
identity="" token="" webhook="" mattermost="" force=0
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --identity) identity=$2; shift 2 ;;
    --jira-token-file) token=$2; shift 2 ;;
    --webhook-secret-file) webhook=$2; shift 2 ;;
    --mattermost-token-file) mattermost=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage ;;
    *) echo "secrets.sh: unknown argument $1" >&2; usage ;;
  esac
done

umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

# put NAME SOURCE: copy SOURCE (a file, or - for stdin) to $dir/NAME.
put() {
  local name=$1 src=$2 dst="$dir/$1"
  if [ -e "$dst" ] && [ "$force" = 0 ]; then
    # A file you own is made readable by the containers; one you chowned to
    # 65532 is left as it is.
    if [ -O "$dst" ]; then chmod 0444 "$dst"; fi
    echo "kept     $dst (exists; --force replaces it)"
    return
  fi
  if [ -z "$src" ]; then
    echo "secrets.sh: $dst is missing: give $3" >&2
    missing=1
    return
  fi
  if [ "$src" != - ] && [ ! -r "$src" ]; then
    echo "secrets.sh: cannot read $src (for $name)" >&2
    missing=1
    return
  fi
  rm -f "$dst"
  if [ "$src" = - ]; then cat > "$dst"; else cat "$src" > "$dst"; fi
  [ -s "$dst" ] || { echo "secrets.sh: $src is empty (for $name)" >&2; rm -f "$dst"; missing=1; return; }
  chmod 0444 "$dst"
  echo "wrote    $dst"
}

missing=0
put teleport-identity "$identity" "--identity FILE (tctl auth sign --user=access-plugin --format=file --out=identity)"
put jira-api-token "$token" "--jira-token-file FILE (the Jira API token, password or personal access token)"
if [ -z "$webhook" ] && { [ ! -e "$dir/webhook-secret" ] || [ "$force" = 1 ]; }; then
  rm -f "$dir/webhook-secret"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/webhook-secret"
  chmod 0444 "$dir/webhook-secret"
  echo "wrote    $dir/webhook-secret (generated: paste its content into the Jira webhook's Secret field)"
else
  put webhook-secret "$webhook" "--webhook-secret-file FILE"
fi
# Optional: the Mattermost bot's token, for the mattermost-bridge.
if [ -n "$mattermost" ] || [ -e "$dir/mattermost-token" ]; then
  put mattermost-token "$mattermost" "--mattermost-token-file FILE"
fi
[ "$missing" = 0 ] || exit 1
echo "secrets in $dir: directory 0700, files 0444 (readable by the containers' uid 65532)"
