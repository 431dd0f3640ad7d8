#!/bin/sh
# Install hints name the distribution, optimizer-stability, not the import name `stability`
# (`stability` on PyPI is an unrelated project). Rewrites `pip install stability[extra]`,
# `pip install 'stability[extra]'` and `pip install "stability[extra]"` in the files given
# (default: the files that had them when this script was written); idempotent.
#
#   sh tools/rename_distribution.sh                 # the default files
#   sh tools/rename_distribution.sh FILE ...        # other files
set -eu
if [ "$#" -eq 0 ]; then
    set -- docs/diagrams.md docs/reference/plot.md stability/progress.py \
        stability/plot/__init__.py stability/plot/_backend.py
fi
sed -i \
    -e "s/pip install \([\"']\{0,1\}\)stability\[/pip install \1optimizer-stability[/g" \
    "$@"
grep -n "pip install [\"']\{0,1\}stability\[" "$@" && exit 1
exit 0
