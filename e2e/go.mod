module github.com/pilotlight/pilotlight/e2e

go 1.26.0
