# Two entry points for a fresh machine: `make run` and `make test` (see README).
# Each creates or updates the virtual environment in .venv by itself.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Browser tests drive Debian's Chromium (never a downloaded browser); the cluster tests put
# Debian's nginx in front of several nodes and need a redis-server binary for Redis outages.
CHROMIUM := /usr/bin/chromium
# The npm chatexchange client runs on the machine's node; its package comes from npm's registry.
NPM := $(shell command -v npm 2>/dev/null || echo /usr/bin/npm)
NGINX := /usr/sbin/nginx
# The streams tests put Debian's nginx RTMP module in front of hubbub and publish ffmpeg's test pattern.
NGINX_RTMP := /usr/lib/nginx/modules/ngx_rtmp_module.so
FFMPEG := /usr/bin/ffmpeg
REDIS_SERVER := /usr/bin/redis-server
# The IRC gateway's tests script Debian's WeeChat (headless, driven through its fifo plugin).
WEECHAT := /usr/bin/weechat-headless
WEECHAT_FIFO := /usr/lib/x86_64-linux-gnu/weechat/plugins/fifo.so
# The IRC bridge tests run real IRC servers from Debian: ngircd (classic) and InspIRCd linked
# to atheme-services (IRCv3 tags and SASL); openssl makes their throw-away TLS certificate.
NGIRCD := /usr/sbin/ngircd
INSPIRCD := /usr/sbin/inspircd
ATHEME := /usr/bin/atheme-services
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit clean

run: $(RUN_STAMP)
	$(BIN)/hubbub serve

test: $(TEST_STAMP) $(CHROMIUM) $(NPM) $(NGINX) $(NGINX_RTMP) $(FFMPEG) $(REDIS_SERVER) $(WEECHAT) $(WEECHAT_FIFO) \
	$(NGIRCD) $(INSPIRCD) $(ATHEME)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto --maxprocesses 4

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,postgres,redis]'
	touch $(RUN_STAMP) $@

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core

$(NPM):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm

$(NGINX):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nginx

$(NGINX_RTMP):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends libnginx-mod-rtmp

$(FFMPEG):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg

$(REDIS_SERVER):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends redis-server

$(WEECHAT) $(WEECHAT_FIFO):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends weechat-headless weechat-plugins

$(NGIRCD):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends ngircd openssl

$(INSPIRCD):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends inspircd

$(ATHEME):
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends atheme-services

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
