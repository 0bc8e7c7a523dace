# The front door: 'make help' lists what is here.

GOLANGCI_LINT_VERSION := 2.15.0
# A golangci-lint on PATH is used when it is the pinned version; otherwise
# the pinned version is built once into bin/.
GOLANGCI_LINT = $(shell golangci-lint version 2>/dev/null | grep -q 'version $(GOLANGCI_LINT_VERSION) ' \
	&& command -v golangci-lint || echo $(CURDIR)/bin/golangci-lint-v$(GOLANGCI_LINT_VERSION))

# Packages whose tests take -update (rewrite golden files). Other test
# binaries would reject the flag, so only these get it.
GOLDEN_PKGS = $(shell grep -rl --include='*_test.go' 'flag.Bool."update"' . | grep -v '^./e2e/' | xargs -r -n1 dirname | sort -u)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run pilotlight on the demo mesh in deploy/examples/bookstore (ports 15010, 15014).
	go run ./cmd/pilotlight serve --config-dir deploy/examples/bookstore \
		--mesh-config deploy/examples/mesh.yaml --log-format console

.PHONY: build
build: ## Build bin/pilotlight.
	go build -o bin/ ./cmd/pilotlight

.PHONY: test
test: ## Run every test: the module's (with the race detector), layering, then e2e.
	go test -race ./...
	$(MAKE) e2e

.PHONY: e2e
e2e: ## Run the end-to-end tests (module e2e/; root and iproute2, peers built once into e2e/bin).
	cd e2e && go vet ./... && go test -count=1 -timeout 60m ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (pinned version) on both modules.
	$(GOLANGCI_LINT) run ./...
	cd e2e && $(GOLANGCI_LINT) run ./...

$(CURDIR)/bin/golangci-lint-v$(GOLANGCI_LINT_VERSION):
	GOBIN=$(CURDIR)/bin/.golangci-lint go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION)
	mv $(CURDIR)/bin/.golangci-lint/golangci-lint $@
	rmdir $(CURDIR)/bin/.golangci-lint

.PHONY: bench
bench: ## Run the translation and xDS server benchmarks.
	go test -run '^$$' -bench . -benchmem ./translate/... ./xds/...

.PHONY: update-golden
update-golden: ## Rewrite golden files in testdata/ from the current output; review the diff.
	go test $(GOLDEN_PKGS) -update

.PHONY: fmt
fmt: ## Format the Go code of both modules.
	go fmt ./...
	cd e2e && go fmt ./...

.PHONY: vet
vet: ## Run go vet on both modules.
	go vet ./...
	cd e2e && go vet ./...

.PHONY: tidy
tidy: ## Tidy go.mod and go.sum of both modules.
	go mod tidy
	cd e2e && go mod tidy
