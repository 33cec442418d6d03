# failoverd: every developer and CI task is one target here.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint docs venv bind9 bench chaos chaos-quick clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[demo,test,lint,docs]'
	touch $(STAMP)

venv: $(STAMP)

# Debian's packages the tests use: bind9 (a real RFC 2136 server: named + tsig-keygen),
# chromium (the status page in a real browser), prometheus (promtool for the alert rules),
# unbound (a caching recursive resolver: the client-seen RTO), postgresql (a writer and a
# streaming standby for the data tier).
bind9:
	@command -v named >/dev/null 2>&1 && command -v tsig-keygen >/dev/null 2>&1 && \
	  command -v chromium >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && \
	  { command -v unbound >/dev/null 2>&1 || test -x /usr/sbin/unbound; } && \
	  test -x /usr/lib/postgresql/15/bin/pg_ctl || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      bind9 bind9-utils chromium prometheus unbound postgresql; }

demo: $(STAMP)
	$(VENV)/bin/failoverd demo

test: $(STAMP) bind9
	$(VENV)/bin/pytest -q

# The pure and in-process tests: no root, no apt (no e2e daemon runs, no BIND, promtool,
# chromium or systemd-analyze).
unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not e2e and not system"

lint: $(STAMP)
	$(VENV)/bin/ruff check failoverd tests chaos
	$(VENV)/bin/ruff format --check failoverd tests chaos
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP) bind9
	$(PY) chaos/bench_failover.py --outages 20

# The manual (docs/, mkdocs-material). --strict fails on a broken link or anchor, a page missing
# from the nav, or a config field the generated reference cannot describe. No -q: it hides them.
# (NO_MKDOCS_2_WARNING only hides mkdocs-material's end-of-life banner.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Fault scenarios against the real daemon on loopback (chaos/scenarios/*.yaml).
chaos: $(STAMP) bind9
	$(PY) chaos/run.py

chaos-quick: $(STAMP) bind9
	$(PY) chaos/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info site
