#!/bin/bash
# The hand-written preflight sgdoctor replaces: the five headline checks with ip, curl, bash's
# /dev/tcp and touch. bench/bench_run.py times it beside `sgdoctor --format json`.
# Reads GLOO_SOCKET_IFNAME, ETCD_ENDPOINTS, NATS_SERVER, MACA_PATH and
# SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR; prints one line per check, exits 1 on any failure.
set -u
failed=0
say() { printf '%s %s\n' "$1" "$2"; [ "$1" = ok ] || failed=1; }

# 1. The gloo interface exists and is up.
ifname=${GLOO_SOCKET_IFNAME:-eth0}
if link=$(ip -o link show dev "$ifname" 2>/dev/null) && [[ $link == *"<"*UP*">"* ]]; then
    say ok "gloo interface $ifname is up"
else
    say fail "gloo interface $ifname missing or down"
fi

# 2. Every etcd endpoint answers /health with health true.
IFS=, read -ra endpoints <<<"${ETCD_ENDPOINTS:-http://localhost:2379}"
for endpoint in "${endpoints[@]}"; do
    if body=$(curl -sf --max-time 2 "${endpoint%/}/health") && [[ $body == *'"health":"true"'* ]]
    then say ok "etcd $endpoint healthy"; else say fail "etcd $endpoint unhealthy"; fi
done

# 3. NATS greets with INFO and answers PING with PONG.
server=${NATS_SERVER:-nats://localhost:4222}
hostport=${server#*://}
host=${hostport%:*} port=${hostport##*:}
if exec 3<>"/dev/tcp/$host/$port" && read -r -t 2 info <&3 && [[ $info == INFO* ]] &&
    printf 'CONNECT {"verbose":false,"user":"user","pass":"user"}\r\nPING\r\n' >&3 &&
    read -r -t 2 pong <&3 && [[ $pong == PONG* ]]; then
    say ok "nats $server answers"
else
    say fail "nats $server does not answer"
fi
exec 3>&- 2>/dev/null

# 4. The MACA libraries are present.
lib=${MACA_PATH:-/opt/maca}/lib
missing=""
for name in libmcruntime.so libmxc-runtime64.so libmccl.so libmcblas.so; do
    [ -e "$lib/$name" ] || missing="$missing $name"
done
if [ -z "$missing" ]; then say ok "MACA libraries in $lib"; else say fail "missing:$missing"; fi

# 5. The expert record directory is writable.
dir=${SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR:-/tmp}
probe="$dir/.preflight.$$"
if mkdir -p "$dir" && touch "$probe" && rm -f "$probe"; then
    say ok "record dir $dir writable"
else
    say fail "record dir $dir not writable"
fi
exit $failed
