# Portcullis — two commands:
#   make run   set everything up and start the gateway on its embedded defaults
#   make test  install what the tests need, then fmt, clippy and every test
#
# One target directory serves the gateway, the plugins and the test fixtures.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export CARGO_TARGET_DIR ?= $(CURDIR)/target
WASM := wasm32-wasip2
CARGO ?= cargo

.PHONY: fuzz run test test-groups bench bench-deps bench-proxy build doc plugins plugins-release fixtures fixtures-release wasm-target test-deps lint fmt fmt-check clippy unit e2e clean

## Setup -------------------------------------------------------------------

wasm-target:
	@rustup target list --installed | grep -qx '$(WASM)' || rustup target add $(WASM)

# Tools the end-to-end tests call: openssl (TLS 1.1 probe, fingerprints),
# curl, node with the `oidc-provider` package (pinned by
# tests/peers/oidc/package-lock.json; the OpenID provider SSO tests sign in
# with), xmlsec1, and — in a private folder — pyotp (an independent TOTP
# implementation), schemathesis (tests the API against its OpenAPI
# document), pysaml2 (the SAML IdP, signing with xmlsec1), moto (AWS
# Secrets Manager and KMS on loopback), cryptography (the Azure Key Vault
# and Entra ID double's certificates and RSA keys) and Microsoft's Python
# SDK for Azure (which checks that the double answers as Azure does).
export PORTCULLIS_TEST_PYTHONPATH := $(CARGO_TARGET_DIR)/pylib

test-deps:
	@missing=""; \
	for tool in openssl curl xmlsec1; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	@test -d tests/peers/oidc/node_modules/oidc-provider || npm ci --prefix tests/peers/oidc --no-audit --no-fund --loglevel=error
	@PYTHONPATH=$(PORTCULLIS_TEST_PYTHONPATH) python3 -c 'import pyotp, schemathesis, saml2, moto.server, moto, cryptography, azure.identity, azure.keyvault.secrets, azure.keyvault.keys; assert moto.__version__ == "5.2.5"' 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade \
	    --target $(PORTCULLIS_TEST_PYTHONPATH) 'pyotp==2.9.0' 'schemathesis==4.32.5' -r tests/peers/saml/requirements.txt \
	    -r tests/peers/aws/requirements.txt -r tests/peers/azure/requirements.txt

## Builds ------------------------------------------------------------------

plugins: wasm-target
	cd plugins && $(CARGO) build --target $(WASM)

plugins-release: wasm-target
	cd plugins && $(CARGO) build --release --target $(WASM)

fixtures: wasm-target
	cd tests/fixtures && $(CARGO) build --target $(WASM)

fixtures-release: wasm-target
	cd tests/fixtures && $(CARGO) build --release --target $(WASM)

build:
	$(CARGO) build -p portcullis

## Run ---------------------------------------------------------------------

# Embedded defaults: data in ./portcullis-data, https://127.0.0.1:8443.
run: plugins-release
	$(CARGO) build --release -p portcullis
	$(CARGO_TARGET_DIR)/release/portcullis serve --plugin-dir $(CARGO_TARGET_DIR)/$(WASM)/release

## Quality gates -----------------------------------------------------------

fmt:
	$(CARGO) fmt --all
	cd plugins && $(CARGO) fmt --all
	cd tests/fixtures && $(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check
	cd plugins && $(CARGO) fmt --all -- --check
	cd tests/fixtures && $(CARGO) fmt --all -- --check

clippy: wasm-target
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd plugins && $(CARGO) clippy --target $(WASM) --all-targets -- -D warnings
	cd tests/fixtures && $(CARGO) clippy --target $(WASM) -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p portcullis -p portcullis-sdk -p portcullis-sealing -p portcullis-agent

lint: fmt-check clippy doc

## Tests -------------------------------------------------------------------

unit:
	$(CARGO) test -p portcullis -p portcullis-sdk

e2e: test-deps build plugins fixtures
	$(CARGO) test -p portcullis-tests

# Every test group runs even when an earlier one fails; the run ends with
# one plain "N passed, N failed" line totalling every test binary, and
# fails if any group failed (a group that could not build counts as one
# failure, so a broken build never reads as "0 failed"). A group that has
# not ended after TEST_TIMEOUT seconds (its build included) is stopped and
# fails: a test that hangs must not hold CI to its own time limit.
TEST_TIMEOUT ?= 2400
TEST_LOG = $(CARGO_TARGET_DIR)/test-output.log
test: test-deps plugins fixtures fmt-check clippy doc build
	@$(MAKE) --no-print-directory test-groups

# The test groups and the total alone (tests/e2e/make_summary.rs runs it
# with a stand-in cargo).
test-groups:
	@: > $(TEST_LOG); status=0; \
	timeout --kill-after=30 $(TEST_TIMEOUT) $(CARGO) test --workspace --no-fail-fast 2>&1 | tee -a $(TEST_LOG) || status=1; \
	(cd plugins && timeout --kill-after=30 $(TEST_TIMEOUT) $(CARGO) test --lib --no-fail-fast 2>&1) | tee -a $(TEST_LOG) || status=1; \
	awk -v status=$$status '/^test result:/ { passed += $$4; failed += $$6 } \
	  END { if (status && !failed) failed = 1; printf "%d passed, %d failed\n", passed, failed }' $(TEST_LOG); \
	exit $$status

## Benchmarks --------------------------------------------------------------

# Plugins are benchmarked as they ship: release builds.
bench: plugins-release fixtures-release test-deps
	$(CARGO) build --release -p portcullis
	PORTCULLIS_BIN=$(CARGO_TARGET_DIR)/release/portcullis PORTCULLIS_WASM_PROFILE=release $(CARGO) bench -p portcullis-tests
	@$(MAKE) --no-print-directory bench-proxy

# What the side-by-side proxy benchmark runs: nginx (the baseline proxy
# and the upstream), wrk and hey (load, the latter paced), from Debian.
bench-deps:
	@missing=""; \
	for tool in nginx wrk hey openssl; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Portcullis (TLS, API key, authz-rbac over 10,000 bindings) against nginx
# proxying bare, and the upstream served directly: CPU per request, req/s,
# p50/p99 at 32 and 128 connections and paced; BENCH_ROUNDS, BENCH_SECONDS.
bench-proxy: bench-deps plugins-release
	$(CARGO) build --release -p portcullis
	python3 tests/bench/proxy_vs_nginx.py $(CARGO_TARGET_DIR)/release/portcullis $(CARGO_TARGET_DIR)/$(WASM)/release

## Fuzzing -----------------------------------------------------------------

# cargo-fuzz (libFuzzer) on a nightly toolchain, in its own target dir; the
# build itself stays on the pinned stable toolchain. Each target runs for
# FUZZ_SECONDS; findings land in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := canonical_path api_key access_token cookie der jwk_pem forwarding
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@cd fuzz && for target in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$target ($(FUZZ_SECONDS) s)"; \
	  CARGO_TARGET_DIR=$(CURDIR)/fuzz/target cargo +nightly fuzz run $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 | tail -n 12 || exit 1; \
	done

clean:
	$(CARGO) clean
