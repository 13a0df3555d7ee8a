#!/usr/bin/env bash
# Runs every benchmark once, one after another, and appends their JSON lines to a log.
# Needs the local PostgreSQL (bench database `arbiter_bench`) and Redis; a quiet machine.
#   bash bench/run_all.sh [LOG]
set -u
cd "$(dirname "$0")/.."
log=${1:-bench/results.jsonl}
py=.venv/bin/python
run() {
  echo "== $*" >&2
  timeout 900 "$py" "$@" 2>>"${log%.jsonl}.stderr" | tail -n 1 | tee -a "$log"
}
run bench/import_corpus.py --items 158000
run bench/agreement.py
run bench/rm_train_head.py
run bench/rm_score_corpus.py
run bench/curation_score_corpus.py --items 158000
run bench/export_dataset.py --sizes 10000,50000,158000
run bench/ui_next_item.py --items 50
run bench/queue_load.py --seconds 20
run bench/rm_featurize.py --source db --items 192 --repeats 3
run bench/rm_featurize.py --source memory --items 128
# quality: the library recipe, then the product end to end on the same corpus and features
run bench/rm_quality.py --items 6000 --work-dir /tmp/rm_quality
run bench/rm_quality_e2e.py --items 6000 --work-dir /tmp/rm_quality
